"""One connection of a capture as a message sequence chart (the chart code
of ``tools.pictures.msc``): endpoint A on the left, B on the right, a row
per packet, each endpoint's inferred state beside its lifeline, the
segment the spec cannot explain in red."""

from __future__ import annotations

from tcpcheck.tools.check.analyse import Connection, endpoint
from tcpcheck.tools.check.capture import ACK, FIN, PSH, RST, SYN, Segment
from tcpcheck.tools.pictures.msc import Chart, Message, Row

MAX_ROWS = 400


def _label(seg: Segment) -> str:
    names = [n for n, bit in (("SYN", SYN), ("FIN", FIN), ("RST", RST), ("PSH", PSH), ("ACK", ACK)) if seg.flags & bit]
    text = ",".join(names) or "(no flags)"
    return text + (f" len {seg.length}" if seg.length else "")


def chart_for(conn: Connection, title: str = "") -> Chart:
    """The chart of ``conn`` (which must have kept its segments)."""
    obs = conn.observer
    states: dict[str, dict[int, str]] = {}
    first: dict[str, str] = {}
    for name in ("A", "B"):
        steps = obs.path(name)
        first[name] = steps[0].source if steps else (conn.final_states(name) or ["?"])[0]
        at: dict[int, str] = {}
        for step in steps:
            if step.packet is not None:
                at[step.packet] = step.target
        states[name] = at
    chart = Chart(title or f"connection {conn.number}: {conn.verdict}", f"A {endpoint(*conn.a)}",
                  f"B {endpoint(*conn.b)}", first["A"], first["B"])
    chart.subtitle = f"{obs.start}; " + ("; ".join(obs.notes[:2]) if obs.notes else "no inferences needed")
    current = dict(first)
    for n, seg in enumerate(conn.segments[:MAX_ROWS], start=1):
        sender = "A" if (seg.src, seg.sport) == conn.a else "B"
        flagged = obs.flag is not None and obs.flag.packet == seg.number
        row = Row(str(seg.number), verdict="fail" if flagged else "")
        row.tooltip = f"packet {seg.number}: seq {seg.seq} ack {seg.ack}" + (f" - {obs.flag.message}" if flagged
                                                                             and obs.flag else "")
        for name, side in (("A", "left"), ("B", "right")):
            new = states[name].get(seg.number)
            changed = new is not None and new != current[name]
            if new is not None:
                current[name] = new
            setattr(row, f"{side}_state", current[name])
            setattr(row, f"{side}_changed", changed)
        colour = "#c62828" if flagged else "#1f2933"
        chart.messages.append(Message(_label(seg), "left" if sender == "A" else "right", n - 0.7, float(n),
                                      "delivered", colour))
        chart.rows.append(row)
        if flagged:
            break
    if len(conn.segments) > MAX_ROWS:
        chart.subtitle += f"; first {MAX_ROWS} of {len(conn.segments)} packets"
    return chart
