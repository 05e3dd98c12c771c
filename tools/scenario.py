"""Scenarios: the one intermediate form between the generator and the runner.

A scenario is a named list of steps seen from the stack under test:

* ``Call(op)``: a socket call on the local side (listen, connect, accept,
  close, shutdown_wr, abort, send, recv);
* ``Inject(segment)``: the remote peer (played by the runner) sends a segment;
* ``Expect(segment)``: the stack must send this segment within a bound;
* ``ExpectState(state)``: the stack's socket must be in this RFC state;
* ``Elapse(timer)``: a timer of the model fires (the runner shortens it or
  waits for it).

Segments use the model's vocabulary (``specs/tcp.toml``): SYN, SYN_ACK, ACK,
ACK_OF_FIN, FIN, FIN_ACK_OF_FIN, RST, RST_ACK, plus DATA; the runner fills in
sequence numbers. ``variant`` names deliberately odd packets (e.g.
``bad_ack`` for a RST whose ACK does not cover our SYN, ``out_of_window``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


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


@dataclass(frozen=True)
class Call:
    """A socket call on the stack under test."""

    op: str
    arg: str = ""  # e.g. payload for send

    def __post_init__(self) -> None:
        if self.op not in CALLS:
            raise ValueError(f"unknown call {self.op!r}; use one of {', '.join(CALLS)}")

    def text(self) -> str:
        return f"call {self.op}" + (f" {self.arg}" if self.arg else "")


@dataclass(frozen=True)
class Inject:
    """The peer sends ``segment`` to the stack."""

    segment: str
    variant: str = ""

    def __post_init__(self) -> None:
        if self.segment not in SEGMENTS:
            raise ValueError(f"unknown segment {self.segment!r}; use one of {', '.join(SEGMENTS)}")

    def text(self) -> str:
        return f"inject {self.segment}" + (f" ({self.variant})" if self.variant else "")


@dataclass(frozen=True)
class Expect:
    """The stack must send ``segment`` (``NONE``: must send nothing)."""

    segment: str

    def __post_init__(self) -> None:
        if self.segment not in (*SEGMENTS, "NONE"):
            raise ValueError(f"unknown segment {self.segment!r}; use one of {', '.join(SEGMENTS)} or NONE")

    def text(self) -> str:
        return f"expect {self.segment}"


@dataclass(frozen=True)
class ExpectState:
    """The stack's socket must be in RFC state ``state``."""

    state: str

    def __post_init__(self) -> None:
        if self.state not in STATES:
            raise ValueError(f"unknown state {self.state!r}; use one of {', '.join(STATES)}")

    def text(self) -> str:
        return f"expect_state {self.state}"


@dataclass(frozen=True)
class Elapse:
    """A model timer fires."""

    timer: str

    def __post_init__(self) -> None:
        if self.timer not in TIMERS:
            raise ValueError(f"unknown timer {self.timer!r}; use one of {', '.join(TIMERS)}")

    def text(self) -> str:
        return f"elapse {self.timer}"


Step = Call | Inject | Expect | ExpectState | Elapse
_KINDS: dict[str, type] = {
    "call": Call,
    "inject": Inject,
    "expect": Expect,
    "expect_state": ExpectState,
    "elapse": Elapse,
}


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
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Scenario:
        return cls(
            name=data["name"],
            steps=tuple(step_from_json(s) for s in data["steps"]),
            transitions=tuple(data.get("transitions", ())),
            rfc=tuple(data.get("rfc", ())),
            description=data.get("description", ""),
            sysctls=dict(data.get("sysctls", {})),
            slow=bool(data.get("slow", False)),
            walk=tuple(data.get("walk", ())),
        )


def step_to_json(step: Step) -> dict[str, str]:
    """``{"kind": ..., field: value}`` for one step."""
    kind = next(k for k, t in _KINDS.items() if isinstance(step, t))
    body = {k: v for k, v in step.__dict__.items() if v != ""}
    return {"kind": kind, **body}


def step_from_json(data: dict[str, str]) -> Step:
    """Inverse of ``step_to_json``."""
    body = dict(data)
    kind = body.pop("kind")
    if kind not in _KINDS:
        raise ValueError(f"unknown step kind {kind!r}; use one of {', '.join(_KINDS)}")
    return _KINDS[kind](**body)  # type: ignore[no-any-return]
