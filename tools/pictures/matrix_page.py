"""The cross-stack conformance matrix as one self-contained HTML page.

Transitions down the side, stacks across the top; each cell is the verdict
of that stack on that transition (``runner.matrix.combine``) and links to
the step where the deciding scenario left the model's path (or to the
scenario when every step passed), whose section links to its pcap. Inline
CSS only: no script, nothing loaded from the network.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tcpcheck.tools.pictures.report import _CSS, CSP_META, _badge, _slug
from tcpcheck.tools.runner.matrix import label

if TYPE_CHECKING:
    from tcpcheck.model.spec import Spec

_MORE_CSS = """
table.matrix col.c-t { width: 34%; } table.matrix col.c-r { width: 22%; }
table.steps { font-size: 12px; margin: 6px 0; } table.steps td { padding: 2px 6px; }
td.cell a { text-decoration: none; }
"""


def _anchor(stack: str, scenario: str, step: int | None = None) -> str:
    base = f"{_slug(stack)}--{_slug(scenario)}"
    return f"{base}-step-{step}" if step else base


def _first_departure(result: Mapping[str, Any]) -> int | None:
    for s in result.get("steps", []):
        if isinstance(s, dict) and s.get("verdict") in ("fail", "deviation"):
            return int(s.get("index", 0)) or None
    return None


def _pcap(stack: str, scenario: str, pcap_dir: Path | None, out_dir: Path) -> str | None:
    if pcap_dir is None:
        return None
    from tcpcheck.tools.outputs import safe_name
    from tcpcheck.tools.runner.pcap import pcap_name

    # Stack and scenario names come from the run files: file name components only.
    path = pcap_dir / safe_name(stack) / pcap_name(scenario)
    if not path.is_file():
        return None
    from tcpcheck.tools.outputs import url_path

    return url_path(os.path.relpath(path.resolve(), out_dir.resolve()))


def build_matrix_html(spec: Spec, runs: Sequence[Mapping[str, Any]], matrix: Mapping[str, Any], source: str,
                      out_path: Path, pcap_dir: Path | None = None) -> str:
    """The page for ``runs`` (one ``tcpcheck run --json`` document per
    stack) and their combined ``matrix``."""
    stacks: list[str] = list(matrix["stacks"])
    by_stack = {str(r["stack"]["name"]): r for r in runs}
    results = {(s, str(r["scenario"])): r for s in stacks for r in by_stack[s]["results"]}
    out: list[str] = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        CSP_META,
        "<title>tcpcheck conformance matrix</title>",
        f"<style>{_CSS}{_MORE_CSS}</style></head><body><main>",
        "<h1>tcpcheck conformance matrix</h1>",
        f'<p class="sub">model: {escape(spec.name)} ({escape(spec.reference)}) &middot; results: '
        f"{escape(source)}</p>",
        '<h2 id="stacks">Stacks</h2><table id="stack-table"><thead><tr><th>stack</th><th>profile</th>'
        "<th>transitions: verdicts</th><th>scenarios</th></tr></thead><tbody>",
    ]
    for s in stacks:
        run = by_stack[s]
        counts = matrix["counts"][s]
        summary = run.get("summary", {})
        out.append(f"<tr><td><b>{escape(s)}</b>: {escape(str(run['stack'].get('description', '')))}</td>"
                   f"<td>{escape(str(run['stack'].get('profile', '')))}</td><td>"
                   + " ".join(f"{_badge(v)} {n}" for v, n in sorted(counts.items()))
                   + f"</td><td>{len(run['results'])} in {float(summary.get('seconds', 0)):.2f} s</td></tr>")
    out.append("</tbody></table>")

    out.append('<h2 id="matrix">Transitions &times; stacks</h2>')
    cols = "".join('<col class="c-v">' for _ in stacks)
    out.append(f'<table class="matrix" id="matrix-table"><colgroup><col class="c-t"><col class="c-r">{cols}'
               "</colgroup><thead><tr><th>transition</th><th>RFC reference</th>"
               + "".join(f"<th>{escape(s)}</th>" for s in stacks) + "</tr></thead><tbody>")
    shown: set[tuple[str, str]] = set()
    for row in matrix["rows"]:
        cells = []
        for s in stacks:
            cell = row["cells"][s]
            badge = _badge(cell["verdict"])
            result = results.get((s, cell["scenario"]))
            if result is not None:
                shown.add((s, cell["scenario"]))
                target = _anchor(s, cell["scenario"], _first_departure(result))
                badge = f'<a href="#{escape(target)}">{badge}</a>'
            cells.append(f'<td class="cell" title="{escape(cell["scenario"] + ": " + cell["note"])}">{badge}</td>')
        out.append(f'<tr><td class="id">{escape(label(row))}</td><td class="rfc">{escape(row["rfc"])}</td>'
                   + "".join(cells) + "</tr>")
    out.append("</tbody></table>")

    out_dir = out_path.parent
    for s in stacks:
        out.append(f'<h2 id="{escape(_slug(s))}">{escape(s)}: the scenarios behind the cells</h2>')
        for r in by_stack[s]["results"]:
            name = str(r["scenario"])
            if (s, name) not in shown:
                continue
            verdict = str(r["verdict"])
            is_open = " open" if verdict not in ("pass", "not drivable") else ""
            out.append(f'<details class="scenario" id="{escape(_anchor(s, name))}"{is_open}><summary><h3>'
                       f"{escape(name)}</h3> {_badge(verdict)}</summary>")
            if r.get("note"):
                out.append(f'<div class="meta">{escape(str(r["note"]))}</div>')
            link = _pcap(s, name, pcap_dir, out_dir)
            if link:
                out.append(f'<div class="meta"><a class="pcap" href="{escape(link)}">packets (pcap)</a></div>')
            out.append('<table class="steps"><tbody>')
            for step in r.get("steps", []):
                seen = (f"expected {step.get('expected', '')}, observed {step.get('observed', '')}"
                        if step.get("expected") or step.get("observed") else "")
                out.append(f'<tr id="{escape(_anchor(s, name, int(step.get("index", 0))))}">'
                           f"<td>{int(step.get('index', 0))}</td><td>{escape(str(step.get('step', '')))}</td>"
                           f"<td>{_badge(str(step.get('verdict', '')))}</td><td>{escape(str(step.get('state', '')))}"
                           f'</td><td>{escape(seen)}</td><td class="note">{escape(str(step.get("note", "")))}</td>'
                           "</tr>")
            out.append("</tbody></table></details>")
    out.append("</main></body></html>")
    return "\n".join(out) + "\n"
