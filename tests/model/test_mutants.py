"""Every mutant in tests/mutants/ breaks exactly the properties it lists, in each configuration.

A mutant is a realistic wrong TCP machine: specs/tcp.toml with a transition
changed, removed or added. Its ``[mutant.breaks]`` table lists, for every
configuration of specs/properties.toml, the properties whose verdict differs
from their expectation. An equivalent mutant (``equivalent = true``) must
break nothing anywhere; every other mutant must break something somewhere: a
wrong machine that no property catches is a gap in the properties.

The default run checks each mutant in the default configuration and, when
that catches nothing, in the first configuration that does; the whole
matrix (every mutant in every configuration) is under ``slow``.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from tcpcheck.model.explicit import check
from tcpcheck.model.gcl import evaluate

from .conftest import CONFIGURATIONS, config_space

MUTANTS = sorted((Path(__file__).resolve().parents[1] / "mutants").glob("*.toml"))


def mutant(path: Path) -> dict:  # type: ignore[type-arg]
    return tomllib.loads(path.read_text())["mutant"]  # type: ignore[no-any-return]


def declared(path: Path) -> dict[str, set[str]]:
    return {name: set(props) for name, props in mutant(path).get("breaks", {}).items()}


def _cases() -> list[object]:
    out = []
    for path in MUTANTS:
        breaks = declared(path)
        catching = [c for c in CONFIGURATIONS if breaks.get(c)]
        fast = {"default", catching[0]} if catching else {"default"}
        for config in CONFIGURATIONS:
            marks = [] if config in fast else [pytest.mark.slow]
            out.append(pytest.param(path, config, marks=marks, id=f"{path.stem}-{config}"))
    return out


def test_mutants_are_realistic_and_caught_somewhere() -> None:
    assert len(MUTANTS) >= 30
    for path in MUTANTS:
        breaks = declared(path)
        assert set(breaks) == set(CONFIGURATIONS), f"{path.stem}: [mutant.breaks] lists every configuration"
        if mutant(path).get("equivalent"):
            assert not any(breaks.values()), f"{path.stem} is equivalent: nothing may flag it"
        else:
            assert any(breaks.values()), f"{path.stem}: a wrong machine that no property catches is a gap"


@pytest.mark.parametrize(("path", "config"), _cases())
def test_mutant_breaks_what_it_says(props, path: Path, config: str) -> None:  # type: ignore[no-untyped-def]
    sp = config_space(config, str(path))
    verdicts = {name: check(sp, p) for name, p in props.items()}
    broken = {n for n, v in verdicts.items() if not v.as_expected}
    assert broken == declared(path)[config]
    for name in broken:
        v = verdicts[name]
        if v.kind == "invariant" and v.verdict == "violated":
            # a shortest counterexample, ending where the instance is false (evaluated here, not by the engine)
            expr = dict(props[name].instances(sp.system))[v.instance]
            states, _ = sp.path_to(next(i for i, s in enumerate(sp.states) if not evaluate(expr, s)))
            assert v.counterexample is not None and len(v.counterexample) == len(states), name
            shown = sp.system.show(states[-1])
            assert v.counterexample[-1].states == {ep: shown[ep] for ep in sp.system.endpoints}, name
