"""A capture split into connections, each checked by an ``Observer``.

A connection is one 4-tuple incarnation: a SYN (without ACK) that starts a
new sequence space on a 4-tuple whose previous connection closed, or whose
opener used another initial sequence number, begins the next connection.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tcpcheck.model.spec import Spec
from tcpcheck.tools.check.capture import ACK, FIN, RST, SYN, Capture, Segment
from tcpcheck.tools.check.observer import Observer, rules_for
from tcpcheck.tools.runner.profile import Profile


def endpoint(address: str, port: int) -> str:
    """``127.0.0.1:80``, ``[::1]:80``."""
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


@dataclass
class Connection:
    """One connection of the capture and its observer."""

    number: int
    a: tuple[str, int]
    b: tuple[str, int]
    observer: Observer
    segments: list[Segment] = field(default_factory=list)
    opener_isn: int | None = None
    ended: bool = False  # a RST, or FINs from both sides, were seen

    @property
    def verdict(self) -> str:
        """``explained`` or ``unexplained`` (a segment the spec cannot explain)."""
        return "unexplained" if self.observer.flag else "explained"

    def final_states(self, name: str, every: bool = False) -> list[str]:
        """The states endpoint ``name`` is in after the last segment by the
        cheapest explanations (``every``: by any explanation)."""
        obs = self.observer
        configs = obs.sides[name].configs if every else obs.best(name)
        return sorted({c.state for c in configs}, key=obs.spec.state_names.index)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        obs = self.observer
        return {
            "connection": self.number,
            "A": endpoint(*self.a),
            "B": endpoint(*self.b),
            "packets": obs.packets,
            "first_packet": obs.first,
            "last_packet": obs.last,
            "start": obs.start,
            "verdict": self.verdict,
            "flag": obs.flag.to_json() if obs.flag else None,
            "paths": {name: [s.to_json() for s in obs.path(name)] for name in ("A", "B")},
            "states": {name: state_walk(obs, name) for name in ("A", "B")},
            "final": {name: self.final_states(name) for name in ("A", "B")},
            "possible": {name: self.final_states(name, every=True) for name in ("A", "B")},
            "notes": list(obs.notes),
        }


def state_walk(obs: Observer, name: str) -> list[str]:
    """The states of the cheapest path, in order (``CLOSED, SYN_SENT, ...``)."""
    steps = obs.path(name)
    if not steps:
        best = obs.best(name)
        return sorted({c.state for c in best}, key=obs.spec.state_names.index)[:1] if best else []
    walk = [steps[0].source]
    for s in steps:
        if s.target != walk[-1]:
            walk.append(s.target)
    return walk


def check_capture(capture: Capture, spec: Spec, profile: Profile | None,
                  keep_segments: Callable[[int], bool] | None = None,
                  tick: Callable[[int], None] | None = None) -> list[Connection]:
    """Split ``capture`` into connections and check each. ``keep_segments``
    says which connections (by number) keep their segments for a chart."""
    current: dict[tuple[tuple[str, int], tuple[str, int]], Connection] = {}
    connections: list[Connection] = []
    rules = rules_for(spec, profile)
    for n, seg in enumerate(capture.segments):
        if tick is not None and n % 20000 == 0:
            tick(n)
        here, there = (seg.src, seg.sport), (seg.dst, seg.dport)
        key = (here, there) if here < there else (there, here)
        conn = current.get(key)
        opening = seg.flags & (SYN | ACK) == SYN
        if conn is None or (opening and (conn.ended or (conn.opener_isn is not None and conn.opener_isn != seg.seq
                                                         and conn.a == here))):
            conn = Connection(len(connections) + 1, here, there, Observer(rules, here, there, opening))
            if opening:
                conn.opener_isn = seg.seq
            current[key] = conn
            connections.append(conn)
        sender = "A" if here == conn.a else "B"
        conn.observer.feed(seg, sender)
        if seg.flags & RST or (seg.flags & FIN and _both_fins(conn.observer)):
            conn.ended = True
        if keep_segments is not None and keep_segments(conn.number):
            conn.segments.append(seg)
    for conn in connections:
        conn.observer.finish()
    return connections


def _both_fins(obs: Observer) -> bool:
    return all(side.fin_seq is not None for side in obs.sides.values())
