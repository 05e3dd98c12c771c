"""Does some property tell a mutant from the spec? The checker's measure.

A mutant is *caught* in a configuration when some property's verdict on
it differs from the spec's own verdict there (what ``tcpcheck verify
--spec MUTANT`` reports as a verdict against its expectation, when the spec
itself meets every expectation). The configurations are the ways the tool
is shipped to be run (``CONFIGURATIONS``), tried cheapest first until one
catches. A configuration is skipped for a mutant whose transition never
fires in the spec's own state space there: the mutant's state space is then
the spec's, so nothing can differ.

The explicit engine decides; its successor function is the spec's,
compiled once, with the results of the few commands the mutant changed
replaced by those commands compiled on their own: one state at a time for
the small spaces (``model.family.derived_successors``), over packed states
for the others (``model.family.derived_vector_successors``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field

from tcpcheck.model import gcl
from tcpcheck.model.compose import ModelOptions, build_system
from tcpcheck.model.coverage import fired
from tcpcheck.model.explicit import StateSpace, Successors, check, compile_successors, explore
from tcpcheck.model.family import derived_successors, derived_vector_successors
from tcpcheck.model.properties import Property, load_property_file
from tcpcheck.model.spec import Spec
from tcpcheck.model.temporal import add_monitors
from tcpcheck.model.vectorized import VectorSuccessors

# Up to about this many states, numpy's cost per call (per layer and group
# of commands) exceeds what it saves, and the one-state function is faster
# (bench/mutant_system_bench.py: the packed search takes 1.17x the one-state
# search's time at 3k states, 0.98x at 5k, 0.38x at 15k, 0.34x at 27k).
_ONE_STATE_UP_TO = 5_000


@dataclass(frozen=True)
class Configuration:
    """A named way to run ``tcpcheck verify``."""

    name: str
    command: str  # the verify flags, for people
    options: ModelOptions
    # checked only for a mutant whose transition fires in none of the
    # configurations before it: the costly one that reaches what the cheap
    # ones cannot, paid only where it is the only one that can tell
    last_resort: bool = False


# the Linux profile's machine, its options as specs/profiles/linux.toml declares them
_LINUX = load_property_file().configuration("linux")

# Cheapest first. The first is the model stack's own system (the Linux
# profile's options), built once per mutant for both measures. The quick
# set is what the 2-minute analysis affords; the full set adds the
# configurations whose state spaces are 4 to 16 times larger.
_CHEAP = (
    Configuration("linux profile", _LINUX.flags(), _LINUX.model_options()),
    Configuration("default", "", ModelOptions()),
    Configuration("loss, K=1", "--loss -k 1", ModelOptions(bound=1, loss=True)),
    # where a SYN reaches TIME_WAIT (the implementation's reopening) and the
    # orphan FIN_WAIT_2 timeout fires under the RFC's Note 3
    Configuration("implementation, loss, K=1", "--option implementation=on --loss -k 1",
                  ModelOptions(bound=1, loss=True, spec_options={"implementation": True})),
)
# the cheapest where a listener meets an ACK (a RST overtaken by it): the
# one transition that fires in none of the above
_REORDER = Configuration("reorder, K=2", "--reorder -k 2", ModelOptions(bound=2, reorder=True))
QUICK = (*_CHEAP, dataclasses.replace(_REORDER, last_resort=True))
FULL = (
    *QUICK[:-1],
    _REORDER,
    Configuration("rfc1337", "--option rfc1337=on", ModelOptions(spec_options={"rfc1337": True})),
    Configuration("duplicate, K=2", "--duplicate -k 2", ModelOptions(bound=2, duplicate=True)),
    Configuration("loss, K=2", "--loss -k 2", ModelOptions(bound=2, loss=True)),
)
CONFIGURATIONS = {"quick": QUICK, "full": FULL}


@dataclass(frozen=True)
class Catch:
    """The property and configuration that told a mutant from the spec."""

    property: str
    configuration: str
    verdict: str  # the mutant's verdict (the spec's is the other one)


@dataclass
class Baseline:
    """The spec's own verdicts and fired transitions, per configuration."""

    properties: tuple[Property, ...]
    configurations: tuple[Configuration, ...]
    verdicts: dict[str, dict[str, str]] = field(default_factory=dict)  # configuration -> property -> verdict
    fired: dict[str, frozenset[str]] = field(default_factory=dict)  # configuration -> transition ids
    states: dict[str, int] = field(default_factory=dict)
    # the spec's, with its successors compiled for one state and over packed states
    systems: dict[str, tuple[gcl.System, Successors, VectorSuccessors]] = field(default_factory=dict)


def baseline(spec: Spec, properties: tuple[Property, ...],
             configurations: tuple[Configuration, ...] = QUICK) -> Baseline:
    """Explore the spec in every configuration once."""
    out = Baseline(properties, configurations)
    for conf in configurations:
        system = build_system(spec, conf.options, properties)
        space = explore(system)
        out.verdicts[conf.name] = {p.name: check(space, p).verdict for p in properties}
        out.fired[conf.name] = fired(space)
        out.states[conf.name] = space.count
        out.systems[conf.name] = (system, compile_successors(system), space.vector_successors())
    return out


def _lazily(make: Callable[[], Successors | None]) -> Successors:
    """A one-state successor function built on its first call: the search
    runs on packed states, and only a counterexample replays single states."""
    built: list[Successors] = []

    def successors(state: tuple[int, ...]) -> list[tuple[int, tuple[int, ...]]]:
        if not built:
            fn = make()
            if fn is None:
                raise ValueError("the mutant's system does not line up with the spec's")
            built.append(fn)
        return built[0](state)

    return successors


def _explore_mutant(base: Baseline, configuration: str, system: gcl.System) -> StateSpace:
    """The mutant's state space, from the spec's compiled successors where the two line up.
    The edges are kept as found: a recoverable property would otherwise recompute every successor."""
    original, one, many = base.systems[configuration]
    if original.vars != system.vars or original.init != system.init:
        return explore(system, record_edges=True)
    if base.states[configuration] <= _ONE_STATE_UP_TO:
        return explore(system, record_edges=True, successors=derived_successors(original, one, system))
    return explore(system, record_edges=True,
                   vector_successors=lambda layout: derived_vector_successors(original, many, system, layout),
                   successors=_lazily(lambda: derived_successors(original, one, system)))


def _likely_first(properties: tuple[Property, ...], transition: str) -> list[Property]:
    """``properties``, those that name the mutated transition's source state
    first (each group in file order): they are the likeliest to tell, and
    the first that tells ends the search. The order depends only on the
    transition, so which property is reported is deterministic."""
    source = transition.split("--", 1)[0]
    return sorted(properties, key=lambda p: source not in set(p.tree.names()))


def catch(base: Baseline, mutant: Spec, transition: str,
          prebuilt: dict[str, gcl.System] | None = None) -> tuple[Catch | None, list[str]]:
    """The first configuration, and in it the first property (in
    ``_likely_first``'s order), that tell ``mutant`` (an edit of
    ``transition``) from the spec, and the configurations actually checked
    (the others cannot differ). ``prebuilt``: systems of the mutant already
    built with that configuration's options, with or without the
    properties' monitors, by configuration name."""
    checked: list[str] = []
    order = _likely_first(base.properties, transition)  # the same in every configuration
    for k, conf in enumerate(base.configurations):
        if transition not in base.fired[conf.name]:
            continue
        if conf.last_resort and any(transition in base.fired[c.name] for c in base.configurations[:k]):
            continue
        checked.append(conf.name)
        system = (prebuilt or {}).get(conf.name)
        if system is not None and system.options != conf.options.as_dict(mutant):
            system = None
        if system is not None and not system.monitors:
            # built for the suites, without the properties' past-time
            # monitors; build_system would end with this very call
            system = add_monitors(system, base.properties)
        if system is None or set(system.monitors) != set(base.systems[conf.name][0].monitors):
            system = build_system(mutant, conf.options, base.properties)
        space = _explore_mutant(base, conf.name, system)
        for prop in order:
            verdict = check(space, prop).verdict
            if verdict != base.verdicts[conf.name][prop.name]:
                return Catch(prop.name, conf.name, verdict), checked
    return None, checked
