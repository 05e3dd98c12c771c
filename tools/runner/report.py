"""The conformance matrix and the JSON document of a run (pure)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from tcpcheck.model.spec import Spec
from tcpcheck.tools.runner.execute import ScenarioResult
from tcpcheck.tools.runner.profile import Profile
from tcpcheck.tools.runner.stack import StackInfo
from tcpcheck.tools.scenario import Scenario


def matrix_rows(
    spec: Spec, profile: Profile, results: list[ScenarioResult], not_run: list[Scenario]
) -> list[tuple[str, str, str, str]]:
    """(transition, scenario, verdict, note) for every transition of the
    spec, then the scenarios that cover none (negative checks)."""
    rows: list[tuple[str, str, str, str]] = []
    by_transition: dict[str, list[ScenarioResult]] = {}
    for r in results:
        for tid in r.transitions:
            by_transition.setdefault(tid, []).append(r)
    skipped = {tid: s for s in not_run for tid in s.transitions}
    for t in spec.transitions:
        if t.id in by_transition:
            for r in by_transition[t.id]:
                rows.append((t.id, r.scenario, r.verdict, _note(r)))
        elif t.id in skipped:
            rows.append((t.id, skipped[t.id].name, "not run", "slow (Linux TIME_WAIT is 60 s): use --slow"))
        elif reason := profile.reason_not_drivable(t.id):
            rows.append((t.id, "-", "not drivable", reason))
        else:
            rows.append((t.id, "-", "not covered", "no scenario in this run covers it"))
    for r in results:
        if not r.transitions:
            rows.append(("(none)", r.scenario, r.verdict, _note(r)))
    return rows


def _note(r: ScenarioResult) -> str:
    if r.verdict == "fail":
        bad = next((s for s in r.steps if s.verdict == "fail"), None)
        if bad:
            return f"step {bad.index} {bad.step}: expected {bad.expected}, observed {bad.observed}"
    if r.deviations:
        return ", ".join(r.deviations)
    return ""


def summary(results: list[ScenarioResult], rows: list[tuple[str, str, str, str]]) -> dict[str, Any]:
    """Counts of scenario verdicts and of transition rows."""
    verdicts = Counter(r.verdict for r in results)
    transitions = Counter(v for t, _, v, _ in rows if t != "(none)")
    return {
        "scenarios": len(results),
        "pass": verdicts["pass"],
        "deviation": verdicts["deviation"],
        "fail": verdicts["fail"],
        "transitions": dict(sorted(transitions.items())),
        "seconds": round(sum(r.seconds for r in results), 6),
    }


def to_json(info: StackInfo, profile: Profile, results: list[ScenarioResult],
            rows: list[tuple[str, str, str, str]]) -> dict[str, Any]:
    """The ``tcpcheck run --json`` document."""
    return {
        "stack": {"name": info.name, "description": info.title(), "kernel": info.kernel, "sysctls": info.sysctls,
                  "profile": profile.name, "observer": info.observer},
        "results": [r.to_json() for r in results],
        "matrix": [{"transition": t, "scenario": s, "verdict": v, "note": n} for t, s, v, n in rows],
        "summary": summary(results, rows),
    }
