"""An observed loopback run as data: the segments seen on ``lo`` and the
events of both endpoints, in the order they happened. Pure: no I/O.

Events are of four kinds, each with a time (CLOCK_REALTIME, ns):

* ``call``     a socket call of ``side`` (the runner's marker in the trace)
* ``deliver``  the runner handed ``segment`` to ``side`` (its receiver)
* ``send``     ``side`` sent ``segment`` (the capture on ``lo``)
* ``state``    ``side``'s endpoint went from ``old`` to ``new`` (RFC names;
               ``source`` says how it was seen: ``trace`` for the
               tracepoint, ``sock_diag`` for what Linux does not trace,
               ``sample`` when tracing is unavailable)

A segment is named in the model's vocabulary (``wire``: SYN, SYN_ACK, ACK,
ACK_OF_FIN, FIN, FIN_ACK_OF_FIN, RST, RST_ACK) from its flags and from what
its acknowledgment number newly covers of the receiver's SYN and FIN; a
segment the model has no name for (data, a window update, an ACK that
acknowledges no control bit for the first time) keeps ``wire`` empty and
says why in ``note``: the model abstracts data away.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from tcpcheck.tools.runner.packets import ACK, FIN, RST, SYN, flag_text

KINDS = ("call", "deliver", "send", "state")
SOURCES = ("trace", "sock_diag", "sample", "")
MASK32 = 0xFFFFFFFF


def _seq_geq(a: int, b: int) -> bool:
    return (a - b) & MASK32 < 0x80000000


@dataclass(frozen=True)
class Segment:
    """A segment one endpoint sent on ``lo``."""

    index: int
    ns: int
    sender: str  # A or B
    flags: int
    seq: int
    ack: int
    length: int = 0  # payload bytes
    wire: str = ""  # the model's name, "" when the model has none
    note: str = ""

    def text(self) -> str:
        """``A->B FIN (FA seq 1 ack 1)``."""
        other = "B" if self.sender == "A" else "A"
        name = self.wire or "unmodelled"
        extra = f" len {self.length}" if self.length else ""
        return f"{self.sender}->{other} {name} ({flag_text(self.flags)} seq {self.seq} ack {self.ack}{extra})"


@dataclass(frozen=True)
class Event:
    """One thing that happened in the run (see the module docstring)."""

    ns: int
    kind: str
    side: str
    op: str = ""  # call: the socket call
    segment: int = -1  # send, deliver: index into ObservedRun.segments
    old: str = ""  # state
    new: str = ""
    source: str = ""
    detail: str = ""

    def text(self, segments: list[Segment] | None = None) -> str:
        """One readable line."""
        if self.kind == "call":
            return f"{self.side}: call {self.op}"
        if self.kind == "state":
            via = f" ({self.source})" if self.source and self.source != "trace" else ""
            return f"{self.side}: {self.old} -> {self.new}{via}"
        seg = segments[self.segment].text() if segments and 0 <= self.segment < len(segments) else f"#{self.segment}"
        return f"{self.side}: {'sends' if self.kind == 'send' else 'receives'} {seg}"


@dataclass
class ObservedRun:
    """Everything seen of one loopback scenario."""

    endpoints: dict[str, tuple[str, int]]  # side -> (address, port)
    segments: list[Segment] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    observer: str = "trace"  # "trace": tracepoint + sock_diag; "sample": sock_diag after each step
    notes: list[str] = field(default_factory=list)

    def path(self, side: str) -> list[str]:
        """The side's states in order, from CLOSED."""
        states = ["CLOSED"]
        for e in self.events:
            if e.kind == "state" and e.side == side:
                states.append(e.new)
        return states

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (the recorded run)."""
        return {
            "endpoints": {k: list(v) for k, v in self.endpoints.items()},
            "observer": self.observer,
            "notes": list(self.notes),
            "segments": [asdict(s) for s in self.segments],
            "events": [{k: v for k, v in asdict(e).items() if v not in ("", -1) or k in ("ns", "kind", "side")}
                       for e in self.events],
        }

    @classmethod
    def from_json(cls, data: Any) -> ObservedRun:
        """Inverse of ``to_json``; ValueError names the field at fault."""
        if not isinstance(data, dict):
            raise ValueError("an observed run is a JSON object")
        endpoints = data.get("endpoints")
        if not isinstance(endpoints, dict) or set(endpoints) != {"A", "B"}:
            raise ValueError("field 'endpoints': an object with A and B, each [address, port]")
        segments = []
        for n, row in enumerate(data.get("segments", [])):
            try:
                segments.append(Segment(**row))
            except TypeError as exc:
                raise ValueError(f"segments[{n}]: {exc}") from None
            if segments[-1].index != n:
                raise ValueError(f"segments[{n}] field 'index': must be {n}")
        events = []
        for n, row in enumerate(data.get("events", [])):
            try:
                event = Event(**row)
            except TypeError as exc:
                raise ValueError(f"events[{n}]: {exc}") from None
            if event.kind not in KINDS:
                raise ValueError(f"events[{n}] field 'kind': {event.kind!r} is not one of {', '.join(KINDS)}")
            if event.side not in ("A", "B"):
                raise ValueError(f"events[{n}] field 'side': {event.side!r} is not A or B")
            if event.kind in ("send", "deliver") and not 0 <= event.segment < len(segments):
                raise ValueError(f"events[{n}] field 'segment': no segment #{event.segment}")
            events.append(event)
        return cls({k: (str(v[0]), int(v[1])) for k, v in endpoints.items()}, segments, events,
                   str(data.get("observer", "trace")), [str(n) for n in data.get("notes", [])])


class Classifier:
    """Names the segments of one connection in the model's vocabulary, in
    the order they were sent (what each acknowledgment newly covers depends
    on what was acknowledged before)."""

    def __init__(self) -> None:
        self.syn_end: dict[str, int] = {}  # sender -> sequence number after its SYN
        self.fin_end: dict[str, int] = {}  # sender -> sequence number after its FIN
        self.acked_syn: set[str] = set()  # senders that have acknowledged the peer's SYN
        self.acked_fin: set[str] = set()

    def name(self, sender: str, flags: int, seq: int, ack: int, length: int) -> tuple[str, str]:
        """(wire, note) for one segment ``sender`` sent."""
        peer = "B" if sender == "A" else "A"
        if flags & SYN:
            self.syn_end[sender] = (seq + 1) & MASK32
        if flags & FIN:
            self.fin_end[sender] = (seq + length + (1 if flags & SYN else 0) + 1) & MASK32
        has_ack = bool(flags & ACK)
        covers_syn = has_ack and peer in self.syn_end and _seq_geq(ack, self.syn_end[peer])
        covers_fin = has_ack and peer in self.fin_end and _seq_geq(ack, self.fin_end[peer])
        new_syn = covers_syn and sender not in self.acked_syn
        new_fin = covers_fin and sender not in self.acked_fin
        if covers_syn:
            self.acked_syn.add(sender)
        if covers_fin:
            self.acked_fin.add(sender)
        if flags & RST:
            return ("RST_ACK", "") if has_ack else ("RST", "")
        if flags & SYN:
            return ("SYN_ACK", "") if has_ack else ("SYN", "")
        if flags & FIN:
            if not has_ack:
                return "", "a FIN without ACK: the model's FIN always acknowledges"
            return ("FIN_ACK_OF_FIN", "") if covers_fin else ("FIN", "")
        if length:
            return "", "data: the model has no data"
        if new_fin:
            return "ACK_OF_FIN", ""
        if new_syn:
            return "ACK", ""
        return "", "an ACK that newly acknowledges no SYN or FIN (data, window or duplicate): not in the model"
