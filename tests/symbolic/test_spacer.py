"""Z3's Spacer (tcpcheck.model.spacer) against the explicit engine: the same answer wherever Spacer decides.

Spacer often runs out of its budget on this encoding (see the module's
docstring); an undecided target is no disagreement, but the default run
names targets Spacer is known to decide, so that it cannot pass by deciding
nothing. ``pytest -m heavy`` asks every invariant on every spec at K = 1.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tcpcheck.model import gcl, load_properties, spacer
from tcpcheck.model.symbolic import Encoding, houdini, sample_states
from tests.symbolic.conftest import SPECS, explicit_verdicts, spec_id

BUDGET = 120.0  # CPU seconds per target; the decided ones below take about 1 s of CPU each


def _answers(spec: Path | None, wanted: set[tuple[str, str]] | None) -> list[tuple[str, str, str, str]]:
    """(property, instance, Spacer's answer, the explicit engine's) for the wanted targets (None: every invariant)."""
    system, space, _ = explicit_verdicts(spec, (1, False, False))
    enc = Encoding(system)  # type: ignore[arg-type]
    helper = houdini(enc, samples=sample_states(system, 20000)).expr()  # type: ignore[arg-type]
    out = []
    for p in load_properties():
        if p.kind not in ("invariant", "reachable"):
            continue
        for label, expr, _ in p.instances_from(system):  # type: ignore[arg-type]
            if wanted is not None and (p.name, label) not in wanted or wanted is None and p.kind != "invariant":
                continue
            target = gcl.Not(expr) if p.kind == "invariant" else expr
            explicit = "unreachable" if space.first(target) is None else "reachable"  # type: ignore[attr-defined]
            out.append((p.name, label, spacer.reach(enc, target, BUDGET, helper).answer, explicit))
    return out


def test_spacer_decides_as_the_explicit_engine_does() -> None:
    wanted = {("closing_only_simultaneous", "A"), ("listen_only_passive", "B"), ("reach_LISTEN", "A")}
    answers = _answers(None, wanted)
    assert len(answers) == len(wanted)
    assert [(n, i, s) for n, i, s, _ in answers] == [(n, i, e) for n, i, _, e in answers]
    assert {e for *_, e in answers} == {"reachable", "unreachable"}


@pytest.mark.heavy
@pytest.mark.parametrize("spec", SPECS, ids=spec_id)
def test_spacer_never_contradicts_the_explicit_engine(spec: Path | None) -> None:
    answers = _answers(spec, None)
    assert [a for a in answers if a[2] != "unknown" and a[2] != a[3]] == []
