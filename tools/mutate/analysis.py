"""The whole mutation analysis: every systematic mutant against every
generated suite on the model stack, and against the properties.

Per mutant, in worker processes (fork; each inherits the suites, the
reference runs and the spec's baseline verdicts, built once):

1. the mutant's endpoint machine (its composed system, Linux profile
   options) and a model stack running it;
2. each suite on that stack (``kill``): the first scenario that fails;
3. when no suite kills it: the lockstep search (``equivalence``) for a
   drivable walk that tells it apart; none means equivalent, with the
   reason; one found is replayed on the model stack to confirm it;
4. the properties (``catch``), configuration by configuration.

Results come back in mutant order, so the analysis is deterministic.
"""

from __future__ import annotations

import multiprocessing
import resource
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tcpcheck.model.endpoint import EndpointMachine
from tcpcheck.model.mutation import Mutant
from tcpcheck.model.properties import Property
from tcpcheck.model.spec import Spec
from tcpcheck.tools.generate import CRITERIA
from tcpcheck.tools.generate.paths import Explorer, scenario_of
from tcpcheck.tools.generate.wmethod import Mealy, machine
from tcpcheck.tools.mutate.catch import QUICK, Baseline, Catch, Configuration, baseline, catch
from tcpcheck.tools.mutate.equivalence import Lockstep, seen_as
from tcpcheck.tools.mutate.kill import Kill, kills
from tcpcheck.tools.mutate.suites import DEFAULT_EXTRA_STATES, Suites, build_suites
from tcpcheck.tools.runner.execute import execute
from tcpcheck.tools.runner.judge import name_matches
from tcpcheck.tools.runner.stacks.model import ModelStack

COMPLETE = ("w", "wp")  # the suites that must kill every non-equivalent mutant


@dataclass
class MutantResult:
    """Both measures for one mutant."""

    mutant: Mutant
    kills: dict[str, Kill | None]
    equivalent: bool = False
    reason: str = ""  # why it is equivalent, or what no suite takes
    witness: tuple[str, ...] = ()  # a distinguishing walk no suite killed it with (transition ids)
    caught: Catch | None = None
    configurations: tuple[str, ...] = ()  # the configurations checked for it
    seconds: float = 0.0

    @property
    def killed(self) -> bool:
        """Some suite kills it."""
        return any(self.kills.values())


@dataclass
class Analysis:
    """Every mutant's results and how they were obtained."""

    spec: str
    profile: str
    extra_states: int
    criteria: tuple[str, ...]
    scenarios: dict[str, int]  # criterion -> scenarios in its suite
    configurations: tuple[Configuration, ...]
    properties: tuple[str, ...]
    results: list[MutantResult]
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    peak_kib: int = 0
    jobs: int = 1
    shortcut: bool = True
    baseline_states: dict[str, int] = field(default_factory=dict)

    @property
    def non_equivalent(self) -> list[MutantResult]:
        """The mutants some drivable walk tells apart from the spec."""
        return [r for r in self.results if not r.equivalent]

    def score(self, criterion: str) -> tuple[int, int]:
        """(killed, non-equivalent) for ``criterion``."""
        live = self.non_equivalent
        return sum(1 for r in live if r.kills.get(criterion)), len(live)

    def neither(self) -> list[MutantResult]:
        """Mutants no suite kills and no property catches."""
        return [r for r in self.results if not r.killed and r.caught is None]


# -- the worker's world, built once in the parent and inherited by fork ----------

@dataclass
class _World:
    spec: Spec
    suites: Suites
    tester: Mealy
    original: EndpointMachine
    base: Baseline | None
    not_drivable: dict[str, str]
    every_scenario: bool


_WORLD: _World | None = None


def _analyse(mutant: Mutant) -> MutantResult:
    world = _WORLD
    assert world is not None
    t0 = time.process_time()
    spec = mutant.apply(world.spec)
    endpoint = EndpointMachine(spec, world.suites.options)
    stack = ModelStack(machine=endpoint, capture=False)
    result = MutantResult(mutant, kills(world.suites, mutant, stack, world.every_scenario))
    if not result.killed:
        walk = Lockstep(world.tester, world.original, endpoint).distinguishing_walk()
        if walk is None:
            result.equivalent = True
            result.reason = _why_equivalent(world, mutant, endpoint)
        else:
            result.witness = tuple(h.id for h in walk)
            scenario = scenario_of(world.suites.model, "distinguishing_walk", walk)
            replay = execute(stack, scenario, stack.profile())
            result.reason = ("a drivable walk tells it apart, but no generated suite takes it: "
                             + " ; ".join(result.witness)
                             + ("" if replay.verdict == "fail" else
                                " (yet its replay on the model stack passes: the lockstep search is wrong)"))
    if world.base is not None:
        prebuilt = {QUICK[0].name: endpoint.system} if world.base.configurations[:1] == QUICK[:1] else {}
        result.caught, checked = catch(world.base, spec, mutant.transition, prebuilt)
        result.configurations = tuple(checked)
    result.seconds = time.process_time() - t0
    return result


def _why_equivalent(world: _World, mutant: Mutant, endpoint: EndpointMachine) -> str:
    """Why no drivable walk tells ``mutant`` apart, in words."""
    tid = mutant.transition
    if tid in world.suites.model.disabled:
        return f"outside the suites' model: {world.suites.model.disabled[tid]}"
    if tid in world.not_drivable:
        return f"not drivable: {world.not_drivable[tid]}"
    where = _firing(world.original, tid)
    if mutant.operator == "change_send" and mutant.sends:
        old = next(t for t in world.spec.transitions if t.id == tid).sends
        changed = [(a, b) for a, b in zip(old, mutant.sends, strict=True) if a != b]
        if changed and name_matches(changed[0][0], seen_as(world.spec.segments[changed[0][1]].flags)):
            return (f"the runner cannot tell: its judge accepts {changed[0][1]} for an expected {changed[0][0]} "
                    "(a RST is judged by its sequence number, RFC 9293 §3.10.7.4)")
    if where is not None:
        local, kind, name = where
        outcome = endpoint.step(local, kind, name)
        taken = " + ".join(outcome.transitions) if outcome and outcome.transitions else "nothing"
        return (f"the same segments and states on every drivable walk: where it fired ({kind} {name} in "
                f"{world.original.state(local)}), the mutant takes {taken}")
    return "the same segments and states on every drivable walk"


def _firing(original: EndpointMachine, tid: str) -> tuple[tuple[int, ...], str, str] | None:
    """A reachable valuation and input of the spec's machine that fire ``tid``."""
    seen = {original.initial}
    todo = [original.initial]
    while todo:
        local = todo.pop(0)
        for kind, name in original.inputs():
            for outcome in original.outcomes(local, kind, name):
                if tid in outcome.transitions:
                    return local, kind, name
                if outcome.after not in seen:
                    seen.add(outcome.after)
                    todo.append(outcome.after)
    return None


def analyse(
    spec: Spec,
    mutants: Sequence[Mutant],
    properties: Sequence[Property] | None,
    criteria: tuple[str, ...] = CRITERIA,
    extra_states: int = DEFAULT_EXTRA_STATES,
    jobs: int = 1,
    every_scenario: bool = False,
    configurations: tuple[Configuration, ...] = QUICK,
    on_result: Callable[[int, MutantResult], None] | None = None,
) -> Analysis:
    """Run the analysis of ``mutants`` of ``spec`` (``properties`` None:
    suites only) with ``jobs`` worker processes."""
    global _WORLD
    start, cpu0 = time.perf_counter(), time.process_time()
    suites = build_suites(spec, criteria, extra_states)
    explorer = Explorer(suites.model)
    tester = machine(suites.model, explorer)
    original = EndpointMachine(spec, suites.options)
    base = baseline(spec, tuple(properties), configurations) if properties is not None else None
    _WORLD = _World(spec, suites, tester, original, base, explorer.not_drivable(), every_scenario)
    results: list[MutantResult] = []
    try:
        if jobs <= 1:
            for n, mutant in enumerate(mutants, start=1):
                results.append(_analyse(mutant))
                if on_result:
                    on_result(n, results[-1])
        else:
            context = multiprocessing.get_context("fork")
            with context.Pool(jobs) as pool:
                for n, result in enumerate(pool.imap(_analyse, mutants, chunksize=4), start=1):
                    results.append(result)
                    if on_result:
                        on_result(n, result)
    finally:
        _WORLD = None
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return Analysis(
        spec=spec.path,
        profile=suites.model.profile_name,
        extra_states=extra_states,
        criteria=tuple(criteria),
        scenarios={c: len(refs) for c, refs in suites.by_criterion.items()},
        configurations=configurations if properties is not None else (),
        properties=tuple(p.name for p in properties or ()),
        results=results,
        seconds=time.perf_counter() - start,
        cpu_seconds=time.process_time() - cpu0 + children.ru_utime + children.ru_stime,
        peak_kib=max(own.ru_maxrss, children.ru_maxrss),
        jobs=jobs,
        shortcut=not every_scenario,
        baseline_states=dict(base.states) if base else {},
    )


def summary(analysis: Analysis) -> dict[str, Any]:
    """The numbers: mutants, equivalent ones, score per criterion, catches."""
    results = analysis.results
    live = analysis.non_equivalent
    ops: dict[str, int] = {}
    for r in results:
        ops[r.mutant.operator] = ops.get(r.mutant.operator, 0) + 1
    caught_live = sum(1 for r in live if r.caught)
    by_conf: dict[str, int] = {}
    for r in results:
        if r.caught:
            by_conf[r.caught.configuration] = by_conf.get(r.caught.configuration, 0) + 1
    return {
        "mutants": len(results),
        "by_operator": ops,
        "equivalent": len(results) - len(live),
        "non_equivalent": len(live),
        "scores": {c: {"killed": analysis.score(c)[0], "of": analysis.score(c)[1],
                       "score": round(analysis.score(c)[0] / analysis.score(c)[1], 4) if analysis.score(c)[1] else 1.0}
                   for c in analysis.criteria},
        "caught_by_properties": sum(1 for r in results if r.caught),
        "caught_non_equivalent": caught_live,
        "caught_by_configuration": by_conf,
        "killed_and_caught": sum(1 for r in live if r.killed and r.caught),
        "killed_not_caught": sum(1 for r in live if r.killed and not r.caught),
        "caught_not_killed": sum(1 for r in results if r.caught and not r.killed),
        "neither": len(analysis.neither()),
        "complete_suites_kill_all": all(analysis.score(c)[0] == analysis.score(c)[1]
                                        for c in COMPLETE if c in analysis.criteria),
    }
