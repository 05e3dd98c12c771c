"""The mutation analysis as a table for people and a JSON document (pure)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from tcpcheck.tools.mutate.analysis import Analysis, MutantResult, summary


def result_json(r: MutantResult) -> dict[str, Any]:
    """One mutant's two measures."""
    return {
        "mutant": r.mutant.name,
        "operator": r.mutant.operator,
        "transition": r.mutant.transition,
        "description": r.mutant.description,
        "equivalent": r.equivalent,
        "reason": r.reason,
        "killed_by": {c: (k.text() if k else None) for c, k in r.kills.items()},
        "witness": list(r.witness),
        "caught_by": ({"property": r.caught.property, "configuration": r.caught.configuration,
                       "verdict": r.caught.verdict} if r.caught else None),
        "configurations_checked": list(r.configurations),
    }


def to_json(analysis: Analysis) -> dict[str, Any]:
    """The ``tcpcheck mutate --json`` document."""
    return {
        "spec": analysis.spec,
        "profile": analysis.profile,
        "extra_states": analysis.extra_states,
        "scenarios": analysis.scenarios,
        "shortcut": analysis.shortcut,
        "configurations": [{"name": c.name, "verify": c.command, "states": analysis.baseline_states.get(c.name)}
                           for c in analysis.configurations],
        "properties": list(analysis.properties),
        "summary": summary(analysis),
        "neither": [r.mutant.name for r in analysis.neither()],
        "mutants": [result_json(r) for r in analysis.results],
        "timing": {"seconds": round(analysis.seconds, 3), "cpu_seconds": round(analysis.cpu_seconds, 3),
                   "jobs": analysis.jobs, "peak_rss_mib": round(analysis.peak_kib / 1024, 1)},
    }


def _pct(n: int, of: int) -> str:
    return f"{100 * n / of:.1f} %" if of else "-"


def text(analysis: Analysis, table: Any) -> list[str]:
    """The report as lines (``table``: the CLI's table formatter)."""
    s = summary(analysis)
    ops = ", ".join(f"{op} {n}" for op, n in s["by_operator"].items())
    reasons = Counter(r.reason.split(":", 1)[0] for r in analysis.results if r.equivalent)
    lines = [
        f"mutation analysis of {analysis.spec}: {s['mutants']} systematic mutants ({ops})",
        f"suites: profile {analysis.profile}, W and Wp for {analysis.extra_states} extra state(s), run on the model "
        + ("stack (the scenarios whose reference run fires the mutated transition)" if analysis.shortcut
           else "stack (every scenario)"),
        f"equivalent under the drivable alphabet: {s['equivalent']}"
        + (" (" + "; ".join(f"{why}: {n}" for why, n in reasons.most_common()) + ")" if reasons else ""),
        "",
    ]
    rows = []
    for c in analysis.criteria:
        killed, of = analysis.score(c)
        rows.append((c, analysis.scenarios[c], killed, of, _pct(killed, of)))
    lines += table(("criterion", "scenarios", "killed", "non-equivalent", "score"), rows).splitlines()
    lines.append("")
    if analysis.configurations:
        confs = ", ".join(f"{c}: {n}" for c, n in s["caught_by_configuration"].items())
        lines.append(f"properties ({len(analysis.properties)}): {s['caught_by_properties']} of {s['mutants']} mutants "
                     f"caught, {s['caught_non_equivalent']} of the {s['non_equivalent']} non-equivalent "
                     f"({_pct(s['caught_non_equivalent'], s['non_equivalent'])}); first caught in: {confs or '-'}")
        lines.append(f"both measures: killed and caught {s['killed_and_caught']}, "
                     f"killed only {s['killed_not_caught']}, caught only {s['caught_not_killed']}, "
                     f"neither {s['neither']}")
        lines.append("configurations: " + "; ".join(
            f"{c.name} (verify {c.command or 'with no flags'})" for c in analysis.configurations))
    else:
        lines.append("properties: not checked (--no-properties)")
    neither = analysis.neither()
    if neither:
        lines.append("")
        lines.append("mutants no suite kills and no property catches:")
        lines += table(("mutant", "why"), [(r.mutant.name, r.reason) for r in neither]).splitlines()
    live_missed = [r for r in analysis.non_equivalent if not r.killed]
    if live_missed:
        lines.append("")
        lines.append("non-equivalent mutants no suite kills:")
        lines += table(("mutant", "distinguishing walk"), [(r.mutant.name, r.reason) for r in live_missed]).splitlines()
    lines.append("")
    lines.append(f"time: {analysis.seconds:.1f} s wall, {analysis.cpu_seconds:.1f} s CPU, {analysis.jobs} job(s); "
                 f"peak memory {analysis.peak_kib / 1024:.0f} MiB per process")
    return lines
