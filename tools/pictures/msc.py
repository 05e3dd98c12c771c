"""Message sequence charts as SVG, written directly (no dependency).

Two lifelines (A and B for a counterexample of ``verify``; the stack and the
peer for a scenario of ``run``), one row per step, segments as slanted
arrows labelled with their flags: a segment sent at step i and received at
step j is one arrow from row i to row j; a lost one ends in a cross; one
still in flight when the trace ends stops short, dashed. Each endpoint's
state is written beside its lifeline after every step.

The chart is first built as plain data (``Chart``), then drawn; the data is
what the tests look at besides the SVG.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from html import escape  # quotes too: text from a run.json also reaches attributes
from pathlib import Path
from typing import Any

from tcpcheck.model.results import Step

FONT = "DejaVu Sans, Verdana, sans-serif"
ROW = 44  # vertical distance between steps, px
_COLOURS = {"pass": "#2e7d32", "deviation": "#e08a00", "fail": "#c62828", "skipped": "#9aa3ab"}
_MARKS = {"pass": "\u2713", "deviation": "~", "fail": "\u2717", "skipped": "\u2013"}


@dataclass
class Message:
    """One segment on the wire: who sent it, in which row, and its fate."""

    label: str
    sender: str  # "left" or "right"
    sent: float  # row (may be fractional: sent just before the row's action)
    received: float | None = None  # row where it arrived or was lost
    fate: str = "delivered"  # delivered, ignored, lost, in flight, missing
    colour: str = "#1f2933"
    note: str = ""


@dataclass
class Row:
    """What is written in one row: actions and states beside each lifeline."""

    number: str
    left_action: str = ""
    left_state: str = ""
    left_changed: bool = False
    right_action: str = ""
    right_state: str = ""
    right_changed: bool = False
    middle: str = ""  # a note between the lifelines: "(nothing sent)"
    margin: str = ""  # a network event (lose, duplicate), written left of the chart
    verdict: str = ""  # scenario steps: pass, deviation, fail, skipped
    tooltip: str = ""


@dataclass
class Chart:
    """A whole chart: two lifelines, rows, and the messages between them."""

    title: str
    left: str
    right: str
    left_initial: str = ""
    right_initial: str = ""
    rows: list[Row] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    subtitle: str = ""


@cache
def _wire_flags() -> dict[str, tuple[frozenset[str], bool]]:
    """Segment name -> (flags, acknowledges the receiver's FIN), from the spec."""
    from tcpcheck.model.compose import wire_alphabet
    from tcpcheck.model.spec import load_spec

    return {name: (w.flags, w.acks_fin) for name, w in wire_alphabet(load_spec()).items()}


def segment_label(name: str) -> str:
    """A segment's flags as the textbook writes them: ``SYN,ACK``,
    ``FIN,ACK``, ``ACK (of FIN)``; unknown names (DATA) as they are."""
    known = _wire_flags().get(name)
    if known is None:
        return name.replace("_", ",") if name in ("SYN_ACK", "RST_ACK") else name
    flags, acks_fin = known
    text = ",".join(f for f in ("SYN", "FIN", "RST", "ACK") if f in flags)
    return text + (" (of FIN)" if acks_fin else "")


# ------------------------------------------------------------ from verify ---


def chart_from_trace(steps: Sequence[Step], title: str) -> Chart:
    """A counterexample of ``verify`` as a chart of A and B.

    Segments are followed through the channels: a send appends to the
    sender's outbound channel; a receive, a loss or an ignored segment takes
    the one element whose removal turns the channel before into the channel
    after (any position, so reordering channels work too).
    """
    if not steps:
        return Chart(title, "A", "B")
    first = steps[0]
    chart = Chart(title, "A", "B", first.states.get("A", ""), first.states.get("B", ""))
    side = {"A": "left", "B": "right"}
    queues: dict[str, list[Message]] = {ch: [] for ch in first.channels}
    # Segments already queued in the initial state: sent "before" row 0.
    for ch, segs in first.channels.items():
        for seg in segs:
            msg = Message(segment_label(seg), side.get(ch[:1], "left"), 0.0)
            queues[ch].append(msg)
            chart.messages.append(msg)
    previous = first
    for row_index, st in enumerate(steps[1:], start=1):
        row = Row(str(st.step))
        for ch, after in st.channels.items():
            before = previous.channels.get(ch, [])
            queue = queues.setdefault(ch, [])
            removed = _removed_index(before, after)
            if removed is not None and removed < len(queue):
                msg = queue.pop(removed)
                msg.received = float(row_index)
                if st.actor == "net":
                    msg.fate = "lost"
                elif st.kind == "ignore":
                    msg.fate = "ignored"
            # Whatever is new at the tail was sent in this step (by the
            # channel's sender, or copied there by the network).
            for seg in after[len(before):]:
                sender = side.get(ch[:1], "left")
                label = segment_label(seg) + (" (copy)" if st.actor == "net" else "")
                msg = Message(label, sender, float(row_index))
                queue.append(msg)
                chart.messages.append(msg)
        action = _trace_action(st)
        if st.actor in side:
            setattr(row, f"{side[st.actor]}_action", action)
        elif st.actor == "net":
            row.margin = "net: " + action
        for ep, s in side.items():
            setattr(row, f"{s}_state", st.states.get(ep, ""))
            setattr(row, f"{s}_changed", st.states.get(ep) != previous.states.get(ep))
        row.tooltip = f"step {st.step}: {st.actor or '-'} {st.action}" + (
            f" [{', '.join(st.transitions)}]" if st.transitions else "")
        chart.rows.append(row)
        previous = st
    for msg in chart.messages:
        if msg.received is None:
            msg.fate = "in flight"
    return chart


def _removed_index(before: Sequence[str], after: Sequence[str]) -> int | None:
    """Which element of ``before`` a step took, or None when it took none.

    A step changes a channel in one way only: a receive, loss or ignore
    removes one segment (anywhere, under reordering); a send or duplicate
    appends at the tail. The two never happen to the same channel in one
    step (a receiver sends on its other channel).
    """
    if len(after) >= len(before):
        return None
    for i in range(len(before)):
        if list(before[:i]) + list(before[i + 1:]) == list(after):
            return i
    return None


def _trace_action(st: Step) -> str:
    if st.actor == "net":
        return st.action.replace("lose ", "lost ").replace("duplicate ", "duplicated ")
    if st.kind == "call":
        return f"{st.event}()" if st.event else st.action
    if st.kind == "timer":
        return f"timer {st.event}" if st.event else st.action
    if st.kind == "retransmit":
        return "retransmit"
    if st.kind == "ignore":
        return f"rcv {segment_label(st.received)}: ignored"
    if st.kind == "rcv":
        return f"rcv {segment_label(st.received)}"
    return st.action


# --------------------------------------------------------------- from run ---


def chart_from_result(result: dict[str, Any], stack: str = "stack") -> Chart:
    """A scenario result of ``tcpcheck run --json`` as a chart of the stack
    under test (left) and the peer the runner plays (right)."""
    name = str(result.get("scenario", "scenario"))
    verdict = str(result.get("verdict", ""))
    chart = Chart(f"{name}: {verdict}", stack, "peer (tcpcheck)", "", "")
    chart.subtitle = ", ".join(str(t) for t in result.get("transitions", []))
    last_state = ""
    for n, step in enumerate(result.get("steps", []), start=1):
        text = str(step.get("step", ""))
        kind, _, arg = text.partition(" ")
        v = str(step.get("verdict", ""))
        state = str(step.get("state", "")).split(" ", 1)[0]
        row = Row(str(step.get("index", n)), verdict=v)
        row.tooltip = "; ".join(str(step[k]) for k in ("step", "verdict", "expected", "observed", "note", "state")
                                if step.get(k)) + (f"; went {step['path']}" if step.get("path") else "")
        row.left_state = state if v != "skipped" else ""
        row.left_changed = bool(state) and state != last_state
        if state and v != "skipped":
            last_state = state
        colour = _COLOURS.get(v, "#1f2933") if v in ("fail", "deviation") else "#1f2933"
        if kind == "call":
            row.left_action = f"{arg.split(' ', 1)[0]}()"
        elif kind == "elapse":
            row.left_action = f"timer {arg}"
        elif kind == "expect_state":
            row.left_action = f"state {arg}?"
            if v in ("fail", "deviation") and step.get("observed"):
                row.left_action += f" {_MARKS.get(v, '')}"
        elif kind == "inject":
            seg, _, variant = arg.partition(" ")
            chart.messages.append(Message(segment_label(seg) + (f" {variant}" if variant else ""), "right",
                                          n - 0.7, float(n), "delivered" if v != "skipped" else "skipped"))
        elif kind == "expect":
            seg = arg.strip()
            observed = str(step.get("observed", ""))
            if v == "skipped":
                chart.messages.append(Message(segment_label(seg), "left", n - 0.7, float(n), "skipped",
                                              _COLOURS["skipped"]))
            elif v == "pass" and seg == "NONE":
                row.middle = "(nothing sent)"
            elif v == "pass":
                chart.messages.append(Message(segment_label(seg), "left", n - 0.7, float(n)))
            elif observed in ("", "NONE"):
                chart.messages.append(Message(f"{segment_label(seg)} expected, none sent", "left", n - 0.7,
                                              float(n), "missing", colour))
            else:
                chart.messages.append(Message(f"{segment_label(observed)} (expected {segment_label(seg)})",
                                              "left", n - 0.7, float(n), "delivered", colour))
        chart.rows.append(row)
    return chart


def chart_from_pair(result: dict[str, Any], stack: str = "Linux") -> Chart:
    """A loopback result of ``tcpcheck run --loopback --json`` as a chart of
    its two real endpoints: one row per call, delivery and state change in
    the order they happened, each side's traced state beside its lifeline
    (sock_diag's, for what the kernel does not trace, in the tooltip), each
    segment from the row that sent it to the row that delivered it. Segments
    the model has no name for (data, window updates) are grey; the event
    the model could not explain, if any, is marked ``fail``."""
    name = str(result.get("scenario", "scenario"))
    verdict = str(result.get("verdict", ""))
    observed = result.get("observed") if isinstance(result.get("observed"), dict) else {}
    assert isinstance(observed, dict)
    endpoints = observed.get("endpoints", {})
    segments = [s for s in observed.get("segments", []) if isinstance(s, dict)]
    events = [e for e in observed.get("events", []) if isinstance(e, dict)]
    check = result.get("check") if isinstance(result.get("check"), dict) else {}
    assert isinstance(check, dict)
    model = check.get("model", {}) if isinstance(check.get("model"), dict) else {}
    unmatched = model.get("unmatched", -1) if not model.get("explained", True) else -1

    def who(side: str) -> str:
        where = endpoints.get(side)
        return f"{side} ({stack} {where[0]}:{where[1]})" if isinstance(where, list) and len(where) == 2 else side

    chart = Chart(f"{name}: {verdict}", who("A"), who("B"), "CLOSED", "CLOSED")
    paths = check.get("paths", {}) if isinstance(check.get("paths"), dict) else {}
    chart.subtitle = "; ".join(f"{s}: {' -> '.join(p.get('states', []))}" for s, p in sorted(paths.items())
                               if isinstance(p, dict))
    side_of = {"A": "left", "B": "right"}
    states = {"A": "CLOSED", "B": "CLOSED"}
    messages: dict[int, Message] = {}
    row_no = 0.0
    for n, e in enumerate(events):
        kind, side = str(e.get("kind", "")), str(e.get("side", ""))
        if side not in side_of:
            continue
        seg = segments[int(e["segment"])] if kind in ("send", "deliver") and 0 <= int(e.get("segment", -1)) < \
            len(segments) else {}
        if kind == "send":
            wire = str(seg.get("wire", ""))
            label = segment_label(wire) if wire else ("data" if seg.get("length") else "ACK (not in the model)")
            msg = Message(label, side_of[side], row_no + 0.35 if row_no else 0.0, None, "in flight",
                          "#1f2933" if wire else "#9aa3ab", str(seg.get("note", "")))
            messages[int(e["segment"])] = msg
            chart.messages.append(msg)
            continue
        row_no += 1
        row = Row(str(n), verdict="fail" if n == unmatched else "")
        row.tooltip = f"event #{n}: {e.get('kind')} {side}" + "".join(
            f"; {k} {e[k]}" for k in ("op", "old", "new", "source", "detail") if e.get(k))
        if kind == "call":
            setattr(row, f"{side_of[side]}_action", f"{e.get('op', '')}()")
        elif kind == "deliver":
            setattr(row, f"{side_of[side]}_action", "rcv")
            held = messages.get(int(e.get("segment", -1)))
            if held is not None:
                held.received, held.fate = row_no, "delivered"
        elif kind == "state":
            states[side] = str(e.get("new", ""))
            setattr(row, f"{side_of[side]}_changed", True)
            if e.get("source") not in (None, "", "trace"):
                setattr(row, f"{side_of[side]}_action", f"({e.get('source')})")
        row.left_state, row.right_state = states["A"], states["B"]
        chart.rows.append(row)
    return chart


# ------------------------------------------------------------------ draw ---


def _token(text: str) -> str:
    """``text`` as a safe class-name token: anything else than letters,
    digits, ``_`` and ``-`` becomes ``-`` (verdicts and fates come from a
    run.json, which is input)."""
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text)


def _text(x: float, y: float, s: str, size: int = 12, anchor: str = "start", weight: str = "normal",
          fill: str = "#1f2933", extra: str = "") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" font-weight="{weight}" '
            f'fill="{escape(fill)}"{extra}>{escape(s)}</text>')


def render_svg(chart: Chart, ident: str = "msc") -> str:
    """The chart as a standalone SVG document (deterministic text).

    ``ident`` prefixes the ids inside the SVG, so that many charts can be
    inlined into one HTML page without clashing ids."""
    has_verdicts = any(r.verdict for r in chart.rows)
    left_x, right_x = 270.0, 590.0
    width = 880 if has_verdicts else 850
    top = 96.0 if chart.subtitle else 80.0
    head_y = top  # lifeline headers
    first_row = head_y + 62
    rows = len(chart.rows)
    bottom = first_row + (rows + (1 if any(m.fate == "in flight" for m in chart.messages) else 0)) * ROW
    height = int(bottom + 40)

    def y_of(row: float) -> float:
        return first_row + (row - 1) * ROW

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="{FONT}" class="msc">',
        f"<title>{escape(chart.title)}</title>",
        "<defs>"
        f'<marker id="{ident}-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" markerHeight="8" '
        'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="context-stroke"/></marker>'
        "</defs>",
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
        _text(20, 30, chart.title, 16, weight="bold"),
    ]
    if chart.subtitle:
        out.append(_text(20, 52, _shorten(chart.subtitle, 120), 11, fill="#52606d"))
    # Lifelines with their names and initial states.
    for x, name, initial in ((left_x, chart.left, chart.left_initial), (right_x, chart.right, chart.right_initial)):
        w = max(90.0, 8.0 * len(name) + 24)
        out.append(f'<rect x="{x - w / 2:.1f}" y="{head_y - 22:.1f}" width="{w:.1f}" height="30" rx="5" '
                   'fill="#eef2f7" stroke="#1f2933" stroke-width="1.2"/>')
        out.append(_text(x, head_y - 2, name, 13, "middle", "bold"))
        out.append(f'<line x1="{x}" y1="{head_y + 8:.1f}" x2="{x}" y2="{bottom:.1f}" stroke="#52606d" '
                   'stroke-width="1.2" stroke-dasharray="6 4"/>')
        if initial:
            anchor, dx = ("end", -12.0) if x == left_x else ("start", 12.0)
            out.append(_text(x + dx, head_y + 30, initial, 12, anchor, "bold", extra=' class="state"'))
    out.append(_text(20, head_y + 30, "start" if chart.left_initial else "", 11, fill="#7b8794"))

    for i, row in enumerate(chart.rows, start=1):
        y = y_of(i)
        if i % 2 == 0:
            out.append(f'<rect x="8" y="{y - ROW / 2:.1f}" width="{width - 16}" height="{ROW}" fill="#f7f9fb"/>')
        out.append(f'<g class="step"><title>{escape(row.tooltip)}</title>')
        out.append(_text(20, y + 4, f"#{row.number}", 11, fill="#7b8794"))
        for side, x in (("left", left_x), ("right", right_x)):
            action: str = getattr(row, f"{side}_action")
            state: str = getattr(row, f"{side}_state")
            changed: bool = getattr(row, f"{side}_changed")
            anchor, dx = ("end", -12.0) if side == "left" else ("start", 12.0)
            if action:
                out.append(f'<circle cx="{x}" cy="{y:.1f}" r="4" fill="#1f2933"/>')
                out.append(_text(x + dx, y - 5, action, 11, anchor, fill="#3e4c59", extra=' font-style="italic"'))
            if state:
                out.append(_text(x + dx, y + (11 if action else 4), state, 12, anchor,
                                 "bold" if changed else "normal", "#1f2933" if changed else "#7b8794",
                                 ' class="state"'))
        if row.margin:
            # Clear of the arrows (and of a lost segment's cross).
            out.append(_text(56, y + 4, row.margin, 11, fill="#52606d", extra=' font-style="italic"'))
        if row.middle:
            out.append(_text((left_x + right_x) / 2, y + 4, row.middle, 11, "middle", fill="#52606d",
                             extra=' font-style="italic"'))
        if row.verdict:
            colour = _COLOURS.get(row.verdict, "#1f2933")
            out.append(_text(width - 20, y + 4, f"{_MARKS.get(row.verdict, '')} {row.verdict}", 11, "end",
                             "bold", colour, f' class="verdict verdict-{_token(row.verdict)}"'))
        out.append("</g>")

    placed: list[tuple[float, float, float]] = []  # label centres so far, to keep labels apart
    for msg in chart.messages:
        out.extend(_arrow(msg, left_x, right_x, y_of, bottom, ident, placed))
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _arrow(msg: Message, left_x: float, right_x: float, y_of: Any, bottom: float, ident: str,
           placed: list[tuple[float, float, float]]) -> list[str]:
    x1, x2 = (left_x, right_x) if msg.sender == "left" else (right_x, left_x)
    y1 = y_of(msg.sent) if msg.sent > 0 else y_of(0.3)
    if msg.received is not None:
        y2 = y_of(msg.received)
    else:
        y2 = bottom - 8
    colour = msg.colour
    dash = ""
    end_x = x2
    if msg.fate in ("lost", "missing"):
        end_x = x1 + (x2 - x1) * 0.55
        y2 = y1 + (y2 - y1) * 0.55 if msg.fate == "lost" else y2
        if msg.fate == "lost":
            # The cross sits in the row where the network dropped it.
            y2 = y_of(msg.received) if msg.received is not None else y2
    elif msg.fate == "in flight":
        # Parallel to a one-row delivery, stopping short of the receiver.
        end_x = x1 + (x2 - x1) * 0.6
        y2 = y1 + ROW * 0.6
        dash = ' stroke-dasharray="5 4"'
    elif msg.fate == "skipped":
        colour = _COLOURS["skipped"]
        dash = ' stroke-dasharray="3 3"'
    if msg.fate == "missing":
        dash = ' stroke-dasharray="5 4"'
    marker = f' marker-end="url(#{ident}-arrow)"' if msg.fate not in ("lost", "missing") else ""
    parts = [f'<g class="segment fate-{_token(msg.fate)}">',
             f"<title>{escape(msg.label)}: {escape(msg.fate)}</title>",
             f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{end_x:.1f}" y2="{y2:.1f}" stroke="{colour}" '
             f'stroke-width="1.6"{dash}{marker}/>']
    if msg.fate in ("lost", "missing"):
        s = 6
        parts.append(f'<path d="M{end_x - s:.1f},{y2 - s:.1f} L{end_x + s:.1f},{y2 + s:.1f} '
                     f'M{end_x - s:.1f},{y2 + s:.1f} L{end_x + s:.1f},{y2 - s:.1f}" stroke="#c62828" '
                     'stroke-width="2.2"/>')
    # The label rides on the arrow, rotated with it, with a white halo.
    # Where along the arrow: the middle, unless another label is there
    # already (crossing or overlapping arrows), then a little before or after.
    # A lost segment's label sits near its sender, away from the cross.
    suffix = {"ignored": " (ignored)", "lost": " (lost)", "in flight": " (in flight)"}.get(msg.fate, "")
    half = 3.8 * len(msg.label + suffix)  # half the label's width at 12 px bold, roughly
    candidates = {"in flight": (0.6, 0.4, 0.8, 0.3), "lost": (0.3, 0.5, 0.2, 0.7)}.get(
        msg.fate, (0.5, 0.3, 0.7, 0.2, 0.8))
    for at in candidates:
        mx, my = x1 + (end_x - x1) * at, y1 + (y2 - y1) * at
        if all(abs(mx - px) > half + ph or abs(my - py) > 16 for px, py, ph in placed):
            break
    placed.append((mx, my, half))
    angle = math.degrees(math.atan2(y2 - y1, end_x - x1))
    if angle > 90 or angle < -90:
        angle += 180
    parts.append(
        f'<text x="{mx:.1f}" y="{my - 5:.1f}" font-size="12" font-weight="bold" text-anchor="middle" '
        f'fill="{colour}" stroke="#ffffff" stroke-width="3" paint-order="stroke" '
        f'transform="rotate({angle:.2f} {mx:.1f} {my:.1f})" class="flags">{escape(msg.label + suffix)}</text>')
    parts.append("</g>")
    return parts


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def write_trace_svg(steps: list[Step], path: Path, title: str) -> None:
    """Draw a ``verify`` counterexample as a sequence chart at ``path`` (atomically)."""
    from tcpcheck.tools.pictures.diagram import write_atomic

    write_atomic(path, render_svg(chart_from_trace(steps, title)))


def write_result_svg(result: dict[str, Any], path: Path, stack: str = "stack") -> None:
    """Draw one scenario result of ``tcpcheck run --json`` at ``path`` (atomically)."""
    from tcpcheck.tools.pictures.diagram import write_atomic

    write_atomic(path, render_svg(chart_from_result(result, stack)))
