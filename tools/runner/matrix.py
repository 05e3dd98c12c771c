"""One conformance matrix over several stacks: transitions down, stacks
across (pure).

Its input is what ``tcpcheck run --json`` writes per stack (``to_json``):
each run's own matrix rows. A transition covered by several scenarios in a
run gets the worst of their verdicts, and the cell names the scenario that
decided it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from tcpcheck.model.errors import InputError
from tcpcheck.model.spec import Spec

# Worst first: the cell shows the first of these any covering scenario has.
RANK = ("fail", "deviation", "pass", "not drivable", "not run", "not covered")
CELL_VERDICTS = RANK


NONE = "(none)"  # the transition of a run's matrix row that carries no transition's verdict


def label(row: Mapping[str, Any]) -> str:
    """A row's first column: its transition, or the scenario for one that carries none."""
    return f"{NONE} {row['scenario']}" if row["transition"] == NONE else str(row["transition"])


def _cell(rows: list[Mapping[str, Any]]) -> dict[str, str]:
    chosen = min(rows, key=lambda r: RANK.index(r["verdict"]) if r["verdict"] in RANK else 0)
    return {"verdict": str(chosen["verdict"]), "scenario": str(chosen["scenario"]), "note": str(chosen["note"])}


def combine(spec: Spec, runs: Sequence[Mapping[str, Any]], where: str = "results") -> dict[str, Any]:
    """The cross-stack matrix of ``runs`` (one ``tcpcheck run --json``
    document each, distinct stacks): ``{"stacks": [...], "rows": [...],
    "counts": {stack: {verdict: n}}}``, a row per spec transition, then
    one per scenario that carries no transition's verdict; InputError when two runs are of
    the same stack or a run has no matrix."""
    stacks: list[str] = []
    for n, run in enumerate(runs, start=1):
        name = run.get("stack", {}).get("name") if isinstance(run.get("stack"), dict) else None
        if not isinstance(name, str) or not isinstance(run.get("matrix"), list):
            raise InputError(where, f"run #{n} has no 'stack' name or 'matrix': pass 'tcpcheck run --json' output")
        if name in stacks:
            raise InputError(where, f"two runs of stack {name!r}: give one run per stack")
        stacks.append(name)
    rows: list[dict[str, Any]] = []
    for t in spec.transitions:
        cells: dict[str, dict[str, str]] = {}
        for name, run in zip(stacks, runs, strict=True):
            mine = [r for r in run["matrix"] if r.get("transition") == t.id]
            cells[name] = _cell(mine) if mine else {"verdict": "not covered", "scenario": "-", "note": ""}
        rows.append({"transition": t.id, "rfc": t.rfc, "cells": cells})
    # Scenarios whose verdict no transition carries (negative checks, the
    # scenarios with several connections): a row each, after the spec's.
    for scenario in dict.fromkeys(str(r.get("scenario")) for run in runs for r in run["matrix"]
                                  if r.get("transition") == NONE):
        cells = {}
        for name, run in zip(stacks, runs, strict=True):
            mine = [r for r in run["matrix"] if r.get("transition") == NONE and r.get("scenario") == scenario]
            cells[name] = _cell(mine) if mine else {"verdict": "not run", "scenario": scenario,
                                                    "note": "not in this stack's run"}
        rows.append({"transition": NONE, "scenario": scenario, "rfc": "", "cells": cells})
    counts = {name: dict(Counter(r["cells"][name]["verdict"] for r in rows)) for name in stacks}
    return {"stacks": stacks, "rows": rows, "counts": counts}


def matrix_table(matrix: Mapping[str, Any]) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    """Header and rows for a text table: the transition, then one verdict per stack."""
    header = ("transition", *matrix["stacks"])
    rows = [(label(r), *(r["cells"][s]["verdict"] for s in matrix["stacks"])) for r in matrix["rows"]]
    return header, rows
