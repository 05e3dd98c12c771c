"""Every mutant in tests/mutants/ breaks exactly the properties it lists."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from tcpcheck.model.explicit import check

from .conftest import space

MUTANTS = sorted((Path(__file__).resolve().parents[1] / "mutants").glob("*.toml"))


def test_at_least_six_mutants() -> None:
    assert len(MUTANTS) >= 6


@pytest.mark.parametrize("path", MUTANTS, ids=lambda p: p.stem)
def test_mutant_breaks_what_it_says(props, path: Path) -> None:  # type: ignore[no-untyped-def]
    declared = set(tomllib.loads(path.read_text())["mutant"]["breaks"])
    assert declared, "a mutant that breaks nothing shows a gap in the properties"
    sp = space(spec_path=str(path))
    verdicts = {name: check(sp, p) for name, p in props.items()}
    broken = {n for n, v in verdicts.items() if not v.as_expected}
    assert broken == declared
    for name in broken:
        v = verdicts[name]
        if v.kind != "reachable":  # an unreachable state has no counterexample path
            assert v.counterexample, name
