"""Sequence charts of the timed model (``tcpcheck verify --timed``).

Like ``msc.chart_from_trace``, with what the timed model adds: each segment
is labelled with the incarnation that sent it (``#0``) and, where it
arrives, its age in ticks; each tick of the clock is a row of its own, with
the time since the start (``t=3``) in the margin; each endpoint's state
carries its incarnation and the ticks left on its running timers. Channels
of the timed model are multisets, so segments are followed by (name,
incarnation), not by position.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tcpcheck.model.results import Step
from tcpcheck.model.timed import parse_segment
from tcpcheck.tools.pictures.msc import Chart, Message, Row, _trace_action, render_svg, segment_label


def chart_from_timed_trace(steps: Sequence[Step], title: str) -> Chart:
    """A counterexample of the timed model as a chart of A and B."""
    if not steps:
        return Chart(title, "A", "B")
    first = steps[0]
    chart = Chart(title, "A", "B", first.states.get("A", ""), first.states.get("B", ""))
    chart.subtitle = "#n: incarnation that sent the segment; age: ticks in flight when it arrived or was lost"
    side = {"A": "left", "B": "right"}
    flying: dict[str, dict[tuple[str, int], list[Message]]] = {ch: {} for ch in first.channels}
    clock = 0
    previous = first
    for row_index, st in enumerate(steps[1:], start=1):
        row = Row(str(st.step))
        if st.kind == "tick":
            clock += 1
            row.margin = f"tick: t={clock}"
        for ch, after in st.channels.items():
            before = [parse_segment(s) for s in previous.channels.get(ch, [])]
            now = [parse_segment(s) for s in after]
            keys_before = [(n, i) for n, i, _ in before]
            keys_after = [(n, i) for n, i, _ in now]
            queue = flying.setdefault(ch, {})
            for key in set(keys_before):
                for _ in range(keys_before.count(key) - keys_after.count(key)):
                    # the oldest copy of that segment is the one that went
                    age = max(a for n, i, a in before if (n, i) == key)
                    msg = queue[key].pop(0)
                    msg.received = float(row_index)
                    msg.label += f" \u00b7 age {age}"
                    if st.actor == "net":
                        msg.fate = "lost"
                    elif st.kind == "ignore":
                        msg.fate = "ignored"
            for key in set(keys_after):
                for _ in range(keys_after.count(key) - keys_before.count(key)):
                    msg = Message(f"{segment_label(key[0])} #{key[1]}", side.get(ch[:1], "left"), float(row_index))
                    queue.setdefault(key, []).append(msg)
                    chart.messages.append(msg)
        if st.actor in side:
            action = _trace_action(st)
            if st.kind == "ignore" and st.event:
                action = f"rcv {segment_label(parse_segment(st.received)[0])}: {st.event}"
            elif st.kind in ("rcv", "ignore"):
                action = action.replace(st.received, segment_label(parse_segment(st.received)[0]))
            setattr(row, f"{side[st.actor]}_action", action)
        elif st.actor == "net":
            row.margin = "net: lost"
        for ep, s in side.items():
            setattr(row, f"{s}_state", st.states.get(ep, ""))
            setattr(row, f"{s}_changed", st.states.get(ep, "").split()[:2] != previous.states.get(ep, "").split()[:2])
        row.tooltip = f"step {st.step}: {st.actor or '-'} {st.action}"
        chart.rows.append(row)
        previous = st
    for msg in chart.messages:
        if msg.received is None:
            msg.fate = "in flight"
    return chart


def write_timed_trace_svg(steps: list[Step], path: Path, title: str) -> None:
    """Write a timed counterexample as an SVG sequence chart."""
    from tcpcheck.tools.outputs import write_file

    write_file(path, render_svg(chart_from_timed_trace(steps, title)))
