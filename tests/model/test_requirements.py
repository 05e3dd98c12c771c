"""docs/requirements.md is what `tcpcheck requirements` generates from specs/properties.toml,
and the embedded spec meets every expectation in every configuration."""

from __future__ import annotations

from pathlib import Path

from tcpcheck.model.explicit import check
from tcpcheck.tools.requirements import render

from .conftest import CONFIGURATIONS, PROPERTY_FILE, config_space

DOC = Path(__file__).resolve().parents[2] / "docs" / "requirements.md"


def test_embedded_spec_meets_every_expectation_and_the_doc_is_current() -> None:
    results = {}
    for name in CONFIGURATIONS:
        sp = config_space(name)
        verdicts = {p.name: check(sp, p) for p in PROPERTY_FILE.properties}
        assert {n: v.verdict for n, v in verdicts.items() if not v.as_expected} == {}, name
        results[name] = (len(sp.states), verdicts)
    assert DOC.read_text(encoding="utf-8") == render(PROPERTY_FILE, results), (
        "docs/requirements.md is out of date: run tcpcheck requirements -o docs/requirements.md"
    )


def test_every_property_states_a_requirement_with_an_rfc_section() -> None:
    covered = {name for r in PROPERTY_FILE.requirements for name in r.properties}
    assert covered == {p.name for p in PROPERTY_FILE.properties}
    assert all(p.rfc.startswith("RFC ") for p in PROPERTY_FILE.properties)
    ids = [r.id for r in PROPERTY_FILE.requirements]
    for label in ("MUST-10", "MUST-11", "MUST-12", "MUST-13", "MUST-20"):  # the labelled ones the model states
        assert next(r for r in PROPERTY_FILE.requirements if r.id == label).properties, label
    assert len(ids) == len(set(ids)) and sum(i.startswith(("MUST-", "SHLD-", "MAY-", "REC-")) for i in ids) >= 100
