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

Segments use the model's vocabulary (``specs/tcp.toml``): SYN, SYN_ACK, ACK,
ACK_OF_FIN, FIN, FIN_ACK_OF_FIN, RST, RST_ACK, plus DATA; the runner fills in
sequence numbers. ``variant`` names deliberately odd packets (e.g.
``bad_ack`` for a RST whose ACK does not cover our SYN, ``out_of_window``).
"""

from __future__ import annotations

import dataclasses
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
    from tcpcheck.model.spec import load_spec

    spec = load_spec()
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


def _check_side(side: str, allowed: tuple[str, ...] = ("", *SIDES)) -> None:
    if side not in allowed:
        raise ValueError(f"field 'side': unknown side {side!r}; use A or B")


def _on(side: str) -> str:
    return f"{side}: " if side else ""


@dataclass(frozen=True)
class Call:
    """A socket call on the stack under test (on ``side`` when two-sided)."""

    op: str
    arg: str = ""  # e.g. payload for send
    side: str = ""

    def __post_init__(self) -> None:
        if self.op not in CALLS:
            raise ValueError(f"field 'op': unknown call {self.op!r}; use one of {', '.join(CALLS)}")
        _check_side(self.side)

    def text(self) -> str:
        return f"{_on(self.side)}call {self.op}" + (f" {self.arg}" if self.arg else "")


@dataclass(frozen=True)
class Inject:
    """The peer sends ``segment`` to the stack."""

    segment: str
    variant: str = ""

    def __post_init__(self) -> None:
        if self.segment not in SEGMENTS:
            raise ValueError(f"field 'segment': unknown segment {self.segment!r}; use one of {', '.join(SEGMENTS)}")
        allowed = VARIANTS.get(self.segment, ())
        if self.variant and self.variant not in allowed:
            raise ValueError(f"field 'variant': {self.variant!r} is not a variant of {self.segment}; "
                             + (f"use one of {', '.join(allowed)}" if allowed else f"{self.segment} has none"))

    def text(self) -> str:
        return f"inject {self.segment}" + (f" ({self.variant})" if self.variant else "")


@dataclass(frozen=True)
class Expect:
    """The stack must send ``segment`` (``NONE``: must send nothing)."""

    segment: str
    side: str = ""  # two-sided: the sender

    def __post_init__(self) -> None:
        if self.segment not in (*SEGMENTS, "NONE"):
            raise ValueError(f"field 'segment': unknown segment {self.segment!r}; "
                             f"use one of {', '.join(SEGMENTS)} or NONE")
        _check_side(self.side)

    def text(self) -> str:
        return f"{_on(self.side)}expect {self.segment}"


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


Step = Call | Inject | Expect | ExpectState | Elapse | Hold | Deliver | Release
_KINDS: dict[str, type] = {
    "call": Call,
    "inject": Inject,
    "expect": Expect,
    "expect_state": ExpectState,
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

    def __post_init__(self) -> None:
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
        )


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
    name the transition (preferring those the scenario says it covers)."""
    if scenario.walk:
        walk, current, out = list(scenario.walk), "", []
        for step in scenario.steps:
            if starts_transition(step):
                current = walk.pop(0) if walk else ""
            out.append(current)
        return tuple(out)
    if spec is None:
        from tcpcheck.model.spec import load_spec

        spec = load_spec()
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
            found.sort(key=lambda t: t.id not in covered)
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


def step_to_json(step: Step) -> dict[str, str]:
    """``{"kind": ..., field: value}`` for one step."""
    kind = next(k for k, t in _KINDS.items() if isinstance(step, t))
    body = {k: v for k, v in step.__dict__.items() if v != ""}
    return {"kind": kind, **body}


def step_from_json(data: dict[str, str]) -> Step:
    """Inverse of ``step_to_json``; ValueError names the field at fault."""
    if not isinstance(data, dict):
        raise ValueError(f"a step is a JSON object, not {data!r}")
    body = dict(data)
    kind = body.pop("kind", None)
    if kind not in _KINDS:
        raise ValueError(f"field 'kind': unknown step kind {kind!r}; use one of {', '.join(_KINDS)}")
    cls = _KINDS[kind]
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
