"""Drivability: what the tester can do to take each edge from the stack's outside.

A user call becomes a socket call, a received segment an injected packet, a
sent segment an expected packet, a timer an elapse step. Whether a call can
be made depends on what the application holds (a listener, a descriptor on
the connection, nothing after ``close()``), which is the sockets API, not
TCP; so each edge is taken in a *context*, and an edge that no reachable
context can drive is reported with the reason, never dropped silently.

A stack profile (``specs/profiles/<name>.toml``) adjusts this: the model
options the stack matches, and the transitions it cannot be driven through.
Nothing about TCP itself is written here: states, events, segments and
transitions all come from the spec.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from tcpcheck.model.compose import wire_alphabet
from tcpcheck.model.errors import InputError
from tcpcheck.model.expr import Binary, Name, Node, Unary, parse
from tcpcheck.model.graph import endpoint_graph
from tcpcheck.model.spec import Spec, Transition
from tcpcheck.tools.runner.profile import Profile, load_profile, profile_path
from tcpcheck.tools.scenario import CALLS, SEGMENTS, TIMERS, Call, Elapse, Expect, ExpectState, Inject, Step

# A timer the runner can only wait out (Linux TIME_WAIT is a fixed 60 s)
# makes its scenario slow; shorter bounds are shortened timers.
SLOW_TIMER_SECONDS = 10.0
# Per-namespace settings that shorten a model timer on Linux (runner's
# timer controls): an orphan in FIN_WAIT_2 waits tcp_fin_timeout seconds.
TIMER_SYSCTLS: dict[str, dict[str, str]] = {"timeout_fin_wait_2": {"tcp_fin_timeout": "1"}}

# What the application holds, as the sockets API sees it.
FD_NONE = "none"  # nothing yet (or nothing left)
FD_LISTENER = "listener"  # a listening socket; the connection, if any, is not accepted
FD_CONN = "conn"  # a descriptor on the connection
FD_ORPHAN = "orphan"  # close() released the descriptor; the kernel owns the connection
GUARD = "its guard"  # how a reason about a spec guard starts (the model, not the stack, forbids the edge)


@dataclass(frozen=True, order=True)
class Context:
    """What a walk has done so far that decides which edges it can take.

    ``history``: the guard history variables (``specs/tcp.toml`` ``when``)
    that hold; ``fd``: what the application holds; ``listener``: a
    listening socket is still open (a SYN can open a connection on it).
    """

    history: frozenset[str] = frozenset()
    fd: str = FD_NONE
    listener: bool = False


@dataclass(frozen=True)
class Realised:
    """One way to take an edge in a context: the steps and the context after."""

    steps: tuple[Step, ...]
    after: Context
    glue: int = 0  # steps that realise the sockets API, not the transition (accept)
    terminal: bool = False  # the scenario must end after this edge
    call: str = ""  # the socket call that realised a call event


@dataclass(frozen=True)
class Edge:
    """A transition of the model with its drive: trigger and expectations."""

    transition: Transition
    kind: str  # call, rcv, timer
    trigger: str  # socket calls (comma-separated choices), segment or timer name
    expects: tuple[str, ...]  # segments the stack must send (NONE: nothing)
    sysctls: dict[str, str] = field(default_factory=dict)
    slow: bool = False

    @property
    def id(self) -> str:
        """The spec transition id."""
        return self.transition.id


@dataclass(frozen=True)
class DriveModel:
    """The model's edges as the tester drives them on one stack."""

    spec: Spec
    options: dict[str, bool]
    profile: Profile | None
    edges: tuple[Edge, ...]  # drivable in principle (trigger known, not excluded by the profile)
    not_drivable: dict[str, str]  # transition id -> reason (enabled transitions only)
    disabled: dict[str, str]  # transition id -> why it is not in the model under these options
    guard_vars: tuple[str, ...]
    listen_states: frozenset[str] = frozenset()  # entered by a passive OPEN
    connect_states: frozenset[str] = frozenset()  # entered by an active OPEN
    handshake_states: frozenset[str] = frozenset()  # entered from a listen state by a SYN

    @property
    def profile_name(self) -> str:
        """``linux``, or ``none`` for the bare RFC machine."""
        return self.profile.name if self.profile else "none"

    def edge(self, tid: str) -> Edge:
        """The drivable edge of transition ``tid``."""
        for e in self.edges:
            if e.id == tid:
                return e
        raise KeyError(tid)

    def out_edges(self, state: str) -> tuple[Edge, ...]:
        """Drivable edges leaving ``state``, in spec order."""
        return tuple(e for e in self.edges if e.transition.source == state)

    def initial_context(self) -> Context:
        """Nothing held, no history."""
        return Context()

    def realise(self, edge: Edge, ctx: Context) -> tuple[list[Realised], str]:
        """Every way to take ``edge`` in ``ctx`` (possibly none) and, when
        there is none, why."""
        return _realise(self, edge, ctx)


def load_drive_model(spec: Spec, profile: str | None = "linux") -> DriveModel:
    """The drive model for ``profile`` (a shipped profile name, a path to a
    profile file, or None / ``none`` for the bare RFC machine)."""
    prof: Profile | None = None
    if profile and profile != "none":
        path = profile if profile.endswith(".toml") else str(profile_path(profile))
        if not Path(path).exists():
            raise InputError(path, f"no profile {profile!r}; use a name under specs/profiles/ (e.g. linux) or none")
        prof = load_profile(path, {t.id for t in spec.transitions})
    options = {**spec.options, **(prof.options if prof else {})}
    unknown = set(options) - set(spec.options)
    if unknown:
        raise InputError(prof.path if prof else spec.path, f"unknown model option {sorted(unknown)[0]!r}")
    return build_drive_model(spec, options, prof)


def build_drive_model(spec: Spec, options: dict[str, bool], profile: Profile | None) -> DriveModel:
    """Map every transition enabled under ``options`` to its drive."""
    graph = endpoint_graph(spec, options)
    enabled = [data["transition"] for _, _, data in graph.edges(data=True)]
    enabled.sort(key=lambda t: t.index)
    alphabet = wire_alphabet(spec)
    edges: list[Edge] = []
    not_drivable: dict[str, str] = {}
    for t in enabled:
        reason = profile.reason_not_drivable(t.id) if profile else None
        if reason:
            not_drivable[t.id] = f"profile {profile.name}: {reason}" if profile else reason
            continue
        edge, why = _edge(spec, t, alphabet)
        if edge is None:
            not_drivable[t.id] = why
        else:
            edges.append(edge)
    disabled: dict[str, str] = {}
    enabled_ids = {t.id for t in enabled}
    for t in spec.transitions:
        if t.id in enabled_ids:
            continue
        switch = f"option {t.option} is off" if t.option else f"option {t.unless} is on"
        source = f"profile {profile.name}" if profile and (t.option or t.unless) in profile.options else "the spec"
        reason = profile.reason_not_drivable(t.id) if profile else None
        disabled[t.id] = f"{switch} ({source})" + (f": {reason}" if reason else "")
    guard_vars = sorted(
        {n.split(".", 1)[1] for t in enabled if t.when for n in parse(t.when).names()}
    )
    def entered_by(op: str) -> frozenset[str]:
        return frozenset(t.target for t in enabled if op in spec.events[t.event].socket)

    listen_states = entered_by("listen")
    handshake_states = frozenset(
        t.target for t in enabled if t.source in listen_states and spec.events[t.event].flags == frozenset({"SYN"})
    )
    return DriveModel(spec, options, profile, tuple(edges), not_drivable, disabled, tuple(guard_vars),
                      listen_states, entered_by("connect"), handshake_states)


def _edge(spec: Spec, t: Transition, alphabet: dict) -> tuple[Edge | None, str]:  # type: ignore[type-arg]
    event = spec.events[t.event]
    expects = tuple(t.sends) or ("NONE",)
    bad = [s for s in expects if s not in (*SEGMENTS, "NONE")]
    if bad:
        return None, f"the runner cannot recognise the segment {bad[0]} the stack should send"
    if event.kind == "call":
        calls = [c for c in event.socket if c in CALLS]
        if not calls:
            return None, f"no socket call realises the user call {t.event!r} (spec socket = {list(event.socket)})"
        return Edge(t, "call", ",".join(calls), expects), ""
    if event.kind == "rcv":
        wire = _wire_for_event(event.flags, event.acks, alphabet)
        if wire is None or wire not in SEGMENTS:
            return None, f"the runner cannot inject a segment that the stack classifies as {t.event}"
        return Edge(t, "rcv", wire, expects), ""
    if t.event not in TIMERS:
        return None, f"the runner has no control for the timer {t.event!r}"
    from tcpcheck.tools.runner.stacks.linux import TIMER_BOUNDS

    slow = TIMER_BOUNDS.get(t.event, 0.0) > SLOW_TIMER_SECONDS
    return Edge(t, "timer", t.event, expects, dict(TIMER_SYSCTLS.get(t.event, {})), slow), ""


def _wire_for_event(flags: frozenset[str], acks: str, alphabet: dict) -> str | None:  # type: ignore[type-arg]
    """The segment (the model's wire vocabulary) the peer injects so that the
    receiver classifies it as an event with these ``flags`` and ``acks``."""
    for name, wire in alphabet.items():
        if wire.flags != flags:
            continue
        if acks == "fin" and wire.acks_fin:
            return str(name)
        if acks == "syn" and wire.acks_syn and not wire.acks_fin:
            return str(name)
        if acks == "none" and not wire.acks_fin:
            return str(name)
    return None


def guard_holds(text: str | None, history: frozenset[str]) -> bool:
    """Evaluate a transition's ``when`` guard over the walk's history."""
    if text is None:
        return True
    return _eval(parse(text), history)


def _eval(node: Node, history: frozenset[str]) -> bool:
    if isinstance(node, Name):
        return node.text.split(".", 1)[1] in history
    if isinstance(node, Unary) and node.op == "not":
        return not _eval(node.arg, history)
    if isinstance(node, Binary):
        left, right = _eval(node.left, history), _eval(node.right, history)
        ops = {"and": left and right, "or": left or right, "->": (not left) or right, "<->": left == right}
        if node.op in ops:
            return ops[node.op]
    raise InputError("specs/tcp.toml", f"guard {node!r}: the generator evaluates only and/or/not/->/<-> of history")


def history_after(history: frozenset[str], t: Transition, keep: tuple[str, ...]) -> frozenset[str]:
    """The guard history after taking ``t`` (only the variables in ``keep``)."""
    # The history variables the spec's guards read, updated as the composed
    # model does (model/compose.py, effects()): only `passive` is read today.
    out = set(history)
    if t.event == "listen":
        out.add("passive")
    if t.event == "abort":
        out.add("aborted")
    return frozenset(v for v in out if v in keep)


def _steps(edge: Edge, trigger: Step, glue: tuple[Step, ...] = ()) -> tuple[Step, ...]:
    t = edge.transition
    return (trigger, *(Expect(s) for s in edge.expects), ExpectState(t.target), *glue)


def _realise(model: DriveModel, edge: Edge, ctx: Context) -> tuple[list[Realised], str]:
    t = edge.transition
    spec = model.spec
    if not guard_holds(t.when, ctx.history):
        return [], f"{GUARD} {t.when!r} does not hold on this walk"
    history = history_after(ctx.history, t, model.guard_vars)
    terminal = t.target == spec.initial
    if edge.kind == "call":
        out = []
        reasons = []
        for op in edge.trigger.split(","):
            after, why = _call_effect(op, t, ctx, spec, model.handshake_states, model.listen_states)
            if after is None:
                reasons.append(f"{op}: {why}")
                continue
            after = replace(after, history=history)
            out.append(Realised(_steps(edge, Call(op)), after, 0, terminal, op))
        return out, "; ".join(reasons)
    if edge.kind == "timer":
        if t.event == "timeout_fin_wait_2" and ctx.fd != FD_ORPHAN:
            # Linux (tcp_close) arms tcp_fin_timeout only for an orphan: a
            # FIN_WAIT_2 still held through a descriptor waits forever.
            return [], "the FIN_WAIT_2 timeout applies only after close() released the descriptor"
        if t.event == "timeout_syn" and ctx.fd != FD_CONN:
            return [], "the SYN retransmission limit is set on the connecting socket"
        return [Realised(_steps(edge, Elapse(t.event)), replace(ctx, history=history), 0, terminal)], ""
    # A received segment.
    opens_passively = (
        spec.events[t.event].flags == frozenset({"SYN"}) and t.target not in (t.source, spec.initial)
        and t.source not in model.connect_states
    )
    if opens_passively and not ctx.listener:
        return [], "a SYN opens a connection only on a listening socket, and this walk has none"
    after = replace(ctx, history=history)
    glue: tuple[Step, ...] = ()
    if ctx.fd == FD_LISTENER and t.source in model.handshake_states and t.source != t.target \
            and spec.state(t.target).synchronized:
        # The handshake completed on the listener: accept() hands the
        # application a descriptor on the connection.
        glue = (Call("accept"), ExpectState(t.target))
        after = replace(after, fd=FD_CONN)
    if opens_passively and t.source not in model.listen_states:
        # A new incarnation on a listener (e.g. a SYN to TIME_WAIT): the
        # application holds no descriptor for it, so the scenario ends here.
        terminal = True
    return [Realised(_steps(edge, Inject(edge.trigger), glue), after, len(glue), terminal)], ""


def _call_effect(op: str, t: Transition, ctx: Context, spec: Spec, handshake: frozenset[str] = frozenset(),
                 listening: frozenset[str] = frozenset({"LISTEN"})) -> tuple[Context | None, str]:
    """The context after socket call ``op`` realises call transition ``t``
    (``handshake``: the states a connection is in before it is established;
    ``listening``: the states of a listening socket)."""
    on_listener = ctx.fd == FD_LISTENER and t.source in listening
    if op == "listen":
        if ctx.fd != FD_NONE:
            return None, "the application already holds a socket"
        return replace(ctx, fd=FD_LISTENER, listener=True), ""
    if op == "connect":
        if ctx.fd != FD_NONE:
            return None, "the application already holds a socket"
        return replace(ctx, fd=FD_CONN), ""
    if ctx.fd == FD_LISTENER and not on_listener:
        return None, "the connection is not accepted yet, so the application has no descriptor for it"
    if ctx.fd in (FD_NONE, FD_ORPHAN):
        return None, "the application holds no descriptor (close() released it)"
    if op in ("close", "abort"):
        if on_listener:
            return replace(ctx, fd=FD_NONE, listener=False), ""
        return replace(ctx, fd=FD_ORPHAN if op == "close" else FD_NONE), ""
    if op == "shutdown_wr":
        if not spec.state(t.source).synchronized or t.source in handshake:
            # shutdown() acts on a connected socket: during the handshake
            # (SYN_RCVD after a simultaneous open) Linux queues the FIN until
            # the connection is established instead of sending it.
            return None, "shutdown(SHUT_WR) half-closes an established connection only"
        return ctx, ""
    if op == "send":
        if on_listener:
            return None, "the sockets API has no SEND on a listening socket"
        return ctx, ""
    return None, f"the generator does not know the socket call {op!r}"
