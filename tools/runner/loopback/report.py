"""The table and the JSON document of a loopback run (pure)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from tcpcheck.tools.runner.loopback.execute import PairResult
from tcpcheck.tools.runner.profile import Profile


def rows(results: list[PairResult]) -> list[tuple[str, str, str, str, str]]:
    """(scenario, verdict, A's path, B's path, note) per scenario."""
    out = []
    for r in results:
        paths = r.check.paths if r.check else {}
        note = r.note
        if r.verdict == "fail" and not note:
            bad = next((s for s in r.steps if s.verdict == "fail"), None)
            if bad is not None:
                note = f"step {bad.index} {bad.step}: expected {bad.expected}, observed {bad.observed}"
        elif r.verdict == "deviation":
            note = ", ".join(r.deviations)
        out.append((r.scenario, r.verdict, paths["A"].text() if "A" in paths else "",
                    paths["B"].text() if "B" in paths else "", note))
    return out


def property_totals(results: list[PairResult]) -> list[dict[str, Any]]:
    """Per pair property: on how many observed states of how many runs it
    was checked, and what it came to (an invariant expected to hold is
    ``violated`` if any run violated it)."""
    totals: dict[str, dict[str, Any]] = {}
    for r in results:
        if r.check is None:
            continue
        for p in r.check.properties:
            t = totals.setdefault(p.name, {"property": p.name, "kind": p.kind, "expect": p.expect, "runs": 0,
                                           "states": 0, "outcomes": Counter(), "first": ""})
            if p.verdict == "skipped":
                t["outcomes"]["skipped"] += 1
                t["first"] = t["first"] or p.where
                continue
            t["runs"] += 1
            t["states"] += p.states
            t["outcomes"][p.verdict] += 1
            if p.verdict in ("violated", "witnessed") and not t["first"]:
                t["first"] = f"{r.scenario}: {p.where}"
    out = []
    for t in totals.values():
        outcomes: Counter[str] = t.pop("outcomes")
        if t["kind"] == "invariant":
            t["verdict"] = "violated" if outcomes["violated"] else "holds" if t["runs"] else "skipped"
        elif t["kind"] == "reachable":
            t["verdict"] = "witnessed" if outcomes["witnessed"] else "not witnessed" if t["runs"] else "skipped"
        else:
            t["verdict"] = "skipped"
        t["witnessed_in"] = outcomes["witnessed"]
        out.append(t)
    return out


def summary(results: list[PairResult]) -> dict[str, Any]:
    """Counts of verdicts and times."""
    verdicts = Counter(r.verdict for r in results)
    return {
        "scenarios": len(results),
        "pass": verdicts["pass"],
        "deviation": verdicts["deviation"],
        "fail": verdicts["fail"],
        "seconds": round(sum(r.seconds + r.check_seconds for r in results), 6),
        "events": sum(len(r.observed.events) for r in results),
    }


def to_json(info: dict[str, Any], profile: Profile | None, results: list[PairResult]) -> dict[str, Any]:
    """The ``tcpcheck run --loopback --json`` document."""
    return {
        "stack": {**info, "profile": profile.name if profile else "rfc", "mode": "loopback"},
        "results": [r.to_json() for r in results],
        "properties": property_totals(results),
        "summary": summary(results),
    }
