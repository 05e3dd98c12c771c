"""The HTML conformance report: one self-contained file from a ``tcpcheck run --json``.

Everything is inline (CSS, the state diagram as SVG, one sequence chart per
scenario); the page loads nothing from the network and runs no script, so
it opens the same from a mail attachment, a CI artefact or a file share.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Mapping
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tcpcheck.tools.pictures.diagram import (
    VERDICT_COLOURS,
    VERDICT_ORDER,
    DiagramOptions,
    coverage_from_results,
    render,
    results_list,
    svg_for_html,
    to_dot,
    transition_label,
)
from tcpcheck.tools.pictures.msc import chart_from_pair, chart_from_result, render_svg

if TYPE_CHECKING:
    from tcpcheck.model.spec import Spec

# The page needs no script, no fetch and no frame: a policy that forbids
# them keeps a value that slipped past escaping from running (defence in depth).
CSP_META = ('<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
            "style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'\">")

_CSS = """
:root { --fg: #1f2933; --muted: #52606d; --line: #d9e2ec; --bg: #ffffff; --soft: #f5f7fa; }
* { box-sizing: border-box; }
body { margin: 0; font-family: "DejaVu Sans", Verdana, sans-serif; color: var(--fg); background: var(--bg);
       font-size: 14px; line-height: 1.45; }
main { max-width: 1600px; margin: 0 auto; padding: 24px 32px 64px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 20px; margin: 36px 0 12px; border-bottom: 2px solid var(--line); padding-bottom: 4px; }
h3 { font-size: 16px; margin: 0; display: inline; }
.sub { color: var(--muted); margin: 0 0 16px; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin: 8px 0 4px; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 10px 16px; min-width: 130px;
        background: var(--soft); }
.card b { display: block; font-size: 26px; }
.card span { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
table { border-collapse: collapse; width: 100%; font-size: 13px; table-layout: fixed; }
col.c-id { width: 21%; } col.c-label { width: 13%; } col.c-path { width: 8%; } col.c-sc { width: 13%; }
col.c-v { width: 9%; } col.c-note { width: 19%; } col.c-rfc { width: 17%; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: var(--soft); position: sticky; top: 0; }
td { overflow-wrap: anywhere; }
td.id { font-family: "DejaVu Sans Mono", monospace; font-size: 12px; }
td.rfc, td.note { color: var(--muted); font-size: 12px; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; color: #fff; font-size: 12px; font-weight: bold;
         white-space: nowrap; }
.figure { border: 1px solid var(--line); border-radius: 8px; padding: 8px; overflow-x: auto; }
.figure svg { display: block; max-width: none; height: auto; } /* natural size: its 9 pt labels stay legible */
details.scenario { border: 1px solid var(--line); border-radius: 8px; margin: 10px 0; padding: 8px 14px; }
details.scenario summary { cursor: pointer; }
details.scenario .meta { color: var(--muted); font-size: 12px; margin: 6px 0; }
details.scenario svg { max-width: 100%; height: auto; }
dl.kv { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 0; }
dl.kv dt { color: var(--muted); } dl.kv dd { margin: 0; font-family: "DejaVu Sans Mono", monospace; font-size: 12px; }
a { color: #1565c0; }
"""


def _badge(verdict: str) -> str:
    colour = VERDICT_COLOURS.get(verdict, "#52606d")
    return f'<span class="badge verdict-{escape(verdict.replace(" ", "-"))}" style="background:{colour}">' \
        f"{escape(verdict)}</span>"


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-") or "scenario"


def _pcap_link(result: Mapping[str, Any], pcap_dir: Path | None, out_dir: Path) -> str | None:
    """A link to the scenario's pcap when one exists: ``pcap`` in the result,
    or ``PCAP_DIR/<scenario>.pcap`` as ``tcpcheck run --pcap DIR`` writes it."""
    from tcpcheck.tools.outputs import url_path
    from tcpcheck.tools.runner.pcap import pcap_name

    candidates = []
    if isinstance(result.get("pcap"), str):
        candidates.append(Path(result["pcap"]))
    if pcap_dir is not None:
        candidates.append(pcap_dir / pcap_name(str(result["scenario"])))
    # A run.json is input: link only a .pcap inside the pcap directory or
    # beside the report, never whatever local file it names.
    roots = [d.resolve() for d in (pcap_dir, out_dir) if d is not None]
    for c in candidates:
        real = c.resolve()
        if real.suffix == ".pcap" and real.is_file() and any(real.is_relative_to(r) for r in roots):
            return url_path(os.path.relpath(real, out_dir.resolve()))
    return None


def _pair_meta(result: Mapping[str, Any]) -> list[str]:
    """What the judge said of a loopback run, as lines of HTML."""
    check = result.get("check") if isinstance(result.get("check"), dict) else {}
    assert isinstance(check, dict)
    out = []
    model = check.get("model") if isinstance(check.get("model"), dict) else {}
    assert isinstance(model, dict)
    if model.get("explained"):
        out.append(f"the composed model explains the run ({len(model.get('steps', []))} steps)")
    for p in check.get("problems", []):
        out.append(f'<b class="problem">{escape(str(p))}</b>')
    props = [p for p in check.get("properties", []) if isinstance(p, dict) and p.get("verdict") != "skipped"]
    if props:
        invariants = [p for p in props if p.get("kind") == "invariant"]
        states = max((int(p.get("states", 0)) for p in props), default=0)
        out.append(f"{len(invariants)} pair invariants checked on each of the {states} states of the run: "
                   + ", ".join(f"{escape(str(p['name']))} {escape(str(p['verdict']))}" for p in invariants))
    return out


def _properties_table(properties: list[Any]) -> list[str]:
    """The pair properties of a loopback run: on how many observed states."""
    out = ['<h2 id="properties">Pair properties on the observed runs</h2>',
           '<table id="property-table"><thead><tr><th>property</th><th>kind</th><th>expected</th><th>on the runs</th>'
           "<th>runs</th><th>states checked</th><th>first decided at</th></tr></thead><tbody>"]
    for p in properties:
        if not isinstance(p, dict):
            continue
        verdict = str(p.get("verdict", ""))
        badge = "fail" if verdict == "violated" and p.get("expect") == "holds" else \
            "pass" if verdict in ("holds", "witnessed") else "not run"
        out.append(f'<tr><td class="id">{escape(str(p.get("property", "")))}</td><td>{escape(str(p.get("kind", "")))}'
                   f'</td><td>{escape(str(p.get("expect", "")))}</td><td>{_badge(badge)} {escape(verdict)}</td>'
                   f'<td>{int(p.get("runs", 0))}</td><td>{int(p.get("states", 0))}</td>'
                   f'<td class="note">{escape(str(p.get("first", "")))}</td></tr>')
    out.append("</tbody></table>")
    return out


def transition_rows(spec: Spec, data: Mapping[str, Any]) -> list[dict[str, str]]:
    """One row per (transition, scenario) as the run's matrix gives it, in
    spec order, with the textbook label and RFC reference from the spec;
    transitions the run does not mention are listed as not covered."""
    by_id = {t.id: t for t in spec.transitions}
    rows: list[dict[str, str]] = []
    matrix = data.get("matrix")
    if isinstance(matrix, list):
        entries = [(str(m.get("transition")), str(m.get("scenario", "-")), str(m.get("verdict")),
                    str(m.get("note", ""))) for m in matrix if isinstance(m, dict)]
    else:
        from tcpcheck.tools.runner.report import attribute

        entries = [(t, r["scenario"], verdict, note) for r in results_list(dict(data), "results")
                   for t, verdict, note in attribute(r) if t]
    seen = {e[0] for e in entries}
    entries += [(t.id, "-", "not covered", "no scenario in this run covers it") for t in spec.transitions
                if t.id not in seen]
    order = {t.id: n for n, t in enumerate(spec.transitions)}
    entries.sort(key=lambda e: order.get(e[0], len(order)))  # stable: the run's order within a transition
    for tid, scenario, verdict, note in entries:
        t = by_id.get(tid)
        rows.append({
            "transition": tid,
            "label": transition_label(spec, t) if t else "",
            "path": t.path if t else "",
            "scenario": scenario,
            "verdict": verdict,
            "note": note,
            "rfc": t.rfc if t else "",
        })
    return rows


def build_html(spec: Spec, data: Mapping[str, Any], source: str, out_path: Path,
               pcap_dir: Path | None = None) -> str:
    """The whole report page as one string."""
    results = results_list(dict(data), source)
    stack = data.get("stack") if isinstance(data.get("stack"), dict) else {}
    assert isinstance(stack, dict)
    kernel = str(stack.get("kernel", "unknown"))
    # Runs from before the stack interface name no stack: they were Linux.
    title = str(stack.get("description") or f"Linux {kernel}")
    profile = str(stack.get("profile", ""))
    sysctls = stack.get("sysctls") if isinstance(stack.get("sysctls"), dict) else {}
    assert isinstance(sysctls, dict)
    summary = data.get("summary") if isinstance(data.get("summary"), dict) else {}
    assert isinstance(summary, dict)
    verdicts = Counter(str(r["verdict"]) for r in results)
    rows = transition_rows(spec, data)
    seconds = summary.get("seconds", sum(float(r.get("seconds", 0) or 0) for r in results))

    coverage = coverage_from_results(dict(data), source)
    # each transition once, by its worst verdict: the counts add up to the spec's transitions
    per_transition = Counter(coverage.get(t.id, "not covered") for t in spec.transitions)
    diagram_svg = svg_for_html(render(to_dot(spec, DiagramOptions(coverage=coverage)), "svg"))

    out: list[str] = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        CSP_META,
        f"<title>tcpcheck conformance report: {escape(title)}</title>",
        f"<style>{_CSS}</style></head><body><main>",
        "<h1>tcpcheck conformance report</h1>",
        f'<p class="sub">Stack under test: <b id="stack">{escape(title)}</b>'
        + (f" &middot; profile <b>{escape(profile)}</b>" if profile else "")
        + f" &middot; model: {escape(spec.name)} ({escape(spec.reference)}) &middot; results: {escape(source)}</p>",
        '<h2 id="summary">Summary</h2>',
        '<div class="cards">',
        f'<div class="card"><b>{len(results)}</b><span>scenarios</span></div>',
    ]
    for v in ("pass", "deviation", "fail"):
        out.append(f'<div class="card" style="border-left: 6px solid {VERDICT_COLOURS[v]}">'
                   f'<b>{verdicts.get(v, 0)}</b><span>{v}</span></div>')
    out.append(f'<div class="card"><b>{float(seconds):.2f} s</b><span>run time</span></div>')
    out.append("</div>")
    out.append('<p class="sub">Transitions of the spec: '
               + ", ".join(f"{per_transition[v]} {escape(v)}" for v in sorted(
                   per_transition, key=lambda v: VERDICT_ORDER.index(v) if v in VERDICT_ORDER else len(VERDICT_ORDER)))
               + f" (of {len(spec.transitions)} transitions, each counted once, by the worst verdict any "
                 "scenario gave it).</p>")
    if sysctls:
        out.append("<details><summary>Kernel settings in force</summary><dl class=\"kv\">")
        for k, v in sysctls.items():
            out.append(f"<dt>{escape(str(k))}</dt><dd>{escape(str(v))}</dd>")
        out.append("</dl></details>")

    out.append('<h2 id="diagram">The state diagram, coloured by verdict</h2>')
    out.append(f'<div class="figure">{diagram_svg}</div>')

    out.append('<h2 id="transitions">Transitions</h2>')
    out.append('<table id="verdict-table"><colgroup><col class="c-id"><col class="c-label"><col class="c-path">'
               '<col class="c-sc"><col class="c-v"><col class="c-note"><col class="c-rfc"></colgroup>'
               "<thead><tr><th>transition</th><th>event / sends</th><th>path</th>"
               "<th>scenario</th><th>verdict</th><th>note</th><th>RFC reference</th></tr></thead><tbody>")
    names = {str(r["scenario"]) for r in results}
    for row in rows:
        scenario = escape(row["scenario"])
        if row["scenario"] in names:
            scenario = f'<a href="#scenario-{_slug(row["scenario"])}">{scenario}</a>'
        verdict_class = escape(row["verdict"].replace(" ", "-"))
        out.append(
            f'<tr class="verdict-{verdict_class}"><td class="id">{escape(row["transition"])}</td>'
            f'<td>{escape(row["label"])}</td><td>{escape(row["path"])}</td><td>{scenario}</td>'
            f'<td>{_badge(row["verdict"])}</td><td class="note">{escape(row["note"])}</td>'
            f'<td class="rfc">{escape(row["rfc"])}</td></tr>')
    out.append("</tbody></table>")

    out.append('<h2 id="scenarios">Scenarios</h2>')
    out_dir = out_path.parent
    for n, r in enumerate(results):
        slug = _slug(str(r["scenario"]))
        verdict = str(r["verdict"])
        is_open = " open" if verdict != "pass" else ""
        out.append(f'<details class="scenario" id="scenario-{slug}"{is_open}><summary><h3>{escape(str(r["scenario"]))}'
                   f"</h3> {_badge(verdict)} <small>{float(r.get('seconds', 0) or 0):.3f} s</small></summary>")
        meta = []
        if r.get("transitions"):
            meta.append("covers " + ", ".join(f"<code>{escape(str(t))}</code>" for t in r["transitions"]))
        if r.get("note"):
            meta.append(escape(str(r["note"])))
        if r.get("sysctls"):
            meta.append("settings: " + ", ".join(f"{escape(str(k))}={escape(str(v))}" for k, v in r["sysctls"].items()))
        link = _pcap_link(r, pcap_dir, out_dir)
        if link:
            meta.append(f'<a class="pcap" href="{escape(link)}">packets (pcap)</a>')
        for m in meta:
            out.append(f'<div class="meta">{m}</div>')
        if r.get("loopback"):
            out.extend(f'<div class="meta">{m}</div>' for m in _pair_meta(r))
            chart = render_svg(chart_from_pair(dict(r), "Linux"), ident=f"msc{n}")
        else:
            chart = render_svg(chart_from_result(dict(r), title), ident=f"msc{n}")
        out.append(chart)
        out.append("</details>")
    properties = data.get("properties")
    if isinstance(properties, list) and properties:
        out.extend(_properties_table(properties))
    out.append("</main></body></html>")
    return "\n".join(out) + "\n"
