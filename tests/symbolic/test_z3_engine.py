"""The Z3 engine against the explicit one: same verdicts, shortest paths that replay,
and every invariant or unreachable target proved by Z3 itself (no fallback to
the explicit state space).

Z3 runs cost seconds to a minute per configuration (BMC, Houdini, IC3), so the
default run covers K = 1 FIFO on the embedded spec (each case costs ~20 s
of CPU since the properties of issue 20; two mutants meet Z3 in the default
cases of tests/symbolic/test_property_mutants.py); every other spec and
configuration (the faulty ones included) of the
K = 1..3 matrix is under ``slow`` (``pytest -m slow tests/symbolic``), and
``bench/engines_matrix.py`` runs all of it against SPIN too.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tcpcheck.model import gcl, load_properties
from tcpcheck.model.symbolic import Checker, Encoding, Unrolling, abstract_every_bound, prove_every_bound, replay
from tests.symbolic.conftest import MUTANTS, SPECS, config_id, explicit_verdicts, spec_id

CONFIGS = [(k, r, loss) for k in (1, 2, 3) for r in (False, True) for loss in (False, True)]
FAST = {
    (None, (1, False, False)),
}


def _cases() -> list[object]:
    out = []
    for spec in SPECS:
        for cfg in CONFIGS:
            marks = [] if (spec, cfg) in FAST else [pytest.mark.slow]
            out.append(pytest.param(spec, cfg, marks=marks, id=f"{spec_id(spec)}-{config_id(cfg)}"))
    return out


@pytest.mark.parametrize(("spec", "cfg"), _cases())
def test_z3_agrees_with_explicit(spec: Path | None, cfg: tuple[int, bool, bool],
                                monkeypatch: pytest.MonkeyPatch) -> None:
    from tcpcheck.model.explicit import compile_predicate
    from tcpcheck.model.ic3 import IC3

    system, space, expected = explicit_verdicts(spec, cfg)
    props = load_properties()
    # IC3 is only asked about targets no sampled reachable state meets: the others have a path,
    # which BMC finds (shortest, checked below)
    asked: list[gcl.Expr] = []
    reach = IC3.reach
    monkeypatch.setattr(IC3, "reach", lambda ic3, target, *a: asked.append(target) or reach(ic3, target, *a))
    checker = Checker(system, explicit_space=lambda: space)
    got = checker.check_all(props)
    assert not [t for t in asked if any(map(compile_predicate(t), checker.samples()))]
    for e, z in zip(expected, got, strict=True):
        assert (z.verdict, z.instance if z.verdict == "violated" else "") == (
            e.verdict, e.instance if e.verdict == "violated" else ""), (e.name, e, z)
        assert z.verdict != "unknown"
        for ours, theirs in ((z.counterexample, e.counterexample), (z.witness, e.witness)):
            if ours is None:
                continue
            # shortest, and replays step by step through the explicit engine
            assert theirs is not None and len(ours) == len(theirs), e.name
            states = replay(system, ours)
            last = states[-1]
            label = z.instance
            expr = next(x for lab, x, _ in next(p for p in props if p.name == e.name).instances_from(system)
                        if lab == label or not label)
            assert bool(gcl.evaluate(expr, last)) == (ours is z.witness)
        if "symbolic_proof" in z.extra:
            assert z.extra["symbolic_proof"], (e.name, z.method)
            assert z.method in ("inductive invariant", "k-induction", "IC3"), z.method


def test_bmc_finds_exactly_the_bfs_depth() -> None:
    """Every BFS layer of the explicit space is where BMC says the first path of that length ends."""
    system, space, _ = explicit_verdicts(None, (1, False, False))
    depth = space.depths().tolist()
    unrolling = Unrolling(Encoding(system))
    a_state = system.endpoints["A"]["state"]
    values = system.vars[a_state].values
    # three states at shallow, middle and deep BFS layers (each query costs ~1 s at depth 10)
    for value in (values.index("LISTEN"), values.index("ESTABLISHED"), values.index("LAST_ACK")):
        reached = [d for s, d in zip(space.states, depth, strict=True) if s[a_state] == value]
        path = unrolling.shortest(gcl.eq(a_state, value), 40)
        assert (path is None) == (not reached), values[value]
        if path is not None:
            assert path.depth == min(reached), values[value]


def test_headline_invariants_hold_for_every_bound() -> None:
    """Counter abstraction with reordering, loss and duplication: proved for every K."""
    from tcpcheck.model import ModelOptions, build_system, load_spec

    system = build_system(load_spec(None), ModelOptions(bound=2, reorder=True, loss=True, duplicate=True))
    props = [p for p in load_properties() if p.name in ("time_wait_active_closer", "closing_only_simultaneous")]
    verdicts = prove_every_bound(system, props)
    for v in verdicts:
        assert v.verdict == "holds" and v.extra["every_bound"] is True, v
        assert v.method in ("inductive invariant", "k-induction")
        assert "every channel bound" in v.note
    abstraction = abstract_every_bound(system)
    assert abstraction.dropped_guards > 0
    assert all(not any(isinstance(a, gcl.Cmp) and a.op == "<=" and isinstance(a.left, gcl.Add)
                       for a in (c.guard.args if isinstance(c.guard, gcl.And) else (c.guard,)))
               for c in abstraction.system.commands)


def test_step_properties_carry_to_every_bound_only_when_negated() -> None:
    """The abstraction keeps the step vocabulary ("X.can(c)" was an error there). It enables more steps
    than any bounded system, so "not X.can(c)" proved on it holds for every K; "X.can(c)" in a positive
    position is not tried."""
    from tcpcheck.model import ModelOptions, build_system, load_spec

    names = ("rst_never_answers_rst", "abort_always_possible")
    props = [p for p in load_properties() if p.name in names]
    system = build_system(load_spec(None), ModelOptions(bound=1, reorder=True), props)
    never, always = prove_every_bound(system, props)
    assert never.verdict == "holds" and never.extra["every_bound"] is True, never
    assert always.verdict == "unknown" and always.extra["every_bound"] is False and "not negated" in always.note


@pytest.mark.parametrize("mutant", ["close_wait_close_to_time_wait", "rst_answered_to_time_wait"])
def test_every_bound_proof_fails_on_a_broken_mutant(mutant: str) -> None:
    """The abstraction proof is not vacuous: on a mutant that breaks the invariant it proves nothing.

    The second mutant answers a RST with a RST and parks in TIME_WAIT: the old
    escape clause ("or it sent a RST") let it pass for every channel bound.
    """
    from tcpcheck.model import ModelOptions, build_system, load_spec

    spec = load_spec(next(m for m in MUTANTS if m.stem == mutant))
    system = build_system(spec, ModelOptions(bound=2, reorder=True))
    props = [p for p in load_properties() if p.name == "time_wait_active_closer"]
    (v,) = prove_every_bound(system, props)
    assert v.verdict == "unknown" and v.extra["every_bound"] is False


def test_ic3_closes_what_houdini_leaves_and_the_fallback_says_so() -> None:
    """CLOSING is unreachable at K = 1 FIFO; two-variable clauses and 3-induction do not show it.

    With IC3 the verdict is Z3's own proof; with IC3 switched off it is the
    explicit state space's, and the verdict says which.
    """
    from tcpcheck.model.symbolic import Options

    system, space, expected = explicit_verdicts(None, (1, False, False))
    prop = next(p for p in load_properties() if p.name == "reach_CLOSING")
    assert next(e for e in expected if e.name == prop.name).verdict == "violated"
    proved = Checker(system, Options(guided_seconds=0), explicit_space=lambda: space).check(prop)
    assert (proved.verdict, proved.method, proved.extra["symbolic_proof"]) == ("violated", "IC3", True)
    assert proved.extra["invariant"]["ic3_clauses"] > 0
    fallback = Checker(system, Options(ic3_seconds=0, guided_seconds=0), explicit_space=lambda: space).check(prop)
    assert (fallback.verdict, fallback.extra["symbolic_proof"]) == ("violated", False)
    assert fallback.method.startswith("explicit (no symbolic proof found")


def test_the_reachable_states_block_what_houdini_leaves() -> None:
    """The same proof where every reachable state is known: Houdini's candidates are all kept and
    the counterexamples to induction they leave are blocked, no IC3 needed. Without the blocked
    cubes the clauses prove nothing (they are what closes the proof), and a sample that misses
    reachable states is refused, not trusted."""
    from tcpcheck.model.guided import NotClosed
    from tcpcheck.model.ic3 import Outcome, certify
    from tcpcheck.model.symbolic import Options, guided, sample_states

    system, space, _ = explicit_verdicts(None, (1, False, False))
    prop = next(p for p in load_properties() if p.name == "reach_CLOSING")
    proved = Checker(system, explicit_space=lambda: space).check(prop)
    assert (proved.verdict, proved.method, proved.extra["symbolic_proof"]) == ("violated", "inductive invariant", True)
    assert proved.extra["invariant"]["found_by"].startswith("blocking counterexamples to induction")
    assert proved.extra["invariant"]["blocked_cubes"] > 0
    _, target, _ = next(iter(prop.instances_from(system)))
    enc = Encoding(system)
    states = sample_states(system, 10**6)
    st = guided(enc, [gcl.Not(target)], states)
    assert st.cubes and certify(enc, Outcome(False, invariant=st.cubes, seed=st.clauses[: -len(st.cubes)]), target)
    assert not certify(enc, Outcome(False, seed=st.clauses[: -len(st.cubes)]), target)
    with pytest.raises(NotClosed):
        # the first half breadth first: clauses drawn from it are false of the rest
        guided(enc, [gcl.Not(target)], sample_states(system, len(states) // 2))
    # a sample that stops at its limit may have missed states: it guides Houdini and IC3 instead
    assert Checker(system, Options(sample_limit=len(states))).reachable() is None
    assert sorted(Checker(system, Options(sample_limit=len(states) + 1)).reachable() or []) == sorted(states)
