"""Verdicts and counterexample traces, in one format for every engine."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from tcpcheck.model import gcl


@dataclass(frozen=True)
class Step:
    """One step of a trace: who did what, and the global state after it."""

    step: int
    actor: str  # "A", "B", "net", or "" for the initial state
    action: str  # human text: "call abort -> sends RST"
    kind: str
    event: str
    received: str
    sends: tuple[str, ...]
    transitions: tuple[str, ...]
    states: dict[str, str]  # endpoint -> state name
    channels: dict[str, list[str]]  # "AB"/"BA" -> segments queued, head first
    command: str = ""  # the guarded command's name, for replay

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["sends"] = list(self.sends)
        d["transitions"] = list(self.transitions)
        return d


def trace(system: gcl.System, states: list[tuple[int, ...]], commands: list[int | None]) -> list[Step]:
    """Turn a path (states, and the command taken into each) into Steps."""
    out = []
    for n, (state, cmd) in enumerate(zip(states, commands, strict=True)):
        shown = system.show(state)
        ep_states = {ep: str(shown[ep]) for ep in system.endpoints}
        chans = {ch: list(shown[ch]) for ch in system.channels}  # type: ignore[call-overload]
        if cmd is None:
            out.append(Step(n, "", "initial state", "init", "", "", (), (), ep_states, chans))
            continue
        c = system.commands[cmd]
        a = c.action
        out.append(
            Step(
                n,
                a.actor,
                a.describe().split(": ", 1)[1],
                a.kind,
                a.event,
                a.received,
                a.sends,
                a.transitions,
                ep_states,
                chans,
                c.name,
            )
        )
    return out


@dataclass
class Verdict:
    """What an engine decided about one property."""

    name: str
    kind: str
    expect: str
    verdict: str  # holds | violated | skipped
    engine: str
    method: str = ""  # how it was decided: "exhaustive BFS", "BMC", "k-induction", ...
    bound: int | None = None  # depth or k, where the method has one
    instance: str = ""  # which endpoint's instance failed (A/B), for each-properties
    counterexample: list[Step] | None = None
    witness: list[Step] | None = None
    note: str = ""
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def as_expected(self) -> bool:
        """True when the verdict is the expected one (a skip counts as met)."""
        return self.verdict == "skipped" or self.verdict == self.expect

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "expect": self.expect,
            "verdict": self.verdict,
            "engine": self.engine,
            "method": self.method,
            "bound": self.bound,
            "instance": self.instance,
            "note": self.note,
            "seconds": round(self.seconds, 6),
            "counterexample": None if self.counterexample is None else [s.to_json() for s in self.counterexample],
            "witness": None if self.witness is None else [s.to_json() for s in self.witness],
            **self.extra,
        }
