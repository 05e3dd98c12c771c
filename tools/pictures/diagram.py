"""The endpoint machine drawn the way RFC 9293 Figure 5 and the textbooks draw it.

We write the Graphviz DOT text ourselves (deterministically: same spec and
options, byte-identical DOT) and let Debian's ``dot`` lay it out. The
layout follows the figure:

* CLOSED at the top, LISTEN below it, SYN_RCVD and SYN_SENT side by side,
  ESTABLISHED in the middle, the active-close states (FIN_WAIT_1,
  FIN_WAIT_2, CLOSING, TIME_WAIT) on the left, CLOSE_WAIT and LAST_ACK on
  the right, TIME_WAIT at the bottom;
* like Figure 5, CLOSED is drawn a second time at the bottom right, as the
  target of the transitions that end a connection (LAST_ACK, TIME_WAIT and
  every reset or abort from a synchronized state), so that a dozen edges do
  not have to climb back over the whole figure;
* the client's usual path thick and solid, the server's thick and dashed,
  the simultaneous open/close thin, error and reset transitions thin grey,
  implementation-specific ones dotted.

Parallel transitions of the same kind (e.g. ``rcv RST`` and ``abort`` from
ESTABLISHED to CLOSED) share one arrow with one label line each; every
transition id is in the arrow's tooltip, so each transition of the spec is
in the SVG.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tcpcheck.model.errors import InputError

if TYPE_CHECKING:
    from tcpcheck.model.spec import Spec, Transition

HIGHLIGHTS = ("client", "server", "simultaneous", "error")
FORMATS = ("svg", "png", "pdf", "dot")

# The grid of RFC 9293 Figure 5: one row per rank, three columns (left:
# the active side, middle: the common spine, right: the passive side);
# None is an empty cell. A state a spec adds beyond these goes on an extra
# row at the bottom.
FIGURE_GRID: tuple[tuple[str | None, str | None, str | None], ...] = (
    (None, "CLOSED", None),
    (None, "LISTEN", None),
    ("SYN_RCVD", None, "SYN_SENT"),
    (None, "ESTABLISHED", None),
    ("FIN_WAIT_1", None, "CLOSE_WAIT"),
    ("FIN_WAIT_2", "CLOSING", "LAST_ACK"),
    (None, "TIME_WAIT", "CLOSED_END"),
)
FIGURE_ROWS: tuple[tuple[str, ...], ...] = tuple(tuple(c for c in row if c) for row in FIGURE_GRID)
# Edges into CLOSED from these states go to the second CLOSED drawn at the
# bottom (Figure 5 does the same for LAST_ACK and TIME_WAIT).
_ENDING_ROW = 3  # ESTABLISHED's row and everything below it
_CLOSED_END = "CLOSED_END"

RESULTS_SCHEMA = "results.schema.json"  # tools/: the run --json format that report and diagram --coverage read

# Verdicts of a run, worst first: an edge covered by several scenarios
# shows the worst verdict any of them gave it.
VERDICT_ORDER = ("fail", "deviation", "pass", "not run", "not drivable", "not covered")
VERDICT_COLOURS = {
    "fail": "#c62828",
    "deviation": "#e08a00",
    "pass": "#2e7d32",
    "not run": "#7b8794",
    "not drivable": "#7b8794",
    "not covered": "#b0b7bf",
}
VERDICT_MARKS = {"fail": "\u2717 ", "deviation": "~ ", "pass": "\u2713 ", "not run": "", "not drivable": "",
                 "not covered": ""}

_FONT = "DejaVu Sans"
_HIGHLIGHT_COLOUR = "#1565c0"
_FADED = "#c4c9cf"


@dataclass(frozen=True)
class DiagramOptions:
    """What to emphasise: a path kind, a walk through states, run verdicts."""

    highlight: str | None = None
    path: tuple[str, ...] = ()
    coverage: Mapping[str, str] = field(default_factory=dict)  # transition id -> verdict


@dataclass
class _Edge:
    """One drawn arrow: the transitions of one kind between two states."""

    source: str
    target: str
    path: str
    verdict: str | None
    transitions: list[Transition] = field(default_factory=list)


def transition_label(spec: Spec, t: Transition) -> str:
    """The textbook label of one transition: ``rcv FIN / snd ACK``, with its
    guard or option when it has one (``abort / snd RST (Note 3)``)."""
    from tcpcheck.model.graph import label

    text = label({"event": t.event, "kind": spec.events[t.event].kind, "sends": t.sends})
    text = text.replace("SYN_ACK", "SYN,ACK").replace("RST_ACK", "RST,ACK")
    extras = []
    if t.when:
        extras.append("passive" if t.when == "self.passive" else "active" if t.when == "not self.passive" else t.when)
    if t.option == "note3":
        extras.append("Note 3")
    elif t.option:
        extras.append(t.option)
    if t.unless:
        extras.append(f"unless {t.unless}")
    return text + (f" ({', '.join(extras)})" if extras else "")


def _drawn_target(spec: Spec, t: Transition, row_of: Mapping[str, int]) -> str:
    if t.target == spec.initial == "CLOSED" and row_of.get(t.source, 0) >= _ENDING_ROW:
        return _CLOSED_END
    return t.target


def _edges(spec: Spec, coverage: Mapping[str, str]) -> list[_Edge]:
    row_of = {name: n for n, row in enumerate(FIGURE_ROWS) for name in row}
    groups: dict[tuple[str, str, str, str | None], _Edge] = {}
    for t in spec.transitions:  # spec order: deterministic output
        verdict = coverage.get(t.id, "not covered") if coverage else None
        target = _drawn_target(spec, t, row_of)
        key = (t.source, target, t.path, verdict)
        if key not in groups:
            groups[key] = _Edge(t.source, target, t.path, verdict)
        groups[key].transitions.append(t)
    return list(groups.values())


def _quote(text: str) -> str:
    """A DOT double-quoted string."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _attrs(items: Mapping[str, str | float | int]) -> str:
    parts = []
    for key, value in items.items():
        parts.append(f"{key}={_quote(value) if isinstance(value, str) else value}")
    return "[" + ", ".join(parts) + "]"


def _node_id(name: str) -> str:
    return "state-" + name


def _grid(spec: Spec, closed_end_used: bool) -> list[list[str | None]]:
    """The figure's grid restricted to the spec's states (plus extra rows)."""
    known = set(spec.state_names)
    grid: list[list[str | None]] = []
    for row in FIGURE_GRID:
        cells = [c if c in known or (c == _CLOSED_END and closed_end_used) else None for c in row]
        if any(cells):
            grid.append(cells)
    placed = {c for row in FIGURE_GRID for c in row if c}
    extra = [s for s in spec.state_names if s not in placed]
    for start in range(0, len(extra), 3):
        chunk: list[str | None] = list(extra[start:start + 3])
        grid.append(chunk + [None] * (3 - len(chunk)))
    return grid


def _path_edges(spec: Spec, walk: Sequence[str]) -> set[str]:
    """Transition ids along a walk of states; each hop needs some transition."""
    known = set(spec.state_names)
    for name in walk:
        if name not in known:
            raise InputError("--path", f"unknown state {name!r}; use the spec's states: {', '.join(spec.state_names)}")
    chosen: set[str] = set()
    for a, b in zip(walk, walk[1:], strict=False):
        hop = [t for t in spec.transitions if t.source == a and t.target == b]
        if not hop:
            raise InputError("--path", f"no transition from {a} to {b} in {spec.path}; "
                             "give states joined by transitions")
        # The figure's own edges first: the client/server path, then the rest.
        rank = {"client": 0, "server": 1, "simultaneous": 2, "error": 3, "implementation": 4}
        chosen.add(min(hop, key=lambda t: (rank.get(t.path, 9), t.index)).id)
    return chosen


def to_dot(spec: Spec, options: DiagramOptions | None = None) -> str:
    """The DOT text of the diagram (deterministic for the same input)."""
    opts = options or DiagramOptions()
    if opts.highlight is not None and opts.highlight not in HIGHLIGHTS:
        raise InputError("--highlight", f"unknown path {opts.highlight!r}; use one of: {', '.join(HIGHLIGHTS)}")
    on_path = _path_edges(spec, opts.path) if opts.path else set()
    path_states = set(opts.path)
    emphasis = bool(opts.highlight or opts.path)

    lines = [
        f"digraph {_quote(spec.name)} {{",
        '  graph [rankdir=TB, newrank=true, nodesep=0.6, ranksep=0.9, splines=spline, '
        f'fontname={_quote(_FONT)}, fontsize=12, pad=0.3, forcelabels=true, outputorder=edgesfirst, '
        f'labelloc=b, labeljust=l, label={_quote(_legend(spec, opts))}];',
        f'  node [shape=box, style="rounded,filled", fillcolor="#fdfdfd", fontname={_quote(_FONT)}, '
        'fontsize=14, penwidth=1.4, margin="0.18,0.1", height=0.5];',
        f"  edge [fontname={_quote(_FONT)}, fontsize=10, arrowsize=0.8];",
        "",
    ]
    known = set(spec.state_names)
    closed_end_used = "CLOSED" in known and any(e.target == _CLOSED_END for e in _edges(spec, {}))
    grid = _grid(spec, closed_end_used)

    for name in spec.state_names:
        st = spec.state(name)
        attrs: dict[str, str | float | int] = {
            "id": _node_id(name), "label": name, "class": "state", "tooltip": f"{name}: {st.meaning} ({st.rfc})",
        }
        if name in path_states:
            attrs.update(color=_HIGHLIGHT_COLOUR, fillcolor="#e3f0fc", penwidth=2.4)
        elif name == "ESTABLISHED":
            attrs.update(fillcolor="#eef2f7")
        lines.append(f"  {_quote(name)} {_attrs(attrs)};")
    if closed_end_used:
        attrs = {"id": "state-CLOSED-again", "label": "CLOSED", "class": "state repeat",
                 "tooltip": "CLOSED, drawn a second time as in RFC 9293 Figure 5"}
        if "CLOSED" in path_states:
            attrs.update(color=_HIGHLIGHT_COLOUR, fillcolor="#e3f0fc", penwidth=2.4)
        lines.append(f"  {_quote(_CLOSED_END)} {_attrs(attrs)};")
    lines.append("")

    # The grid of the figure, held by invisible scaffolding: empty cells
    # are invisible spacer nodes, each row is rank=same and ordered left to
    # right by invisible flat edges, and each column is a chain of heavy
    # invisible edges, so dot keeps it straight. The real edges then only
    # route; they do not move states around.
    cells: list[list[str]] = [[cell or f"_gap{r}_{c}" for c, cell in enumerate(row)] for r, row in enumerate(grid)]
    for r, grid_row in enumerate(grid):
        for c, cell in enumerate(grid_row):
            if cell is None:
                lines.append(f"  {_quote(cells[r][c])} [style=invis, label=\"\", width=1.6, height=0.3];")
    for cell_row in cells:
        lines.append("  { rank=same; " + " ".join(_quote(n) for n in cell_row) + " }")
        for a, b in zip(cell_row, cell_row[1:], strict=False):
            lines.append(f"  {_quote(a)} -> {_quote(b)} [style=invis];")
    for c in range(3):
        chain = [cell_row[c] for cell_row in cells]
        lines.append(f"  {' -> '.join(_quote(n) for n in chain)} [style=invis, weight=20];")
    lines.append("")

    column_of = {cell: c for grid_row in grid for c, cell in enumerate(grid_row) if cell}
    row_of = {cell: r for r, grid_row in enumerate(grid) for cell in grid_row if cell}
    for edge in _edges(spec, opts.coverage):
        attrs = _edge_attrs(spec, edge, opts, on_path, emphasis)
        tail, head = edge.source, edge.target
        if row_of.get(tail) == row_of.get(head) and column_of.get(tail, 0) > column_of.get(head, 0):
            # dot lays a flat edge out left to right, so a right-to-left one
            # (SYN_SENT to SYN_RCVD) would swap the pair: write it the other
            # way round and draw the arrowhead at the tail.
            tail, head = head, tail
            attrs["dir"] = "back"
        lines.append(f"  {_quote(tail)} -> {_quote(head)} {_attrs(attrs)};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _edge_attrs(
    spec: Spec, edge: _Edge, opts: DiagramOptions, on_path: set[str], emphasis: bool
) -> dict[str, str | float | int]:
    ids = [t.id for t in edge.transitions]
    labels = [transition_label(spec, t) for t in edge.transitions]
    if edge.verdict is not None:
        per = [opts.coverage.get(t.id, "not covered") for t in edge.transitions]
        labels = [VERDICT_MARKS.get(v, "") + text for v, text in zip(per, labels, strict=True)]
    tooltip = "\n".join(f"{t.id}: {t.rfc}" + (f" [{edge.verdict}]" if edge.verdict else "") for t in edge.transitions)
    attrs: dict[str, str | float | int] = {
        "id": "edge-" + "+".join(ids),
        "class": f"transition path-{edge.path}"
        + (f" verdict-{edge.verdict.replace(' ', '-')}" if edge.verdict else ""),
        "label": "\n".join(labels),
        "tooltip": tooltip,
        "labeltooltip": tooltip,
    }
    style, width, colour, font_colour = {
        "client": ("solid", 2.8, "#000000", "#000000"),
        "server": ("dashed", 2.8, "#000000", "#000000"),
        "simultaneous": ("solid", 1.1, "#333333", "#333333"),
        "error": ("solid", 0.9, "#8a939c", "#5f6b76"),
        "implementation": ("dotted", 1.1, "#6a4c93", "#6a4c93"),
    }.get(edge.path, ("solid", 1.0, "#333333", "#333333"))
    if edge.verdict is not None:
        colour = font_colour = VERDICT_COLOURS.get(edge.verdict, "#333333")
    if emphasis:
        chosen = (opts.highlight is not None and edge.path == opts.highlight) or any(i in on_path for i in ids)
        if chosen:
            colour = font_colour = _HIGHLIGHT_COLOUR
            width = max(width, 2.8) + 0.6
        else:
            colour = font_colour = _FADED
    if edge.path in ("error", "implementation"):
        # Thin edges get external labels: placed after layout, they do not
        # widen the rows, which keeps the figure's proportions. Except the
        # Note 3 edges from the left column into TIME_WAIT: their external
        # labels would all land on the same spot left of TIME_WAIT.
        if not (edge.target == "TIME_WAIT" and edge.source in ("FIN_WAIT_1", "FIN_WAIT_2")):
            attrs["xlabel"] = attrs.pop("label")
        attrs["fontsize"] = 9
    attrs.update(style=style, penwidth=width, color=colour, fontcolor=font_colour)
    return attrs


def _legend(spec: Spec, opts: DiagramOptions) -> str:
    parts = [f"{spec.name} ({spec.reference})",
             "thick solid: client's usual path    thick dashed: server's usual path    "
             "thin: simultaneous open/close    grey: errors, resets, aborts    dotted: implementation-specific"]
    if opts.coverage:
        parts.append("colour = verdict of the run: \u2713 pass (green)    ~ deviation (orange)    "
                     "\u2717 fail (red)    grey: not run / not covered")
    if opts.highlight:
        parts.append(f"highlighted (blue): the {opts.highlight} path")
    if opts.path:
        parts.append("highlighted (blue): " + " \u2192 ".join(opts.path))
    return "\n".join(parts) + "\n"


def dot_executable() -> str:
    """The path of Graphviz ``dot``, or one clear error saying how to get it."""
    found = shutil.which("dot")
    if not found:
        raise InputError("dot", "Graphviz is not installed; install it with: apt-get install graphviz")
    return found


def render(dot_text: str, fmt: str) -> bytes:
    """Lay out DOT text with Graphviz: ``svg``, ``png``, ``pdf``, ``plain``
    or ``json`` bytes (``dot`` returns the text itself). dot places the
    states and routes the edges; every label that would touch an edge, a
    state or another label is then moved beside its edge
    (``tools/pictures/labels.py``) and ``neato -n2`` draws it as placed."""
    from tcpcheck.tools.pictures.labels import fixed_dot, place

    if fmt == "dot":
        return dot_text.encode()
    laid_out = _graphviz(dot_text, "json")
    try:
        laid = json.loads(laid_out)
        fixed = fixed_dot(laid, place(laid))
    except (ValueError, LookupError, TypeError, AttributeError):  # not Graphviz's JSON: a broken or foreign dot
        raise InputError("dot", "Graphviz's JSON layout is not what Graphviz writes; nothing was written "
                                "(is the 'dot' on PATH Graphviz?)") from None
    return _graphviz(fixed, fmt, "-n2", layout="neato")


GRAPHVIZ_SECONDS = 60  # one layout of the 11-state figure takes well under a second


def _graphviz(dot_text: str, fmt: str, *extra: str, layout: str = "dot") -> bytes:
    """Graphviz's output, or one InputError: not installed, cannot run, killed,
    failed, silent, or slower than GRAPHVIZ_SECONDS (then it is killed)."""
    import signal

    args = [dot_executable(), f"-K{layout}", f"-T{fmt}", *extra]
    if fmt == "png":
        args.append("-Gdpi=110")
    try:
        proc = subprocess.run(args, input=dot_text.encode(), capture_output=True, timeout=GRAPHVIZ_SECONDS,
                              check=False)
    except subprocess.TimeoutExpired:
        raise InputError("dot", f"Graphviz took more than {GRAPHVIZ_SECONDS} s and was stopped; nothing was "
                                "written (try --format dot to get the graph without a layout)") from None
    except OSError as exc:
        raise InputError("dot", f"cannot run Graphviz ({args[0]}): {exc.strerror or exc}; "
                                "reinstall it with: apt-get install graphviz") from None
    if proc.returncode < 0:
        try:
            name = signal.Signals(-proc.returncode).name
        except ValueError:
            name = f"signal {-proc.returncode}"
        raise InputError("dot", f"Graphviz was killed by {name}; nothing was written")
    if proc.returncode != 0:
        message = proc.stderr.decode(errors="replace").strip()
        if "not recognized" in message:  # a Graphviz built without this output (e.g. no cairo for pdf)
            raise InputError("--format", f"this Graphviz cannot write {fmt}; use svg or dot "
                                         "(apt-get install graphviz brings the cairo outputs png and pdf)")
        raise InputError("dot", f"Graphviz failed: {message.splitlines()[0] if message else proc.returncode}")
    if not proc.stdout:
        raise InputError("dot", f"Graphviz wrote no {fmt} output; nothing was written")
    return proc.stdout


def node_positions(dot_text: str) -> dict[str, tuple[float, float]]:
    """Centre of each node after layout, in inches, y growing upwards
    (from ``dot -Tplain``); used to check the layout matches the figure."""
    out: dict[str, tuple[float, float]] = {}
    for line in render(dot_text, "plain").decode().splitlines():
        parts = line.split()
        if parts and parts[0] == "node":
            name = parts[1].strip('"')
            out[name] = (float(parts[2]), float(parts[3]))
    return out


def svg_for_html(svg: bytes) -> str:
    """An SVG from Graphviz made fit for inlining into HTML: no XML prolog,
    no DOCTYPE, width following the page."""
    text = svg.decode()
    start = text.find("<svg")
    return text[start:] if start >= 0 else text


def coverage_from_results(data: Any, where: str) -> dict[str, str]:
    """The worst verdict per transition id in a ``tcpcheck run --json`` document."""
    if not isinstance(data, dict):
        raise InputError(where, "expected a JSON object as written by 'tcpcheck run --json'")
    verdicts: dict[str, list[str]] = {}
    matrix = data.get("matrix")
    if matrix is not None:
        if not isinstance(matrix, list):
            raise InputError(where, "field 'matrix' must be a list of {transition, verdict} objects")
        for n, row in enumerate(matrix):
            if not isinstance(row, dict) or not isinstance(row.get("transition"), str) \
                    or not isinstance(row.get("verdict"), str):
                raise InputError(where, f"field 'matrix[{n}]' needs string fields 'transition' and 'verdict'")
            verdicts.setdefault(row["transition"], []).append(row["verdict"])
    else:
        from tcpcheck.tools.runner.report import attribute

        for result in results_list(data, where):
            for t, verdict, _ in attribute(result):  # a failure marks the transition of its step only
                if t:
                    verdicts.setdefault(t, []).append(verdict)
    return {t: worst(vs) for t, vs in verdicts.items()}


def worst(verdicts: Iterable[str]) -> str:
    """The worst of several verdicts on one transition (``VERDICT_ORDER``)."""
    rank = {v: i for i, v in enumerate(VERDICT_ORDER)}
    return min(verdicts, key=lambda v: rank.get(v, len(rank)))


def results_list(data: dict[str, Any], where: str) -> list[dict[str, Any]]:
    """``data["results"]``, checked: each needs ``scenario`` and ``verdict``."""
    results = data.get("results")
    if not isinstance(results, list):
        raise InputError(where, "field 'results' is missing or not a list; pass the output of 'tcpcheck run --json'")
    for n, r in enumerate(results):
        if not isinstance(r, dict) or not isinstance(r.get("scenario"), str) or not isinstance(r.get("verdict"), str):
            raise InputError(where, f"field 'results[{n}]' needs string fields 'scenario' and 'verdict'")
        if not isinstance(r.get("transitions", []), list) or not isinstance(r.get("steps", []), list):
            raise InputError(where, f"field 'results[{n}]': 'transitions' and 'steps' must be lists")
        if not all(isinstance(t, str) for t in r.get("transitions", [])):
            raise InputError(where, f"field 'results[{n}].transitions' must be a list of strings")
        if not isinstance(r.get("sysctls") or {}, dict) or not _number(r.get("seconds") or 0):
            raise InputError(where, f"field 'results[{n}]': 'sysctls' must be an object and 'seconds' a number")
        for k, step in enumerate(r.get("steps", [])):
            if not isinstance(step, dict):
                raise InputError(where, f"field 'results[{n}].steps[{k}]' must be an object")
            if "index" in step and (not isinstance(step["index"], int) or isinstance(step["index"], bool)):
                raise InputError(where, f"field 'results[{n}].steps[{k}].index' must be an integer")
        for key in ("observed", "check"):
            if not isinstance(r.get(key) or {}, dict):
                raise InputError(where, f"field 'results[{n}].{key}' must be an object")
    return results


def _read_json(p: Path) -> Any:
    from tcpcheck.model.source import parse_json, read_input

    what = "the output of 'tcpcheck run --json'"
    return parse_json(read_input(p, what), str(p), what)


def load_results(path: str | Path, spec: Spec | None = None) -> dict[str, Any]:
    """Read a ``tcpcheck run --json`` document (of a run of ``spec``, when
    given); bad files become one InputError."""
    p = Path(path)
    return _checked_run(_read_json(p), str(p), spec)


def _checked_run(data: Any, where: str, spec: Spec | None = None) -> dict[str, Any]:
    """``data`` if it is one ``tcpcheck run --json`` document: valid against
    ``tools/results.schema.json`` and, given ``spec``, naming only its
    transitions."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import best_match

    from tcpcheck.tools.scenario import bundled_schema

    error = best_match(Draft202012Validator(bundled_schema(RESULTS_SCHEMA)).iter_errors(data))
    if error is not None:
        raise InputError(where, f"{error.json_path}: {error.message} (the format is tools/{RESULTS_SCHEMA}; "
                                "pass the output of 'tcpcheck run --json')")
    results_list(data, where)
    if spec is not None:
        known = {t.id for t in spec.transitions}
        named = [(f"$.results[{n}].transitions[{k}]", t) for n, r in enumerate(data["results"])
                 for k, t in enumerate(r.get("transitions", []))]
        named += [(f"$.results[{n}].steps[{k}].transition", s["transition"]) for n, r in enumerate(data["results"])
                  for k, s in enumerate(r.get("steps", [])) if "transition" in s]
        named += [(f"$.matrix[{n}].transition", row["transition"]) for n, row in enumerate(data.get("matrix", []))
                  if row["transition"] != "(none)"]
        for field_path, tid in named:
            if tid not in known:
                raise InputError(where, f"{field_path}: {tid!r} is not a transition of {spec.path}; "
                                        "pass the spec the suite was run with (--spec)")
    return data


def _number(value: Any) -> bool:
    import math

    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) \
        and abs(value) < 1e15


def load_runs(path: str | Path, spec: Spec | None = None) -> list[dict[str, Any]]:
    """The runs in a results file: one for ``tcpcheck run --json``, one per
    stack for ``tcpcheck run --stack all --json`` (its ``runs``)."""
    p = Path(path)
    data = _read_json(p)
    if isinstance(data, dict) and "runs" in data:
        if not isinstance(data["runs"], list) or not data["runs"]:
            raise InputError(str(p), "field 'runs' must be a non-empty list of 'tcpcheck run --json' objects")
        for n, run in enumerate(data["runs"]):
            if not isinstance(run, dict) or not isinstance(run.get("stack"), dict):
                raise InputError(str(p), f"field 'runs[{n}]' must be a 'tcpcheck run --json' object with a 'stack'")
            _checked_run(run, f"{p}: runs[{n}]", spec)
        return list(data["runs"])
    return [_checked_run(data, str(p), spec)]


def write_atomic(path: str | Path, data: bytes | str) -> None:
    """Write ``data`` to ``path`` whole or not at all, never through a symlink
    (``tcpcheck.tools.outputs.write_file``)."""
    from tcpcheck.tools.outputs import write_file

    write_file(path, data)


def parse_walk(text: str | None) -> tuple[str, ...]:
    """``S1,S2,...`` as a tuple of state names (blank items dropped)."""
    if not text:
        return ()
    return tuple(s.strip().upper().replace("-", "_") for s in text.split(",") if s.strip())


def all_transition_ids(spec: Spec) -> Iterable[str]:
    """Every transition id of the spec, in spec order (what the diagram draws)."""
    return (t.id for t in spec.transitions)
