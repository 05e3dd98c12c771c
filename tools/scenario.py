"""Scenarios: the one intermediate form between the generator and the runner.

A scenario is a named list of steps seen from the stack under test:

* ``Call(op)``: a socket call on the local side (listen, connect, accept,
  close, shutdown_wr, abort, send, recv);
* ``Inject(segment)``: the remote peer (played by the runner) sends a segment;
* ``Expect(segment)``: the stack must send this segment within a bound;
* ``ExpectState(state)``: the stack's socket must be in this RFC state;
* ``Elapse(timer)``: a timer of the model fires (the runner shortens it or
  waits for it).

The two-sided form (``Scenario.loopback``) runs both endpoints, A and B, as
kernel sockets talking over ``lo``. Every step then names its ``side``:
``Call(op, side=...)`` is a socket call of that side; ``Expect(segment,
side=...)`` waits until that side has sent the segment (seen on ``lo``);
``ExpectState(state, side=...)`` waits until that side's socket is in the
state; ``Elapse(timer, side=...)`` waits for that side's timer. Segments are
delivered by the runner: ``Hold(side)`` keeps what that side sends from its
peer, ``Deliver(side, segment)`` hands over its oldest held segments up to
the first the model knows (which must be ``segment``), ``Release(side)``
hands over everything held and lets further segments through at once (the
default). Holding both sides' FINs and then delivering them is how a
simultaneous close happens for real. ``Inject`` has no two-sided form.

Several connections (``Scenario.connections``): named listeners, groups of
peer connections (``a`` with count 8 is a1..a8, opened by the runner's
peer) and clients (opened by the application's connect()). Every step then
says which connections it is about (``on``: names, groups, runs such as
``a1..a5``): ``Call`` listen (``arg``: the backlog), accept (``arg``: the
connections it must return), connect (``errno``: what it must say), close;
``Inject`` and ``Expect`` per connection; ``ExpectStates`` checks many
connections' states and listeners' accept queues at once. A step's
``when`` (``tcp_syncookies=1|2``) makes it part of the run only under
those values of the scenario's own sysctl. No transition of the one-
connection machine is attributed to such a scenario.

Segments use the model's vocabulary (``specs/tcp.toml``): SYN, SYN_ACK, ACK,
ACK_OF_FIN, FIN, FIN_ACK_OF_FIN, RST, RST_ACK, plus DATA; the runner fills in
sequence numbers. ``variant`` names deliberately odd packets (e.g.
``bad_ack`` for a RST whose ACK does not cover our SYN, ``out_of_window``).
"""

from __future__ import annotations

import dataclasses
import errno as _errno
import json
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from tcpcheck.model.acceptability import variants as _variants
from tcpcheck.model.errors import InputError
from tcpcheck.model.source import parse_json, read_input

SCHEMA_FILE = "scenario.schema.json"  # beside this module: the JSON scenario format, documented
MAX_SUITE_BYTES = 64 << 20


def _vocabulary() -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """Names a scenario may use, read from the embedded spec (TCP is described
    once, in specs/tcp.toml): the socket calls that realise its call events
    plus accept and recv; the segments that can be on the wire plus DATA; its
    timers; its states."""
    from tcpcheck.model.compose import wire_alphabet
    from tcpcheck.model.spec import embedded_spec

    spec = embedded_spec()
    calls = [s for e in spec.events.values() if e.kind == "call" for s in e.socket]
    calls += [c for c in ("accept", "recv") if c not in calls]
    timers = tuple(e.name for e in spec.events.values() if e.kind == "timer")
    return tuple(calls), (*wire_alphabet(spec), "DATA"), timers, spec.state_names


CALLS, SEGMENTS, TIMERS, STATES = _vocabulary()


SIDES = ("A", "B")
# The deliberately odd packets an inject step may ask for, per segment (the
# runner's peer, tools/runner/peer.py, builds each and refuses any other;
# tests/runner check every one the default suite uses): a SYN reusing the
# old incarnation's ISN or inside the window, a SYN+ACK acknowledging the
# wrong number, an old FIN or DATA replayed, DATA sent again, a RST outside
# or inside the window, a RST+ACK acknowledging the wrong number.
# The names and which segment has which are specs/acceptability.toml's, the
# vocabulary the timed model shares (model/acceptability.py).
VARIANTS = {segment: _variants(segment) for segment in SEGMENTS if _variants(segment)}


_ERRNOS = frozenset(_errno.errorcode.values())
# Connections per group at most (each peer connection has a port of its own).
MAX_GROUP = 16
ROLES = ("listener", "peer", "client")


def _check_when(when: str) -> None:
    """``NAME=VALUE`` or ``NAME=V1|V2``: the step is made only when the
    scenario's setting NAME has one of the values."""
    if not when:
        return
    name, sep, values = when.partition("=")
    if not sep or not name or not all(v.strip() for v in values.split("|")):
        raise ValueError(f"field 'when': {when!r} is not NAME=VALUE (or NAME=V1|V2), e.g. tcp_syncookies=1|2")


def when_holds(when: str, settings: dict[str, str]) -> bool:
    """Is the step's ``when`` true under the scenario's ``settings``?"""
    if not when:
        return True
    name, _, values = when.partition("=")
    return settings.get(name) in values.split("|")


def _at(on: str) -> str:
    return f"{on}: " if on else ""


def _if(when: str) -> str:
    return f" (when {when})" if when else ""


def _check_side(side: str, allowed: tuple[str, ...] = ("", *SIDES)) -> None:
    if side not in allowed:
        raise ValueError(f"field 'side': unknown side {side!r}; use A or B")


def _on(side: str) -> str:
    return f"{side}: " if side else ""


@dataclass(frozen=True)
class Call:
    """A socket call on the stack under test (on ``side`` when two-sided)."""

    op: str
    arg: str = ""  # e.g. payload for send; several connections: listen's backlog, accept's connections
    side: str = ""
    on: str = ""  # several connections: the connections it is made on
    errno: str = ""  # several connections: what connect() must say (EINPROGRESS, EADDRNOTAVAIL, ...)
    when: str = ""  # several connections: only under this setting

    def __post_init__(self) -> None:
        if self.op not in CALLS:
            raise ValueError(f"field 'op': unknown call {self.op!r}; use one of {', '.join(CALLS)}")
        _check_side(self.side)
        if self.errno and self.errno not in _ERRNOS:
            raise ValueError(f"field 'errno': unknown errno {self.errno!r}; use a name such as EINPROGRESS "
                             "or EADDRNOTAVAIL")
        if self.errno and self.op != "connect":
            raise ValueError(f"field 'errno': only connect says one here, not {self.op}")
        _check_when(self.when)

    def text(self) -> str:
        return f"{_on(self.side)}{_at(self.on)}call {self.op}" + (f" {self.arg}" if self.arg else "") \
            + (f", says {self.errno}" if self.errno else "") + _if(self.when)


@dataclass(frozen=True)
class Inject:
    """The peer sends ``segment`` to the stack."""

    segment: str
    variant: str = ""
    on: str = ""  # several connections: each of these peers sends it
    when: str = ""

    def __post_init__(self) -> None:
        _check_when(self.when)
        if self.segment not in SEGMENTS:
            raise ValueError(f"field 'segment': unknown segment {self.segment!r}; use one of {', '.join(SEGMENTS)}")
        allowed = VARIANTS.get(self.segment, ())
        if self.variant and self.variant not in allowed:
            raise ValueError(f"field 'variant': {self.variant!r} is not a variant of {self.segment}; "
                             + (f"use one of {', '.join(allowed)}" if allowed else f"{self.segment} has none"))

    def text(self) -> str:
        return f"{_at(self.on)}inject {self.segment}" + (f" ({self.variant})" if self.variant else "") \
            + _if(self.when)


@dataclass(frozen=True)
class Expect:
    """The stack must send ``segment`` (``NONE``: must send nothing)."""

    segment: str
    side: str = ""  # two-sided: the sender
    on: str = ""  # several connections: each of these must send it
    when: str = ""

    def __post_init__(self) -> None:
        if self.segment not in (*SEGMENTS, "NONE"):
            raise ValueError(f"field 'segment': unknown segment {self.segment!r}; "
                             f"use one of {', '.join(SEGMENTS)} or NONE")
        _check_side(self.side)
        _check_when(self.when)

    def text(self) -> str:
        return f"{_on(self.side)}{_at(self.on)}expect {self.segment}" + _if(self.when)


@dataclass(frozen=True)
class ExpectState:
    """The stack's socket must be in RFC state ``state``."""

    state: str
    side: str = ""

    def __post_init__(self) -> None:
        if self.state not in STATES:
            raise ValueError(f"field 'state': unknown state {self.state!r}; use one of {', '.join(STATES)}")
        _check_side(self.side)

    def text(self) -> str:
        return f"{_on(self.side)}expect_state {self.state}"


@dataclass(frozen=True)
class Elapse:
    """A model timer fires."""

    timer: str
    side: str = ""

    def __post_init__(self) -> None:
        if self.timer not in TIMERS:
            raise ValueError(f"field 'timer': unknown timer {self.timer!r}; use one of {', '.join(TIMERS)}")
        _check_side(self.side)

    def text(self) -> str:
        return f"{_on(self.side)}elapse {self.timer}"


@dataclass(frozen=True)
class Hold:
    """Two-sided: keep what ``side`` sends from its peer until delivered."""

    side: str

    def __post_init__(self) -> None:
        _check_side(self.side, SIDES)

    def text(self) -> str:
        return f"{self.side}: hold"


@dataclass(frozen=True)
class Deliver:
    """Two-sided: hand ``side``'s oldest held segments to its peer, up to the
    first one the model knows, which must be ``segment`` (any when empty)."""

    side: str
    segment: str = ""

    def __post_init__(self) -> None:
        _check_side(self.side, SIDES)
        if self.segment and self.segment not in SEGMENTS:
            raise ValueError(f"field 'segment': unknown segment {self.segment!r}; use one of {', '.join(SEGMENTS)}")

    def text(self) -> str:
        return f"{self.side}: deliver" + (f" {self.segment}" if self.segment else "")


@dataclass(frozen=True)
class Release:
    """Two-sided: deliver everything ``side`` holds and stop holding."""

    side: str

    def __post_init__(self) -> None:
        _check_side(self.side, SIDES)

    def text(self) -> str:
        return f"{self.side}: release"


@dataclass(frozen=True)
class ExpectStates:
    """Several connections: each named connection in its RFC state, all read
    at once (one sock_diag dump of the namespace), each listed listener's
    accept queue holding that many connections; ``held``: connections a
    descriptor still refers to; ``port_range``: connections whose local
    ports are the namespace's ip_local_port_range, each port once."""

    states: tuple[tuple[str, str], ...]  # (connections, state)
    accept_queue: tuple[tuple[str, int], ...] = ()  # (listener, connections waiting for accept())
    held: str = ""
    port_range: str = ""
    when: str = ""

    def __post_init__(self) -> None:
        for _, state in self.states:
            if state not in STATES:
                raise ValueError(f"field 'states': unknown state {state!r}; use one of {', '.join(STATES)}")
        for listener, count in self.accept_queue:
            if not isinstance(count, int) or isinstance(count, bool) or count < 0:
                raise ValueError(f"field 'accept_queue': {listener}: {count!r} is not a count (0 or more)")
        _check_when(self.when)

    def text(self) -> str:
        parts = [f"{names} {state}" for names, state in self.states]
        parts += [f"{listener} accept queue {count}" for listener, count in self.accept_queue]
        parts += [f"{self.held} descriptors held"] if self.held else []
        parts += [f"{self.port_range} on every port of ip_local_port_range"] if self.port_range else []
        return "expect_states " + "; ".join(parts) + _if(self.when)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"states": dict(self.states)}
        if self.accept_queue:
            out["accept_queue"] = dict(self.accept_queue)
        out.update({k: v for k in ("held", "port_range", "when") if (v := getattr(self, k))})
        return out

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> ExpectStates:
        for key, value in body.items():
            if key in ("states", "accept_queue"):
                if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
                    raise ValueError(f"field {key!r}: must be an object (connections -> "
                                     f"{'state' if key == 'states' else 'count'})")
            elif key not in ("held", "port_range", "when"):
                raise ValueError(f"field {key!r}: an expect_states step has no such field; it has accept_queue, "
                                 "held, port_range, states, when")
            elif not isinstance(value, str):
                raise ValueError(f"field {key!r}: must be a string, not {value!r}")
        if "states" not in body:
            raise ValueError("field 'states': an expect_states step needs it")
        for names, state in body["states"].items():
            if not isinstance(state, str):
                raise ValueError(f"field 'states': {names}: must be a state name, not {state!r}")
        return cls(tuple(body["states"].items()), tuple(body.get("accept_queue", {}).items()),
                   body.get("held", ""), body.get("port_range", ""), body.get("when", ""))


@dataclass(frozen=True)
class Connection:
    """Several connections: one named connection, or a group of ``count``
    called name1..nameN. A ``listener`` is the application's listening
    socket; a ``peer`` connection is opened by the runner's peer to
    listener ``to``, each on a peer port of its own; a ``client`` is opened
    by the application's connect() to a port of the peer."""

    name: str
    role: str
    count: int = 0
    to: str = ""

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ValueError(f"field 'name': {self.name!r} is not a name (letters, digits, _)")
        if self.role not in ROLES:
            raise ValueError(f"field 'role': unknown role {self.role!r}; use one of {', '.join(ROLES)}")
        if isinstance(self.count, bool) or not isinstance(self.count, int) or not 0 <= self.count <= MAX_GROUP \
                or self.role == "listener" and self.count:
            raise ValueError(f"field 'count': {self.count!r}: a group has 1 to {MAX_GROUP} connections "
                             "(a listener is one)")
        if (self.role == "peer") != bool(self.to):
            raise ValueError("field 'to': a peer connection names the listener it connects to; nothing else does")

    def members(self) -> list[str]:
        """The connection names: name, or name1..nameN."""
        return [f"{self.name}{i}" for i in range(1, self.count + 1)] if self.count else [self.name]

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v not in ("", 0)}

    @classmethod
    def from_json(cls, data: Any) -> Connection:
        if not isinstance(data, dict) or not isinstance(data.get("name"), str) or \
                not isinstance(data.get("role"), str):
            raise ValueError("a connection is an object with a 'name' and a 'role'")
        unknown = sorted(set(data) - {"name", "role", "count", "to"})
        if unknown:
            raise ValueError(f"field {unknown[0]!r}: a connection has no such field; it has count, name, role, to")
        return cls(data["name"], data["role"], data.get("count", 0), data.get("to", ""))


def resolve(text: str, connections: tuple[Connection, ...]) -> list[str]:
    """The connections ``text`` names: comma-separated names, groups (every
    member) and runs ``a1..a5``; ValueError for a name none has."""
    member_of = {m: c for c in connections for m in c.members()}
    groups = {c.name: c for c in connections if c.count}
    out: list[str] = []
    for part in (p.strip() for p in text.split(",")):
        first, dots, last = part.partition("..")
        if part in groups:
            out += groups[part].members()
        elif dots and first in member_of and member_of[first] is member_of.get(last) and \
                (members := member_of[first].members()).index(first) <= members.index(last):
            out += members[members.index(first):members.index(last) + 1]
        elif part in member_of:
            out.append(part)
        else:
            raise ValueError(f"{part!r} names no connection; declared: {', '.join(member_of) or 'none'}")
    return out


Step = Call | Inject | Expect | ExpectState | Elapse | Hold | Deliver | Release | ExpectStates
_KINDS: dict[str, type] = {
    "call": Call,
    "inject": Inject,
    "expect": Expect,
    "expect_state": ExpectState,
    "expect_states": ExpectStates,
    "elapse": Elapse,
    "hold": Hold,
    "deliver": Deliver,
    "release": Release,
}
_TWO_SIDED_ONLY = (Hold, Deliver, Release)


@dataclass(frozen=True)
class Scenario:
    """A named, self-contained test: starts from CLOSED on a fresh 4-tuple."""

    name: str
    steps: tuple[Step, ...]
    transitions: tuple[str, ...] = ()  # spec transition ids it covers
    rfc: tuple[str, ...] = ()  # their RFC references
    description: str = ""
    sysctls: dict[str, str] = field(default_factory=dict)  # per-namespace settings it needs
    slow: bool = False  # needs a timer the runner cannot shorten
    # The transition ids in the order the scenario takes them (a transition
    # may repeat); optional: hand-written scenarios may leave it empty.
    walk: tuple[str, ...] = ()
    # Two-sided: A and B are both kernel sockets on lo; every step names its side.
    loopback: bool = False
    # The peer offers the TCP timestamp option (RFC 7323); off: MSS only.
    timestamps: bool = False
    # Several connections, each named (listeners, peer and client groups);
    # empty: the one connection of an ordinary scenario.
    connections: tuple[Connection, ...] = ()

    def __post_init__(self) -> None:
        if self.connections or any(_crowd_only(s) for s in self.steps):
            self._check_connections()
            return
        if self.loopback and self.timestamps:
            raise ValueError("'timestamps' is the runner peer's option: a loopback scenario has no peer "
                             "(both kernels choose their own options)")
        for n, step in enumerate(self.steps):
            side = getattr(step, "side", None)
            if self.loopback and (side is None or side == ""):
                raise ValueError(f"steps[{n}]: a loopback scenario names the side of every step (A or B); "
                                 f"{step.text()!r} has none" if side is not None else
                                 f"steps[{n}]: {step.text()!r} has no two-sided form")
            if not self.loopback and (side or isinstance(step, _TWO_SIDED_ONLY)):
                raise ValueError(f"steps[{n}]: {step.text()!r} names a side: only a loopback scenario "
                                 "('loopback': true) has sides")

    def _check_connections(self) -> None:
        """What the schema cannot say about a scenario with several
        connections: every name it uses is declared, calls fit the role,
        ``when`` names a setting the scenario sets."""
        if not self.connections:
            n, step = next((n, s) for n, s in enumerate(self.steps) if _crowd_only(s))
            raise ValueError(f"steps[{n}]: {step.text()!r} is about several connections: declare them in "
                             "'connections'")
        if self.loopback or self.timestamps:
            raise ValueError("field 'connections': a scenario with several connections is neither loopback nor "
                             "timestamps")
        names = [m for c in self.connections for m in c.members()] + [c.name for c in self.connections if c.count]
        dup = next((n for n in names if names.count(n) > 1), "")
        if dup:
            raise ValueError(f"field 'connections': {dup!r} is declared twice")
        roles = {m: c.role for c in self.connections for m in c.members()}
        for role, most in (("peer", MAX_GROUP), ("listener", 2)):
            if sum(r == role for r in roles.values()) > most:
                raise ValueError(f"field 'connections': at most {most} {role} connections in a scenario")
        for n, c in enumerate(self.connections):
            if c.to and roles.get(c.to) != "listener":
                raise ValueError(f"connections[{n}]: field 'to': {c.to!r} is not a listener")
        for n, step in enumerate(self.steps):
            try:
                self._check_step(step, roles)
            except ValueError as exc:
                raise ValueError(f"steps[{n}] {exc}") from None

    def _check_step(self, step: Step, roles: dict[str, str]) -> None:
        when = getattr(step, "when", "")
        if when and when.partition("=")[0] not in self.sysctls:
            raise ValueError(f"field 'when': {when.partition('=')[0]!r} is not among the scenario's sysctls "
                             f"({', '.join(self.sysctls) or 'none'})")
        if isinstance(step, ExpectStates):
            for names, _ in step.states:
                resolve(names, self.connections)
            for listener, _ in step.accept_queue:
                if roles.get(listener) != "listener":
                    raise ValueError(f"field 'accept_queue': {listener!r} is not a listener")
            for key in ("held", "port_range"):
                if getattr(step, key):
                    resolve(getattr(step, key), self.connections)
            return
        if not isinstance(step, (Call, Inject, Expect)):
            raise ValueError(f"{step.text()!r}: with several connections a step is call, inject, expect or "
                             "expect_states")
        if not step.on:
            raise ValueError(f"field 'on': {step.text()!r} names the connections it is about")
        on = {roles[m] for m in resolve(step.on, self.connections)}
        if isinstance(step, Call):
            allowed = {"listen": {"listener"}, "accept": {"listener"}, "connect": {"client"},
                       "close": {"listener", "peer", "client"}}.get(step.op, set())
            if not on <= allowed:
                raise ValueError(f"field 'op': {step.op} is not made on a {'/'.join(sorted(on))} here "
                                 "(listen, accept: a listener; connect: a client; close: any)")
            if step.op == "listen" and not step.arg.isdigit():
                raise ValueError("field 'arg': listen's backlog, a number")
            if step.op == "accept":
                if not step.arg:
                    raise ValueError("field 'arg': the connections accept() must return")
                resolve(step.arg, self.connections)
            if step.op == "connect" and not step.errno:
                raise ValueError("field 'errno': what connect() must say (EINPROGRESS: it is under way)")
        elif "listener" in on:
            raise ValueError("field 'on': a listener neither sends nor is sent segments here")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "description": self.description,
            "transitions": list(self.transitions),
            "rfc": list(self.rfc),
            "sysctls": dict(self.sysctls),
            "slow": self.slow,
            "steps": [step_to_json(s) for s in self.steps],
        }
        if self.walk:
            out["walk"] = list(self.walk)
        if self.loopback:
            out["loopback"] = True
        if self.timestamps:
            out["timestamps"] = True
        if self.connections:
            out["connections"] = [c.to_json() for c in self.connections]
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Scenario:
        """A scenario from its JSON object; ValueError names the field at fault."""
        if not isinstance(data, dict):
            raise ValueError(f"a scenario is a JSON object, not {str(data)[:40]!r}")
        for key, kind in (("name", str), ("steps", list)):
            if not isinstance(data.get(key), kind):
                raise ValueError(f"field {key!r}: required, a {'string' if kind is str else 'list of steps'}")
        for key in ("loopback", "timestamps"):
            if not isinstance(data.get(key, False), bool):
                raise ValueError(f"field {key!r}: must be true or false")
        connections = []
        for n, c in enumerate(data.get("connections", ())):
            try:
                connections.append(Connection.from_json(c))
            except ValueError as exc:
                raise ValueError(f"connections[{n}] {exc}") from None
        steps = []
        for n, step in enumerate(data["steps"]):
            try:
                steps.append(step_from_json(step))
            except ValueError as exc:
                raise ValueError(f"steps[{n}] {exc}") from None
        return cls(
            name=data["name"],
            steps=tuple(steps),
            transitions=tuple(data.get("transitions", ())),
            rfc=tuple(data.get("rfc", ())),
            description=data.get("description", ""),
            sysctls=dict(data.get("sysctls", {})),
            slow=bool(data.get("slow", False)),
            walk=tuple(data.get("walk", ())),
            loopback=bool(data.get("loopback", False)),
            timestamps=bool(data.get("timestamps", False)),
            connections=tuple(connections),
        )


def _crowd_only(step: Step) -> bool:
    """A step (or field) only a scenario with several connections has."""
    return isinstance(step, ExpectStates) or any(getattr(step, k, "") for k in ("on", "errno", "when"))


def starts_transition(step: Step) -> bool:
    """Does this step act (and so start the next transition of a walk)? A
    call, an injected segment or a timer does; accept() only completes the
    sockets API's side of a handshake the listener already took."""
    return isinstance(step, (Inject, Elapse)) or (isinstance(step, Call) and step.op != "accept")


def step_transitions(scenario: Scenario, spec: Any = None) -> tuple[str, ...]:
    """The spec transition each step belongs to ("" for set-up and glue).

    From the scenario's ``walk`` when it has one (each acting step starts
    the next transition of the walk); otherwise found by replaying the steps
    on the spec's machine: an acting step and the state observed after it
    name the transition (preferring those the scenario says it covers).
    A scenario with several connections takes no transition of one
    connection's machine."""
    if scenario.connections:
        return ("",) * len(scenario.steps)
    if scenario.walk:
        walk, current, out = list(scenario.walk), "", []
        for step in scenario.steps:
            if starts_transition(step):
                current = walk.pop(0) if walk else ""
            out.append(current)
        return tuple(out)
    if spec is None:
        # parsed once per process: the runner replays every walk-less scenario here
        from tcpcheck.model.spec import embedded_spec

        spec = embedded_spec()
    covered = set(scenario.transitions)
    state, current, out = spec.initial, "", []
    steps = scenario.steps
    for n, step in enumerate(steps):
        if starts_transition(step):
            nxt = next((m for m in range(n + 1, len(steps)) if starts_transition(steps[m])), len(steps))
            seen = [s.state for s in steps[n + 1:nxt] if isinstance(s, ExpectState)]
            after = seen[0] if seen else None
            found = [t for t in spec.transitions if t.source == state and _triggers(spec, t, step)
                     and (after is None or t.target == after)]
            # then the event the segment names exactly: FIN_ACK_OF_FIN is also a FIN by its
            # flags, and without a state to tell them apart FIN_WAIT_1 went to CLOSING
            found.sort(key=lambda t: (t.id not in covered, isinstance(step, Inject) and t.event != step.segment))
            current = found[0].id if found else ""
            state = found[0].target if found else (after or state)
        elif isinstance(step, ExpectState) and not current:
            state = step.state
        out.append(current)
    return tuple(out)


def _triggers(spec: Any, transition: Any, step: Step) -> bool:
    """Can this acting step be the event of this transition?"""
    event = spec.events[transition.event]
    if isinstance(step, Call):
        return event.kind == "call" and step.op in event.socket
    if isinstance(step, Elapse):
        return transition.event == step.timer
    if isinstance(step, Inject):
        # A segment is named by its flags; the event adds what its ACK
        # covers (ACK, ACK_OF_SYN, ACK_OF_FIN are all an ACK on the wire).
        if event.kind != "rcv" or step.segment.split("_")[0] != transition.event.split("_")[0]:
            return False
        # A SYN is not a SYN,ACK (nor the reverse): with the SYN bit the flags decide.
        from tcpcheck.model.compose import wire_alphabet

        wire = wire_alphabet(spec).get(step.segment)
        return wire is None or "SYN" not in wire.flags or wire.flags == event.flags
    return False


def step_to_json(step: Step) -> dict[str, Any]:
    """``{"kind": ..., field: value}`` for one step."""
    kind = next(k for k, t in _KINDS.items() if isinstance(step, t))
    if isinstance(step, ExpectStates):
        return {"kind": kind, **step.to_json()}
    body = {k: v for k, v in step.__dict__.items() if v != ""}
    return {"kind": kind, **body}


def step_from_json(data: dict[str, Any]) -> Step:
    """Inverse of ``step_to_json``; ValueError names the field at fault."""
    if not isinstance(data, dict):
        raise ValueError(f"a step is a JSON object, not {data!r}")
    body = dict(data)
    kind = body.pop("kind", None)
    if kind not in _KINDS:
        raise ValueError(f"field 'kind': unknown step kind {kind!r}; use one of {', '.join(_KINDS)}")
    cls = _KINDS[kind]
    if cls is ExpectStates:
        return ExpectStates.from_json(body)
    fields = {f.name for f in dataclasses.fields(cls)}
    for key, value in body.items():
        if key not in fields:
            raise ValueError(f"field {key!r}: a {kind} step has no such field; it has {', '.join(sorted(fields))}")
        if not isinstance(value, str):
            raise ValueError(f"field {key!r}: must be a string, not {value!r}")
    try:
        return cls(**body)  # type: ignore[no-any-return]
    except TypeError:
        missing = sorted(f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING
                         and f.name not in body)
        raise ValueError(f"field {missing[0]!r}: a {kind} step needs it") from None


@cache
def bundled_schema(name: str) -> dict[str, Any]:
    """A JSON Schema shipped beside this module (``tools/NAME``)."""
    text = resources.files("tcpcheck.tools").joinpath(name).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def scenario_schema() -> dict[str, Any]:
    """The JSON Schema of scenario files (``tools/scenario.schema.json``)."""
    return bundled_schema(SCHEMA_FILE)


def validate_suite(data: Any, where: str) -> None:
    """Check a decoded suite against the schema; the first problem becomes an
    InputError naming the field (``$.scenarios[2].steps[0]``)."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import best_match

    error = best_match(Draft202012Validator(scenario_schema()).iter_errors(data))
    if error is not None:
        raise InputError(where, f"{error.json_path}: {error.message} (the format is tools/{SCHEMA_FILE})")


def load_scenarios(path: str | Path) -> tuple[Scenario, ...]:
    """Scenarios from a JSON suite file, validated against the schema and
    against the spec's vocabulary; bad input is one located InputError."""
    p = Path(path)
    what = "a JSON scenario file or a scenario name"
    data = parse_json(read_input(p, what, MAX_SUITE_BYTES), str(p), what)
    validate_suite(data, str(p))
    rows = data["scenarios"] if isinstance(data, dict) else data
    prefix = "$.scenarios" if isinstance(data, dict) else "$"
    out = []
    for n, row in enumerate(rows):
        for k, step in enumerate(row["steps"]):
            try:
                step_from_json(step)
            except ValueError as exc:
                raise InputError(str(p), f"{prefix}[{n}].steps[{k}]: {exc}") from None
        try:
            out.append(Scenario.from_json(row))
        except ValueError as exc:  # what the schema cannot say: sides, two-sided forms
            raise InputError(str(p), f"{prefix}[{n}]: {exc}") from None
    return tuple(out)
