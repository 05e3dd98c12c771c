"""Where Graphviz put things in the drawing as rendered: label boxes, edge
curves and state boxes read from its JSON output, and what overlaps what.
Units are points, y upwards."""

from __future__ import annotations

import json
from dataclasses import dataclass

from tcpcheck.tools.pictures.diagram import render
from tcpcheck.tools.pictures.labels import Box, Point, edge_curve, node_box, text_box


@dataclass(frozen=True)
class Layout:
    labels: dict[str, Box]  # "edge id: first line" -> the label's box
    curves: dict[str, list[Point]]  # edge id -> its spline, sampled, with its arrowheads' points
    nodes: dict[str, Box]


def layout(dot_text: str) -> Layout:
    """The drawing of ``dot_text`` exactly as ``render`` draws it."""
    doc = json.loads(render(dot_text, "json"))
    labels: dict[str, Box] = {}
    curves: dict[str, list[Point]] = {}
    nodes = {o["name"]: node_box(o) for o in doc.get("objects", []) if "pos" in o and o.get("style") != "invis"}
    for edge in doc.get("edges", []):
        if edge.get("style") == "invis" or "pos" not in edge:
            continue
        ident = str(edge.get("id", edge["_gvid"]))
        curves[ident] = edge_curve(edge)
        for key in ("_ldraw_", "_xldraw_"):
            box = text_box(edge.get(key, []))
            if box is not None:
                first = next(op["text"] for op in edge[key] if op["op"] == "T")
                labels[f"{ident}: {first}"] = box
    return Layout(labels, curves, nodes)


def _meet(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _crosses(curve: list[Point], box: Box) -> bool:
    """Does the curve pass through the box? Sampled every half point along each segment:
    an independent check of the placer's own clipping arithmetic."""
    for a, b in zip(curve, curve[1:], strict=False):
        steps = max(2, int(2 * max(abs(a[0] - b[0]), abs(a[1] - b[1]))))
        for k in range(steps + 1):
            x, y = a[0] + (b[0] - a[0]) * k / steps, a[1] + (b[1] - a[1]) * k / steps
            if box[0] < x < box[2] and box[1] < y < box[3]:
                return True
    return False


def overlaps(lay: Layout) -> list[str]:
    """Every label that touches another label, an edge or a state, in words."""
    found = []
    names = sorted(lay.labels)
    for i, a in enumerate(names):
        box = lay.labels[a]
        found += [f"label {a!r} overlaps label {b!r}" for b in names[i + 1:] if _meet(box, lay.labels[b])]
        found += [f"label {a!r} is crossed by edge {e!r}" for e, c in lay.curves.items() if _crosses(c, box)]
        found += [f"label {a!r} overlaps state {n!r}" for n, nb in lay.nodes.items() if _meet(box, nb)]
    return found
