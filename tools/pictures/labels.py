"""Edge labels placed where nothing else is: Graphviz lays the figure out,
then each label that touches an edge, a state or another label moves to
the nearest free spot beside its own edge.

Graphviz's dot keeps labels clear of states but not of other edges (and
its external labels, placed after layout, of nothing but states); on RFC
9293 Figure 5's crowded bottom rows a dozen labels sat on lines. Here the
laid-out drawing (``dot -Tjson``) is read back, labels are moved, and the
result is written as DOT with every position fixed, for ``neato -n2`` to
draw exactly as placed. Units are points, y upwards, as Graphviz has them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

Box = tuple[float, float, float, float]  # x0, y0, x1, y1
Point = tuple[float, float]

MARGIN = 2.5  # points of clear space around a label
STEP = 6.0  # points between candidate spots along an edge
# Layout-only attributes that must not reach the fixed-position DOT.
_DROP = {"_gvid", "_subgraph_cnt", "objects", "edges", "subgraphs", "nodes", "tail", "head", "name", "directed",
         "strict", "xdotversion", "xlp", "xlabel", "lwidth", "lheight"}


@dataclass
class Label:
    """One edge's label: its box now, and the curve it belongs beside."""

    edge: int  # _gvid
    box: Box
    curve: list[Point]
    attribute: str  # "label" or "xlabel"


def text_box(ops: Iterable[dict[str, Any]]) -> Box | None:
    """The box around the text drawn by xdot operations (F sets the size, T draws a line)."""
    size, boxes = 14.0, []
    for op in ops:
        if op["op"] == "F":
            size = float(op["size"])
        elif op["op"] == "T":
            x, y = op["pt"]
            w = float(op["width"])
            x0 = {"l": x, "c": x - w / 2, "r": x - w}[op["align"]]
            # y is the baseline: descenders reach about a quarter of the size below it, capitals 3/4 above
            boxes.append((x0, y - 0.25 * size, x0 + w, y + 0.75 * size))
    if not boxes:
        return None
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))


def bezier(points: Sequence[Point], samples: int = 24) -> list[Point]:
    """Points along a piecewise cubic Bézier curve (1 + 3n control points)."""
    out = [points[0]]
    for i in range(0, len(points) - 3, 3):
        p0, p1, p2, p3 = points[i:i + 4]
        for k in range(1, samples + 1):
            t = k / samples
            a, b, c, d = (1 - t) ** 3, 3 * t * (1 - t) ** 2, 3 * t * t * (1 - t), t ** 3
            out.append((a * p0[0] + b * p1[0] + c * p2[0] + d * p3[0], a * p0[1] + b * p1[1] + c * p2[1] + d * p3[1]))
    return out


def edge_curve(edge: dict[str, Any]) -> list[Point]:
    """An edge as drawn: its spline sampled, plus the corners of its arrowheads."""
    curve: list[Point] = []
    for part in str(edge.get("pos", "")).split(";"):
        pts = [tuple(float(v) for v in item.split(",")) for item in part.split() if item[0] not in "se"]
        if pts:
            curve += bezier([(p[0], p[1]) for p in pts])
    for key in ("_hdraw_", "_tdraw_"):
        for op in edge.get(key, []):
            if op["op"] in ("P", "p"):
                curve += [(float(a), float(b)) for a, b in op["points"]]
    return curve


def node_box(obj: dict[str, Any]) -> Box:
    x, y = (float(v) for v in str(obj["pos"]).split(","))
    w, h = float(obj["width"]) * 36, float(obj["height"]) * 36  # inches to points, halved
    return (x - w, y - h, x + w, y + h)


def _grow(box: Box, by: float) -> Box:
    return (box[0] - by, box[1] - by, box[2] + by, box[3] + by)


def _meet(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _hits(curve: Sequence[Point], box: Box) -> bool:
    """Does the polyline enter the box? (Liang-Barsky clipping per segment)"""
    for (x0, y0), (x1, y1) in zip(curve, curve[1:], strict=False):
        dx, dy, lo, hi = x1 - x0, y1 - y0, 0.0, 1.0
        for p, q in ((-dx, x0 - box[0]), (dx, box[2] - x0), (-dy, y0 - box[1]), (dy, box[3] - y0)):
            if p == 0:
                if q < 0:
                    break
                continue
            t = q / p
            if p < 0:
                lo = max(lo, t)
            else:
                hi = min(hi, t)
            if lo > hi:
                break
        else:
            return True
    return False


@dataclass
class Scene:
    """What a label must keep clear of."""

    nodes: list[Box]
    curves: dict[int, list[Point]]
    placed: list[Box]

    def __post_init__(self) -> None:
        # Curves in short pieces, each with its bounding box, filed in a grid
        # of cells: a spot is tested only against the pieces in its cells.
        self._pieces: list[tuple[Box, list[Point]]] = []
        self._grid: dict[tuple[int, int], list[int]] = {}
        for curve in self.curves.values():
            for i in range(0, max(1, len(curve) - 1), 8):
                piece = curve[i:i + 9]
                xs, ys = [p[0] for p in piece], [p[1] for p in piece]
                bounds = (min(xs), min(ys), max(xs), max(ys))
                for cell in _cells(bounds):
                    self._grid.setdefault(cell, []).append(len(self._pieces))
                self._pieces.append((bounds, piece))

    def _near(self, grown: Box) -> set[int]:
        return {i for cell in _cells(grown) for i in self._grid.get(cell, ())}

    def _crossed(self, grown: Box) -> bool:
        pieces = self._pieces
        return any(_meet(grown, pieces[i][0]) and _hits(pieces[i][1], grown) for i in self._near(grown))

    def clashes(self, box: Box, margin: float = MARGIN) -> int:
        """How many states, labels and edge pieces the box (grown by ``margin``) touches."""
        grown = _grow(box, margin)
        return (sum(_meet(grown, b) for b in self.nodes) + sum(_meet(grown, b) for b in self.placed)
                + sum(_meet(grown, self._pieces[i][0]) and _hits(self._pieces[i][1], grown) for i in self._near(grown)))

    def clear(self, box: Box, margin: float = MARGIN) -> bool:
        """Does the box (grown by ``margin``) touch nothing?"""
        grown = _grow(box, margin)
        return not (any(_meet(grown, b) for b in self.nodes) or any(_meet(grown, b) for b in self.placed)
                    or self._crossed(grown))


CELL = 48.0  # points: the grid that files edge pieces by place


def _cells(box: Box) -> list[tuple[int, int]]:
    return [(i, j) for i in range(math.floor(box[0] / CELL), math.floor(box[2] / CELL) + 1)
            for j in range(math.floor(box[1] / CELL), math.floor(box[3] / CELL) + 1)]


def _candidates(label: Label) -> Iterable[Box]:
    """Spots beside the label's own edge, nearest its middle first; then
    farther out, on a widening ring around the middle."""
    w, h = label.box[2] - label.box[0], label.box[3] - label.box[1]
    curve = label.curve
    if not curve:
        return
    # points along the edge, evenly spaced, ordered from the middle outwards
    along = [curve[0]]
    for p in curve[1:]:
        if math.dist(p, along[-1]) >= STEP:
            along.append(p)
    middle = len(along) // 2
    order = sorted(range(len(along)), key=lambda i: abs(i - middle))
    for gap in (MARGIN + 1.0, MARGIN + 6.0, MARGIN + 12.0):
        for i in order:
            x, y = along[i]
            yield (x + gap, y - h / 2, x + gap + w, y + h / 2)  # right of the line
            yield (x - gap - w, y - h / 2, x - gap, y + h / 2)  # left of it
            yield (x - w / 2, y + gap, x + w / 2, y + gap + h)  # above
            yield (x - w / 2, y - gap - h, x + w / 2, y - gap)  # below
            yield (x + gap, y + gap, x + gap + w, y + gap + h)  # the four corners
            yield (x - gap - w, y + gap, x - gap, y + gap + h)
            yield (x + gap, y - gap - h, x + gap + w, y - gap)
            yield (x - gap - w, y - gap - h, x - gap, y - gap)
    cx, cy = along[middle]
    for radius in range(24, 240, 6):
        for k in range(24):
            a = 2 * math.pi * k / 24
            x, y = cx + radius * math.cos(a), cy + radius * math.sin(a)
            yield (x - w / 2, y - h / 2, x + w / 2, y + h / 2)


def place(layout: dict[str, Any]) -> dict[int, Point]:
    """New centres for the labels that touch something (by edge _gvid); the
    others stay where Graphviz put them."""
    nodes = [node_box(o) for o in layout.get("objects", []) if "pos" in o and o.get("style") != "invis"]
    edges = [e for e in layout.get("edges", []) if e.get("style") != "invis" and "pos" in e]
    curves = {int(e["_gvid"]): edge_curve(e) for e in edges}
    labels = []
    for e in edges:
        for key, attribute in (("_ldraw_", "label"), ("_xldraw_", "xlabel")):
            box = text_box(e.get(key, []))
            if box is not None:
                labels.append(Label(int(e["_gvid"]), box, curves[int(e["_gvid"])], attribute))
    legend = text_box(layout.get("_ldraw_", []))
    scene = Scene(nodes, curves, [legend] if legend else [])
    # A label clear of everything so far keeps Graphviz's place; the others
    # are placed after them, each at the nearest clear spot beside its edge.
    stuck = []
    for lab in labels:
        if not scene.clear(lab.box):
            stuck.append(lab)
        else:
            scene.placed.append(lab.box)
    moved: dict[int, Point] = {}
    for lab in stuck:
        best = next((c for c in _candidates(lab) if scene.clear(c)), None)
        if best is None:  # nowhere clear within reach: the spot touching the fewest things
            best = min(_candidates(lab), key=scene.clashes, default=lab.box)
        scene.placed.append(best)
        # Graphviz centres a label's text on its position: move the centre by what the box moved
        moved[lab.edge] = ((best[0] + best[2] - lab.box[0] - lab.box[2]) / 2,
                           (best[1] + best[3] - lab.box[1] - lab.box[3]) / 2)
    return moved


def _quote(value: object) -> str:
    # Values read back from Graphviz keep their DOT escapes (\n, \l); only quotes need escaping again.
    return '"' + str(value).replace('"', '\\"') + '"'


def _attributes(obj: dict[str, Any], extra: dict[str, str]) -> str:
    items = {k: v for k, v in obj.items() if not k.startswith("_") and k not in _DROP and isinstance(v, str)}
    items.update(extra)
    return "[" + ", ".join(f"{k}={_quote(v)}" for k, v in items.items()) + "]"


def fixed_dot(layout: dict[str, Any], shifts: dict[int, Point]) -> str:
    """The laid-out drawing as DOT with every position fixed (for ``neato -n2``):
    nodes at their places, edges along their splines, each label at its
    place moved by ``shifts`` (external labels become ordinary labels there)."""
    objects = {int(o["_gvid"]): o for o in layout.get("objects", [])}
    lines = [f"digraph {_quote(layout.get('name', 'G'))} {{",
             f"  graph {_attributes(layout, {})};"]
    for o in objects.values():
        if "pos" in o and o.get("style") != "invis":
            lines.append(f"  {_quote(o['name'])} {_attributes(o, {})};")
    for e in layout.get("edges", []):
        if e.get("style") == "invis" or "pos" not in e:
            continue
        extra = {}
        where = e.get("lp") or e.get("xlp")
        if where:
            x, y = (float(v) for v in str(where).split(","))
            dx, dy = shifts.get(int(e["_gvid"]), (0.0, 0.0))
            extra["lp"] = f"{x + dx:.2f},{y + dy:.2f}"
            extra["label"] = str(e.get("label") or e.get("xlabel") or "")
        tail, head = objects[int(e["tail"])]["name"], objects[int(e["head"])]["name"]
        lines.append(f"  {_quote(tail)} -> {_quote(head)} {_attributes(e, extra)};")
    lines.append("}")
    return "\n".join(lines) + "\n"
