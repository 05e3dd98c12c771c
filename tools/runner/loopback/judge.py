"""Checking an observed loopback run against the model. Pure: no I/O.

Three checks, each from the spec (``specs/tcp.toml``), the stack's profile
(``specs/profiles/linux.toml``) and the properties (``specs/properties.toml``):

1. **Each endpoint's path** (its state events in order) is a path of the
   spec's endpoint machine under the profile's options: every step is a
   transition (or, for a state seen by sampling, a reachable state).
2. **The run is a behaviour of the composed model** (``model.compose``):
   a search over the guarded commands along the observed events. A call
   must be taken by a command of that endpoint realising it (or by none,
   when the model has nothing for it: the call does nothing); a delivery
   by the receiver's command for that segment at the head of its channel;
   a state change and a segment sent must be the effects, in order, of the
   endpoint's last command (or of a timer of the model). A documented
   deviation with ``instead`` is a command too, taken only where its scope
   (calls made, settings, what provokes it) holds. A run the model cannot
   explain fails, naming the first event no branch of the search matched.
3. **The pair properties** of ``specs/properties.toml``, through the
   model's own evaluator: every invariant must hold on every state of the
   explanation; reachability properties the run witnesses are listed.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from tcpcheck.model import gcl
from tcpcheck.model.compose import MAX_BOUND, ModelOptions, build_system, wire_alphabet
from tcpcheck.model.errors import InputError
from tcpcheck.model.properties import Property, load_properties
from tcpcheck.model.spec import Spec, Transition, transition_id
from tcpcheck.tools.runner.loopback.observed import Event, ObservedRun
from tcpcheck.tools.runner.profile import Deviation, Profile

SIDES = ("A", "B")
DEFAULT_BOUND = 3
RST_CARRIES_ACK = "rst_on_abort_carries_ack"
ACK_BEFORE_FIN = "ack_processed_before_fin"


# ------------------------------------------------------------- the model ---


def augmented(spec: Spec, profile: Profile | None, sysctls: dict[str, str]) -> tuple[Spec, dict[str, list[Deviation]]]:
    """The spec with one transition per documented ``instead`` of the
    profile (whose settings hold under ``sysctls``), and which entries each
    such transition stands for, by transition id."""
    if profile is None:
        return spec, {}
    extra: list[Transition] = []
    variants: dict[str, list[Deviation]] = {}
    by_id = {t.id: t for t in spec.transitions}
    for d in profile.deviations:
        if d.kind != "differs" or not d.instead_to or not d.applies(sysctls, profile.model_options(spec.options)):
            continue
        base = by_id.get(d.transition)
        if base is None:
            raise InputError(profile.path, f"[[deviation]] {d.id}: unknown transition {d.transition!r}")
        if d.instead_to not in spec.state_names:
            raise InputError(profile.path, f"[[deviation]] {d.id}: instead.to {d.instead_to!r} is not a state")
        bad = [s for s in d.instead_sends if s not in spec.segments]
        if bad:
            raise InputError(profile.path, f"[[deviation]] {d.id}: instead.sends {bad[0]!r} is not a segment")
        # the entry's precondition in the model's terms guards its transition
        when = base.when if not d.when else d.when if base.when is None else f"({base.when}) and ({d.when})"
        option = f"deviation {d.id}"
        tid = transition_id(base.source, base.event, d.instead_to, when, option)
        if tid not in variants:
            extra.append(Transition(len(spec.transitions) + len(extra), base.source, base.event, d.instead_to,
                                    d.instead_sends, "implementation", d.reference, when, option,
                                    note=d.note))
        variants.setdefault(tid, []).append(d)
    if not extra:
        return spec, variants
    options = {**spec.options, **{t.option: True for t in extra if t.option}}
    return dataclasses.replace(spec, transitions=spec.transitions + tuple(extra), options=options), variants


@dataclass
class PairModel:
    """The composed model a run is checked against, with its indexes."""

    spec: Spec
    profile: Profile | None
    system: gcl.System
    variants: dict[str, list[Deviation]]
    transitions: dict[str, Transition]
    by_call: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    by_rcv: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    by_timer: dict[str, list[int]] = field(default_factory=dict)
    edges: set[tuple[str, str]] = field(default_factory=set)
    _predicates: dict[tuple[str, str], list[tuple[str, Any]]] = field(default_factory=dict)
    alphabet: dict[str, Any] = field(default_factory=dict)  # the wire segments by name
    _commands: dict[int, Any] = field(default_factory=dict)
    _graph: Any = None

    def command(self, cmd: int) -> Any:
        """The command as a Python function: state -> next state, or None
        when its guard is false (compiled on first use, like the explicit
        engine compiles all of them)."""
        fn = self._commands.get(cmd)
        if fn is None:
            c = self.system.commands[cmd]
            new = dict(c.updates)
            values = ", ".join(gcl.to_python(new[v]) if v in new else f"s[{v}]" for v in range(len(self.system.vars)))
            namespace: dict[str, Any] = {}
            exec(f"def step(s):\n    return ({values},) if {gcl.to_python(c.guard)} else None", namespace)  # noqa: S102
            fn = self._commands[cmd] = namespace["step"]
        return fn

    def predicates(self, prop: Property) -> list[tuple[str, Any]]:
        """(instance label, compiled predicate) of a property, by the model's
        own compiler (``model.explicit.compile_predicate``), made once."""
        from tcpcheck.model.explicit import compile_predicate

        key = (prop.path, prop.name)
        if key not in self._predicates:
            self._predicates[key] = [(label, compile_predicate(expr)) for label, expr in prop.instances(self.system)]
        return self._predicates[key]

    def graph(self) -> Any:
        """The endpoint machine's states and edges (a networkx DiGraph, made once)."""
        if self._graph is None:
            import networkx as nx

            self._graph = nx.DiGraph(sorted(self.edges))
            self._graph.add_nodes_from(self.spec.state_names)
        return self._graph

    def state_of(self, state: tuple[int, ...], side: str) -> str:
        """The side's RFC state in a global state."""
        var = self.system.endpoints[side]["state"]
        return self.system.vars[var].values[state[var]]

    def show(self, state: tuple[int, ...]) -> str:
        """``A ESTABLISHED, B FIN_WAIT_1, AB [FIN], BA []``."""
        shown = self.system.show(state)
        return ", ".join(f"{k} {v}" if isinstance(v, str) else f"{k} [{' '.join(v)}]"  # type: ignore[arg-type]
                         for k, v in shown.items())


_MODELS: dict[tuple[int, int, tuple[tuple[str, str], ...], int], tuple[Spec, Profile | None, PairModel]] = {}


def _pair_model(spec: Spec, profile: Profile | None, sysctls: dict[str, str], bound: int) -> PairModel:
    aug, variants = augmented(spec, profile, sysctls)
    spec_options = {**(profile.options if profile else {}), **{t.option: True for t in aug.transitions
                                                               if t.option and t.option.startswith("deviation ")}}
    # With the embedded properties: their past-time and step monitors are
    # variables of the system, which the run's states must carry.
    system = build_system(aug, ModelOptions(bound=bound, spec_options=spec_options), default_properties())
    enabled = aug.enabled({**aug.options, **spec_options})
    model = PairModel(aug, profile, system, variants, {t.id: t for t in aug.transitions})
    model.alphabet = dict(wire_alphabet(aug))
    for n, c in enumerate(system.commands):
        a = c.action
        if a.kind == "call":
            for op in aug.events[a.event].socket:
                model.by_call.setdefault((a.actor, op), []).append(n)
        elif a.kind in ("rcv", "ignore"):
            model.by_rcv.setdefault((a.actor, a.received), []).append(n)
        elif a.kind == "timer":
            model.by_timer.setdefault(a.actor, []).append(n)
    model.edges = {(t.source, t.target) for t in enabled}
    return model


def pair_model(spec: Spec, profile: Profile | None, sysctls: dict[str, str], bound: int = DEFAULT_BOUND) -> PairModel:
    """The composed model for a profile, settings and channel bound
    (cached: building it takes a good part of a second)."""
    relevant = tuple(sorted((k, v) for k, v in sysctls.items() if profile is not None and any(
        k.endswith(c) for d in profile.deviations for c in d.condition)))
    key = (id(spec), id(profile), relevant, bound)
    if key not in _MODELS:  # the spec and profile are kept with it, so their ids stay theirs
        _MODELS[key] = (spec, profile, _pair_model(spec, profile, dict(relevant), bound))
    return _MODELS[key][2]


# ------------------------------------------------------------- the paths ---


@dataclass
class PathCheck:
    """One endpoint's observed path against the endpoint machine."""

    side: str
    states: list[str]
    ok: bool = True
    problem: str = ""

    def text(self) -> str:
        """``CLOSED -> SYN_SENT -> ESTABLISHED``."""
        return " -> ".join(self.states)


def check_path(model: PairModel, run: ObservedRun, side: str) -> PathCheck:
    """Every step of ``side``'s path is a transition of the endpoint machine
    (a sampled step: a path of it)."""
    import networkx as nx

    result = PathCheck(side, ["CLOSED"])
    graph = model.graph()
    for n, e in enumerate(run.events):
        if e.kind != "state" or e.side != side:
            continue
        current = result.states[-1]
        result.states.append(e.new)
        if not result.ok:
            continue
        if e.old != current:
            result.ok, result.problem = False, f"event #{n} {e.text()}: the path was in {current}, not {e.old}"
        elif e.source == "sample":
            if not nx.has_path(graph, e.old, e.new):
                result.ok, result.problem = False, f"event #{n} {e.text()}: no path of the machine leads there"
        elif (e.old, e.new) not in model.edges:
            result.ok, result.problem = False, (f"event #{n} {e.text()}: no transition {e.old} -> {e.new} in the "
                                                "machine under the profile")
    return result


# ---------------------------------------------------------- the search ---

Pending = tuple[tuple[str, ...], tuple[str, ...]]  # states still to be seen, segments still to be sent
Node = tuple[tuple[int, ...], int, tuple[Pending, Pending]]
EMPTY: Pending = ((), ())


@dataclass(frozen=True)
class Explained:
    """One step of the explanation: the command taken at an event."""

    event: int  # index into the run's events (for a timer: of its first effect)
    command: str
    actor: str
    transitions: tuple[str, ...]
    state: tuple[int, ...]  # the global state after it
    deviations: tuple[str, ...] = ()


@dataclass
class ModelCheck:
    """Whether (and how) the composed model explains the run."""

    explained: bool
    problem: str = ""
    unmatched: int = -1  # the first event no branch matched (or len(events) for a missing effect)
    steps: list[Explained] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # profile notes the explanation relied on
    deviations: list[str] = field(default_factory=list)


def compatible(model_wire: str, observed: str, profile: Profile | None) -> str | None:
    """'' when the observed segment is the model's, the note id that makes
    it so, or None. A RST in a synchronized state is judged by its sequence
    number alone (RFC 9293 §3.10.7.4): Linux's RST+ACK is the model's RST
    when the profile documents it."""
    if model_wire == observed:
        return ""
    if model_wire == "RST" and observed == "RST_ACK" and profile is not None and profile.entry(RST_CARRIES_ACK):
        return RST_CARRIES_ACK
    return None


def _observable(model: PairModel, source: str, chain: tuple[str, ...], received: str) -> list[tuple[str, ...]]:
    """The state sequences a command's chain may show on the trace: its
    targets (self-loops show nothing); and, when the profile documents that
    the ACK of a segment is processed before its FIN, the state between."""
    targets: list[str] = []
    here = source
    for tid in chain:
        t = model.transitions[tid]
        if t.target != here:
            targets.append(t.target)
        here = t.target
    out = [tuple(targets)]
    profile = model.profile
    if profile is not None and profile.entry(ACK_BEFORE_FIN) and len(chain) == 1 and received:
        t = model.transitions[chain[0]]
        wire = model.alphabet.get(received)
        if wire is not None and "FIN" in wire.flags and wire.acks_fin:
            acks = [e.name for e in model.spec.events.values() if e.kind == "rcv" and e.flags == {"ACK"}
                    and e.acks == "fin"]
            fins = [e.name for e in model.spec.events.values() if e.kind == "rcv" and e.flags == wire.flags
                    and e.acks == "none"]
            for a in (x for x in model.transitions.values() if x.source == source and x.event in acks):
                if any(x.source == a.target and x.event in fins and x.target == t.target
                       for x in model.transitions.values()):
                    out.append((a.target, t.target))
    return out


def _fits(d: Deviation, event: int, actor: str, run: ObservedRun, sysctls: dict[str, str]) -> bool:
    """The entry's scope holds for ``actor`` at ``event``: settings, the
    calls it made (and did not make) before, and what provokes it."""
    calls = [e.op for e in run.events[:event] if e.kind == "call" and e.side == actor]
    # What the peer sent it, named as a TUN scenario's injects are (data is DATA).
    delivered = [run.segments[e.segment] for e in run.events[:event] if e.kind == "deliver" and e.side == actor]
    injects = tuple(n for seg in delivered for n in ((seg.wire,) if seg.wire else ()) + (("DATA",) if seg.length
                                                                                          else ()))
    if not d.applies(sysctls) or not d.in_context(tuple(calls), injects):
        return False
    if d.provoke == "unread_data":
        data = [n for n, e in enumerate(run.events[:event]) if e.kind == "deliver" and e.side == actor
                and run.segments[e.segment].length > 0]
        read = [n for n, e in enumerate(run.events[:event]) if e.kind == "call" and e.side == actor and e.op == "recv"]
        return bool(data) and not any(r > data[-1] for r in read)
    return not d.provoke


def explain(model: PairModel, run: ObservedRun, sysctls: dict[str, str] | None = None) -> ModelCheck:
    """Search the composed model along the run's events (module docstring)."""
    settings = sysctls or {}
    system = model.system
    events = [e for e in run.events if e.kind in ("call", "state")
              or run.segments[e.segment].wire]  # segments the model has no name for are outside it
    index_of = {id(e): n for n, e in enumerate(run.events)}
    start: Node = (system.init, 0, (EMPTY, EMPTY))
    parent: dict[Node, tuple[Node | None, Explained | None, str]] = {start: (None, None, "")}
    queue = deque([start])
    furthest = 0
    stuck_at: list[Node] = []
    done: Node | None = None
    side_no = {"A": 0, "B": 1}

    def push(node: Node, origin: Node, how: Explained | None, note: str = "") -> None:
        if node not in parent:
            parent[node] = (origin, how, note)
            queue.append(node)

    def pend(p: tuple[Pending, Pending], side: str, value: Pending) -> tuple[Pending, Pending]:
        return (value, p[1]) if side == "A" else (p[0], value)

    def take(node: Node, cmd: int, event: int, actor: str, consume: bool = True) -> None:
        state, i, p = node
        c = system.commands[cmd]
        after = model.command(cmd)(state)
        if after is None:
            return
        devs: tuple[str, ...] = ()
        for tid in c.action.transitions:
            if tid in model.variants:
                fit = [d.id for d in model.variants[tid] if _fits(d, event, actor, run, settings)]
                if not fit:
                    return  # a documented deviation, but not in this context
                devs += tuple(fit)
        how = Explained(event, c.action.describe(), actor, c.action.transitions, after, devs)
        shown = _observable(model, model.state_of(state, actor), c.action.transitions, c.action.received)
        for k, states in enumerate(shown):
            push((after, i + 1 if consume else i, pend(p, actor, (states, c.action.sends))), node, how,
                 ACK_BEFORE_FIN if k else "")

    while queue:
        node = queue.popleft()
        state, i, p = node
        if i > furthest:
            furthest, stuck_at = i, []
        if i == furthest:
            stuck_at.append(node)
        if i == len(events):
            if p == (EMPTY, EMPTY):
                done = node
                break
            continue
        e = events[i]
        n = index_of[id(e)]
        mine = p[side_no[e.side]]
        if e.kind == "state":
            states, sends = mine
            if states and (states[0] == e.new if e.source != "sample" else states[-1] == e.new):
                rest = states[1:] if e.source != "sample" else ()
                push((state, i + 1, pend(p, e.side, (rest, sends))), node, None)
            elif not states and not sends:
                for cmd in model.by_timer.get(e.side, []):
                    take(node, cmd, n, e.side, consume=False)  # a timer: its effects are the events to come
        elif e.kind == "send":
            states, sends = mine
            if sends:
                note = compatible(sends[0], run.segments[e.segment].wire, model.profile)
                if note is not None:
                    push((state, i + 1, pend(p, e.side, (states, sends[1:]))), node, None, note)
        elif mine == EMPTY:  # a call or a delivery: the endpoint has finished its last step
            if e.kind == "call":
                cmds = [c for c in model.by_call.get((e.side, e.op), []) if model.command(c)(state) is not None]
                for cmd in cmds:
                    take(node, cmd, n, e.side)
                if not cmds:
                    push((state, i + 1, p), node, Explained(n, f"{e.side}: call {e.op} (nothing in the model)",
                                                            e.side, (), state))
            else:
                observed = run.segments[e.segment].wire
                for wire in (observed, "RST") if observed == "RST_ACK" else (observed,):
                    note = compatible(wire, observed, model.profile)
                    if note is None:
                        continue
                    for cmd in model.by_rcv.get((e.side, wire), []):
                        take(node, cmd, n, e.side)
    if done is None:
        return ModelCheck(False, _problem(model, run, events, index_of, furthest, stuck_at),
                          index_of[id(events[furthest])] if furthest < len(events) else len(run.events))
    steps: list[Explained] = []
    notes: list[str] = []
    node_or_none: Node | None = done
    while node_or_none is not None:
        origin, how, note = parent[node_or_none]
        if how is not None:
            steps.append(how)
        if note:
            notes.append(note)
        node_or_none = origin
    steps.reverse()
    for e in run.events:  # what the observation of the run relied on
        if e.kind == "state" and e.detail:
            notes.append(e.detail if e.source == "sock_diag" else e.detail.rsplit(": ", 1)[-1])
    deviations = list(dict.fromkeys(d for s in steps for d in s.deviations))
    return ModelCheck(True, steps=steps, notes=list(dict.fromkeys(notes)), deviations=deviations)


def _problem(model: PairModel, run: ObservedRun, events: list[Event], index_of: dict[int, int], furthest: int,
             stuck: list[Node]) -> str:
    if furthest < len(events):
        e = events[furthest]
        head = f"event #{index_of[id(e)]} ({e.text(run.segments)}) is not a behaviour of the composed model"
    else:
        head = "every event matched, but the model expects more"
    where = []
    for state, _, p in stuck[:3]:
        owed = []
        for side, (states, sends) in zip(SIDES, p, strict=True):
            if states:
                owed.append(f"{side} to enter {' then '.join(states)}")
            if sends:
                owed.append(f"{side} to send {', '.join(sends)}")
        where.append(model.show(state) + (f"; it waits for {' and '.join(owed)}" if owed else ""))
    return head + ": the model was in " + " | ".join(dict.fromkeys(where))


# ------------------------------------------------------------ properties ---


@dataclass
class PropertyCheck:
    """One property evaluated on the states of the explanation."""

    name: str
    kind: str
    expect: str
    states: int  # global states it was evaluated on
    verdict: str  # holds, violated, witnessed, not witnessed, skipped
    where: str = ""  # the first state that decided it

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return dataclasses.asdict(self)


def check_properties(model: PairModel, check: ModelCheck, properties: list[Property]) -> list[PropertyCheck]:
    """Invariants on every state of the explanation; reachability witnessed
    or not; recoverable ones are not decided by one run (skipped)."""
    system = model.system
    states = [system.init] + [s.state for s in check.steps]
    out = []
    for prop in properties:
        skipped = prop.skipped_by(system.options)
        # X.can(...) speaks of every step the model allows from a state; the
        # judge's model also allows the profile's documented deviations, so
        # it would flag a deviation merely for being possible. One run decides
        # what happened, not what could have.
        about_steps = ".can(" in prop.expr
        if skipped or prop.kind == "recoverable" or about_steps:
            why = (f"does not apply with {skipped}" if skipped else "AG EF: not decided by one run"
                   if prop.kind == "recoverable" else "about the steps the model allows: not decided by one run")
            out.append(PropertyCheck(prop.name, prop.kind, prop.expect, 0, "skipped", why))
            continue
        instances = model.predicates(prop)
        if prop.kind == "invariant":
            verdict, where = "holds", ""
            for n, s in enumerate(states):
                bad = next((label for label, holds in instances if not holds(s)), None)
                if bad is not None:
                    step = check.steps[n - 1] if n else None
                    verdict = "violated"
                    where = (f"{'for ' + bad + ' ' if bad else ''}after event #{step.event} ({step.command})"
                             if step else "in the initial state") + f": {model.show(s)}"
                    break
            out.append(PropertyCheck(prop.name, prop.kind, prop.expect, len(states), verdict, where))
        else:
            hit = next((n for n, s in enumerate(states) if any(holds(s) for _, holds in instances)), None)
            out.append(PropertyCheck(prop.name, prop.kind, prop.expect, len(states),
                                     "witnessed" if hit is not None else "not witnessed",
                                     model.show(states[hit]) if hit is not None else ""))
    return out


# --------------------------------------------------------------- together ---


@dataclass
class PairCheck:
    """Everything the judge says about one run."""

    paths: dict[str, PathCheck]
    model: ModelCheck
    properties: list[PropertyCheck]
    verdict: str  # pass, deviation, fail
    problems: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "verdict": self.verdict,
            "problems": list(self.problems),
            "paths": {s: {"states": p.states, "ok": p.ok, "problem": p.problem} for s, p in self.paths.items()},
            "model": {
                "explained": self.model.explained,
                "problem": self.model.problem,
                "unmatched": self.model.unmatched,
                "deviations": self.model.deviations,
                "notes": self.model.notes,
                "steps": [{"event": s.event, "command": s.command, "transitions": list(s.transitions),
                           "deviations": list(s.deviations)} for s in self.model.steps],
            },
            "properties": [p.to_json() for p in self.properties],
        }


def bound_for(run: ObservedRun) -> int:
    """The smallest channel bound (at least the default) that holds every
    segment the run had in flight at once."""
    worst = 0
    flight = {"A": 0, "B": 0}
    for e in run.events:
        if e.kind in ("send", "deliver") and run.segments[e.segment].wire:
            sender = run.segments[e.segment].sender
            flight[sender] += 1 if e.kind == "send" else -1
            worst = max(worst, flight[sender])
    return min(MAX_BOUND, max(DEFAULT_BOUND, worst))


@cache
def default_properties() -> list[Property]:
    """The embedded ``specs/properties.toml``."""
    return load_properties()


def check_run(spec: Spec, profile: Profile | None, run: ObservedRun, sysctls: dict[str, str] | None = None,
              properties: list[Property] | None = None) -> PairCheck:
    """The three checks of the module docstring, and a verdict."""
    settings = sysctls or {}
    model = pair_model(spec, profile, settings, bound_for(run))
    paths = {side: check_path(model, run, side) for side in SIDES}
    mcheck = explain(model, run, settings)
    props = check_properties(model, mcheck, properties if properties is not None else default_properties()) \
        if mcheck.explained else []
    problems = [f"{p.side}'s path {p.text()}: {p.problem}" for p in paths.values() if not p.ok]
    if not mcheck.explained:
        problems.append(mcheck.problem)
    for p in props:
        if p.kind == "invariant" and p.expect == "holds" and p.verdict == "violated":
            problems.append(f"property {p.name} is violated {p.where}")
    verdict = "fail" if problems else "deviation" if mcheck.deviations else "pass"
    return PairCheck(paths, mcheck, props, verdict, problems)
