"""Reductions against the unreduced search: the same verdicts, counterexamples of the same length
that replay, the same reachable endpoint states; and the bitstate search labelled for what it is.

The default run covers K = 1 (every fault combination) and two mutants; ``pytest -m heavy`` runs
every spec (embedded + tests/mutants/) at K = 1 and 2 with every combination of reorder and loss.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tcpcheck.model import ModelOptions, build_system, gcl, load_properties, load_spec
from tcpcheck.model.explicit import check, explore
from tcpcheck.model.supertrace import supertrace
from tcpcheck.model.symbolic import replay
from tcpcheck.model.symmetry import find_mirror
from tcpcheck.tools.cli import main
from tests.symbolic.conftest import MUTANTS, SPECS, config_id, spec_id

CONFIGS = [(k, r, lo) for k in (1, 2) for r in (False, True) for lo in (False, True)]
FAST = {(None, c) for c in CONFIGS if c[0] == 1} | {(MUTANTS[0], (1, False, False)), (MUTANTS[3], (1, True, True))}


def _cases() -> list[object]:
    return [pytest.param(s, c, marks=[] if (s, c) in FAST else [pytest.mark.heavy], id=f"{spec_id(s)}-{config_id(c)}")
            for s in SPECS for c in CONFIGS]


@functools.lru_cache(maxsize=4)
def _unreduced(spec: Path | None, cfg: tuple[int, bool, bool]) -> tuple[object, object, list]:
    k, reorder, loss = cfg
    system = build_system(load_spec(spec), ModelOptions(bound=k, reorder=reorder, loss=loss), load_properties())
    space = explore(system)
    return system, space, [check(space, p) for p in load_properties()]


def _length(v: object) -> int | None:
    path = v.counterexample or v.witness  # type: ignore[attr-defined]
    return None if path is None else len(path)


@pytest.mark.parametrize(("spec", "cfg"), _cases())
def test_symmetry_reduction_changes_no_verdict(spec: Path | None, cfg: tuple[int, bool, bool]) -> None:
    system, full, expected = _unreduced(spec, cfg)
    props = load_properties()
    mirror, why = find_mirror(system)  # type: ignore[arg-type]
    assert mirror is not None, why
    reduced = explore(system, mirror=mirror)  # type: ignore[arg-type]
    assert reduced.full_count() == full.count  # type: ignore[attr-defined]
    assert full.count / reduced.count >= 1.8  # type: ignore[attr-defined]
    ia, ib = (system.endpoints[e]["state"] for e in ("A", "B"))  # type: ignore[attr-defined]
    pair = [gcl.Ref(ia), gcl.Ref(ib)]
    assert reduced.distinct(pair) == full.distinct(pair)  # type: ignore[attr-defined]
    for prop, e in zip(props, expected, strict=True):
        assert_same_verdict(system, prop, check(reduced, prop), e)


def assert_same_verdict(system: object, prop: object, r: object, e: object) -> None:
    """A reduced search's verdict ``r`` is the unreduced ``e``: verdict, instance and trace length; its
    traces replay, a counterexample to a violating state and a witness to a satisfying one."""
    name = prop.name  # type: ignore[attr-defined]
    assert (r.verdict, r.instance, _length(r)) == (e.verdict, e.instance, _length(e)), name  # type: ignore[attr-defined]
    for path, bad in ((r.counterexample, True), (r.witness, False)):  # type: ignore[attr-defined]
        if not path:
            continue
        states = replay(system, path)  # type: ignore[arg-type]
        exprs = dict(prop.instances(system))  # type: ignore[attr-defined]
        holds = bool(gcl.evaluate(exprs[r.instance or next(iter(exprs))], states[-1]))  # type: ignore[attr-defined]
        if prop.kind != "recoverable":  # type: ignore[attr-defined]
            assert holds != bad, name


def test_the_mirror_is_found_from_structure_and_refused_when_broken() -> None:
    system = build_system(load_spec(), ModelOptions(bound=1))
    mirror, why = find_mirror(system)
    assert mirror is not None, why
    a, b = system.endpoints["A"], system.endpoints["B"]
    assert all(mirror.perm[a[f]] == b[f] for f in a)
    assert sorted(mirror.perm[v] for v in system.channels["AB"]) == sorted(system.channels["BA"])
    assert all(mirror.commands[mirror.commands[i]] == i for i in range(len(system.commands)))
    # an asymmetric initial state, or a command without its image, is no symmetry
    init = list(system.init)
    init[a["passive"]] = 1
    import dataclasses

    assert find_mirror(dataclasses.replace(system, init=tuple(init)))[0] is None
    assert "no mirror image" in find_mirror(dataclasses.replace(system, commands=system.commands[:-1]))[1]


def test_a_recoverable_property_that_is_not_symmetric_is_decided_on_both_orientations(tmp_path: Path) -> None:
    # connect_resolves (one instance per endpoint) at K = 1 FIFO holds, but not if a path through the
    # reduced graph forgot whether it had crossed to the mirror image (it was "violated for A" then)
    props = tmp_path / "p.toml"
    rows = [("a_can_close", "true", "A.state == CLOSED"), ("a_listens_after_b_time_wait", "B.state == TIME_WAIT",
            "A.state == LISTEN"), ("b_established_after_a_syn_sent", "A.state == SYN_SENT", "B.state == ESTABLISHED")]
    props.write_text("".join(f'[[property]]\nname = "{n}"\nrfc = "RFC 9293 §3.5"\nkind = "recoverable"\n'
                             f'from = "{f}"\nexpr = "{e}"\nexpect = "holds"\n\n' for n, f, e in rows))
    loaded = load_properties(props) + [p for p in load_properties() if p.name == "connect_resolves"]
    seen = set()
    for opts in (ModelOptions(bound=1), ModelOptions(bound=1, loss=True)):
        system = build_system(load_spec(), opts, loaded)
        mirror, why = find_mirror(system)
        assert mirror is not None, why
        full, reduced = explore(system), explore(system, mirror=mirror)
        for prop in loaded:
            e, r = check(full, prop), check(reduced, prop)
            assert (r.verdict, r.instance, _length(r)) == (e.verdict, e.instance, _length(e)), prop.name
            seen.add(e.verdict)
            if r.counterexample:  # the path replays to a state from which the goal is unreachable
                replay(system, r.counterexample)  # type: ignore[arg-type]
    assert seen == {"holds", "violated"}
    result = CliRunner().invoke(main, ["verify", "--bound", "1", "--properties", str(props), "--json"])
    data = json.loads(result.stdout)
    assert data["reductions"]["symmetry"]["applied"] is True
    plain = CliRunner().invoke(main, ["verify", "--bound", "1", "--properties", str(props), "--json", "--no-symmetry"])
    assert [(p["verdict"], p.get("instance")) for p in data["properties"]] == [
        (p["verdict"], p.get("instance")) for p in json.loads(plain.stdout)["properties"]]


def test_cli_reports_the_symmetry_reduction() -> None:
    plain = CliRunner().invoke(main, ["verify", "--bound", "1", "--json", "--no-symmetry"])
    reachable = json.loads(plain.stdout)["stats"]["states"]
    result = CliRunner().invoke(main, ["verify", "--bound", "1", "--json"])
    sym = json.loads(result.stdout)["reductions"]["symmetry"]
    assert sym["applied"] and sym["reachable"] == reachable and sym["stored"] < reachable / 1.8
    text = CliRunner().invoke(main, ["verify", "--bound", "1"]).stdout
    assert f"symmetry: A<->B, AB<->BA: {sym['stored']} states stored for {reachable} reachable" in text


@pytest.mark.parametrize("cfg", [(1, False, False), (1, True, True)], ids=config_id)
def test_bitstate_verdicts_agree_where_they_are_certain(cfg: tuple[int, bool, bool]) -> None:
    system, full, expected = _unreduced(None, cfg)
    result = supertrace(system, load_properties(), log2_bits=26)  # type: ignore[arg-type]
    assert result.stats["exhaustive"] is False and result.stats["states"] == full.count  # type: ignore[attr-defined]
    for v, e in zip(result.verdicts, expected, strict=True):
        if v.kind == "recoverable":
            assert v.verdict == "skipped" and "bitstate" in v.note
            continue
        assert (v.verdict, v.instance, _length(v)) == (e.verdict, e.instance, _length(e)), v.name
        if v.verdict != "skipped":
            assert v.extra["exhaustive"] is False


def test_bitstate_is_labelled_not_exhaustive_in_text_and_json() -> None:
    # 2**16 bits for some 15 000 states: states are missed, and the report says how likely that was
    exact = _unreduced(None, (1, False, True))[1].count  # type: ignore[attr-defined]
    args = ["verify", "--bound", "1", "--loss", "--bitstate", "--bits", "16", "--no-symmetry"]
    text = CliRunner().invoke(main, [*args, "--property", "time_wait_naive", "--property", "no_deadlock"]).stdout
    assert "bitstate search, NOT exhaustive" in text and "probability a state was missed" in text
    data = json.loads(CliRunner().invoke(main, [*args, "--json"]).stdout)
    assert data["stats"]["exhaustive"] is False
    assert data["stats"]["states"] < exact
    assert data["stats"]["bitstate"]["expected_omissions"] > 1
    for p in data["properties"]:
        if p["verdict"] != "skipped":
            assert p["exhaustive"] is False and "NOT exhaustive" in p["note"] or "(certain)" in p["note"], p


def test_an_instance_whose_image_holds_is_not_searched_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under the mirror reduction, B of an "each" invariant is A's image: A's search over the stored
    states and their images already covered it, so only A is searched; without the reduction both
    are. The verdicts are the unreduced ones either way, and an instance that is no image of one
    searched (a property naming A and B itself) is still searched."""
    from tcpcheck.model import explicit

    system = build_system(load_spec(), ModelOptions(bound=1), load_properties())
    mirror, why = find_mirror(system)
    assert mirror is not None, why
    searched: list[gcl.Expr] = []
    real = explicit.StateSpace.first

    def spy(self: explicit.StateSpace, expr: gcl.Expr) -> object:
        searched.append(expr)
        return real(self, expr)

    monkeypatch.setattr(explicit.StateSpace, "first", spy)
    props = {p.name: p for p in load_properties()}
    full, reduced = explore(system), explore(system, mirror=mirror)
    # (property, searches unreduced, searches reduced): an "each" invariant that holds, and one
    # naming both endpoints itself (violated by a simultaneous close)
    for name, unreduced, with_mirror in (("time_wait_active_closer", 2, 1), ("time_wait_only_one_side", 1, 1)):
        searched.clear()
        e = check(full, props[name])
        assert len(searched) == unreduced, name
        searched.clear()
        r = check(reduced, props[name])
        assert len(searched) == with_mirror, name
        assert (r.verdict, r.instance, _length(r)) == (e.verdict, e.instance, _length(e)), name
