"""The conformance matrix and the JSON document of a run (pure)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
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
        extensions = {d.transition: f"{d.id}: {d.reference}" for d in profile.extensions(r.transitions)}
        for tid, verdict, note in attribute(r.to_json(), extensions):
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


def attribute(result: Mapping[str, Any], extensions: Mapping[str, str] | None = None) -> list[tuple[str, str, str]]:
    """(transition, verdict, note) for what one scenario result (as ``run
    --json`` writes it) says about each transition; transition "" carries a
    verdict that belongs to no transition. ``extensions``: the profile's
    note for each non-RFC transition the scenario takes."""
    transitions = [str(t) for t in result.get("transitions", [])]
    steps = [s for s in result.get("steps", []) if isinstance(s, Mapping)]
    verdict, note = str(result["verdict"]), result_note(result)
    # A documented difference in what the user is told, or in a timer, is
    # checked once its transition is complete: the stack is where the model
    # says, and the scenario goes on. It marks its own transition only.
    went_on = [s for s in steps if s.get("verdict") == "deviation" and str(s.get("step", "")).startswith(ON_PATH)]
    bad = next((s for s in steps if s.get("verdict") == "fail" or s.get("verdict") == "deviation"
                and not any(s is w for w in went_on)), None)
    if bad is None:
        if not transitions and went_on:  # a scenario that covers none: the deviation is its transition's
            return [(t, "deviation", note) for t in dict.fromkeys(str(s.get("transition", "")) for s in went_on)]
        if not transitions or (verdict in ("fail", "not drivable") and not steps) or extensions is None:
            out = [(t, verdict, note) for t in transitions] or [("", verdict, note)]
        else:
            out = [(t, "deviation", extensions[t]) if t in extensions else (t, "pass", "") for t in transitions]
        return _mark(out, [str(s.get("transition", "")) for s in went_on], note)
    failed = str(bad.get("transition", ""))
    before = {str(s.get("transition", "")) for s in steps if int(s.get("index", 0)) < int(bad.get("index", 0))}
    what = f"step {bad.get('index')} {bad.get('step')} {'failed' if bad['verdict'] == 'fail' else 'deviated'}"
    out = [(failed, str(bad["verdict"]), note)]
    for t in transitions:
        if t != failed:
            out.append((t, "pass", "") if t in before else
                       (t, "not run", f"not reached: {what}" + (f" (in {failed})" if failed else "")))
    earlier = [str(s.get("transition", "")) for s in went_on if int(s.get("index", 0)) < int(bad.get("index", 0))]
    return _mark(out, [t for t in earlier if t != failed], note)


# Steps that check a transition once it is complete (what the user is told,
# a timer): a deviation there leaves the stack on the model's path.
ON_PATH = ("told ", "timer ")


def _mark(rows: list[tuple[str, str, str]], deviated: list[str], note: str) -> list[tuple[str, str, str]]:
    """``rows`` with the transitions in ``deviated`` (a documented
    difference after they completed) marked deviation, added when the
    scenario only passed through them (a prefix)."""
    marked = set(deviated)
    out = [(t, "deviation", note) if t in marked and v == "pass" else (t, v, n) for t, v, n in rows]
    seen = {t for t, _, _ in out}
    return out + [(t, "deviation", note) for t in dict.fromkeys(deviated) if t and t not in seen]


def result_note(result: Mapping[str, Any]) -> str:
    """What to say about one scenario result: the failed step, or its deviations."""
    if result.get("verdict") == "fail":
        bad = next((s for s in result.get("steps", []) if isinstance(s, Mapping) and s.get("verdict") == "fail"),
                   None)
        if bad:
            return f"step {bad.get('index')} {bad.get('step')}: expected {bad.get('expected', '')}, " \
                   f"observed {bad.get('observed', '')}"
    if result.get("deviations"):
        return ", ".join(str(d) for d in result["deviations"])
    return str(result.get("note", ""))


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
        "not drivable": verdicts["not drivable"],
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
