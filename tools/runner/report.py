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
    spec, then the scenarios whose verdict no transition carries (negative
    checks, or a failure in a step that takes no transition).

    A scenario that fails or deviates at step k marks only the transition
    of step k: those it took before passed, those after were not reached.
    """
    rows: list[tuple[str, str, str, str]] = []
    by_transition: dict[str, list[tuple[str, str, str]]] = {}
    for r in results:
        for tid, verdict, note in attribute(r, profile):
            if tid:
                by_transition.setdefault(tid, []).append((r.scenario, verdict, note))
            else:
                rows.append(("(none)", r.scenario, verdict, note))
    skipped = {tid: s for s in not_run for tid in s.transitions}
    for t in spec.transitions:
        if t.id in by_transition:
            rows.extend((t.id, *entry) for entry in by_transition[t.id])
        elif t.id in skipped:
            rows.append((t.id, skipped[t.id].name, "not run", "slow (Linux TIME_WAIT is 60 s): use --slow"))
        elif reason := profile.reason_not_drivable(t.id):
            rows.append((t.id, "-", "not drivable", reason))
        else:
            rows.append((t.id, "-", "not covered", "no scenario in this run covers it"))
    # the "(none)" rows were collected first; list them after the spec's transitions
    return [r for r in rows if r[0] != "(none)"] + [r for r in rows if r[0] == "(none)"]


def attribute(r: ScenarioResult, profile: Profile) -> list[tuple[str, str, str]]:
    """(transition, verdict, note) for what one scenario says about each
    transition; transition "" carries a verdict that belongs to no transition."""
    bad = next((s for s in r.steps if s.verdict in ("fail", "deviation")), None)
    if bad is None:
        if not r.transitions or (r.verdict == "fail" and not r.steps):
            return [(t, r.verdict, _note(r)) for t in r.transitions] or [("", r.verdict, _note(r))]
        extensions = {d.transition: d for d in profile.extensions(r.transitions)}
        return [(t, "deviation", f"{extensions[t].id}: {extensions[t].reference}") if t in extensions
                else (t, "pass", "") for t in r.transitions]
    before = {s.transition for s in r.steps if s.index < bad.index}
    what = f"step {bad.index} {bad.step}"
    out = []
    for t in r.transitions:
        if t == bad.transition:
            continue
        if t in before:
            out.append((t, "pass", ""))
        else:
            out.append((t, "not run", f"not reached: {what} {'failed' if bad.verdict == 'fail' else 'deviated'}"
                        + (f" (in {bad.transition})" if bad.transition else "")))
    out.insert(0, (bad.transition, bad.verdict, _note(r)))
    return out


def _note(r: ScenarioResult) -> str:
    if r.verdict == "fail":
        bad = next((s for s in r.steps if s.verdict == "fail"), None)
        if bad:
            return f"step {bad.index} {bad.step}: expected {bad.expected}, observed {bad.observed}"
    if r.deviations:
        return ", ".join(r.deviations)
    return r.note


def summary(results: list[ScenarioResult], rows: list[tuple[str, str, str, str]]) -> dict[str, Any]:
    """Counts of scenario verdicts, and of transitions by their worst verdict
    (each transition once: the counts add up to the spec's transitions)."""
    from tcpcheck.tools.pictures.diagram import worst

    verdicts = Counter(r.verdict for r in results)
    per_transition: dict[str, list[str]] = {}
    for t, _, v, _ in rows:
        if t != "(none)":
            per_transition.setdefault(t, []).append(v)
    transitions = Counter(worst(vs) for vs in per_transition.values())
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
                  "profile": profile.name},
        "results": [r.to_json() for r in results],
        "matrix": [{"transition": t, "scenario": s, "verdict": v, "note": n} for t, s, v, n in rows],
        "summary": summary(results, rows),
    }
