"""The explicit engine on the embedded spec: what issue 2 must show, and the
engine checked against independent computations."""

from __future__ import annotations

import dataclasses
import random

import networkx as nx
import pytest

from tcpcheck.model import ModelOptions, build_system, load_spec
from tcpcheck.model.explicit import check, compile_successors, explore
from tcpcheck.model.gcl import evaluate

from .conftest import space


def test_default_model_reaches_every_state_and_the_named_pairs(props) -> None:  # type: ignore[no-untyped-def]
    sp = space()
    system = sp.system
    names = system.vars[system.endpoints["A"]["state"]].values
    for ep in ("A", "B"):
        idx = system.endpoints[ep]["state"]
        assert {names[s[idx]] for s in sp.states} == set(names)
    ia, ib = system.endpoints["A"]["state"], system.endpoints["B"]["state"]
    pairs = {(names[s[ia]], names[s[ib]]) for s in sp.states}
    for pair in [
        ("FIN_WAIT_2", "CLOSE_WAIT"),
        ("CLOSING", "CLOSING"),
        ("SYN_RCVD", "SYN_RCVD"),
        ("TIME_WAIT", "CLOSED"),
    ]:
        assert pair in pairs


@pytest.mark.parametrize(
    "config", [{}, {"bound": 2, "reorder": True, "loss": True}], ids=["default", "k2-reorder-loss"]
)
def test_every_property_meets_its_expectation(props, config) -> None:  # type: ignore[no-untyped-def]
    sp = space(**config)
    verdicts = {name: check(sp, p) for name, p in props.items()}
    assert {n: v.verdict for n, v in verdicts.items() if not v.as_expected} == {}
    naive = verdicts["time_wait_naive"]
    assert naive.verdict == "violated"
    cex = naive.counterexample
    assert cex is not None and any("RST" in step.sends for step in cex)
    assert cex[-1].states[naive.instance] == "TIME_WAIT"


def test_naive_time_wait_holds_without_note3(props) -> None:  # type: ignore[no-untyped-def]
    v = check(space(note3=False), props["time_wait_naive"])
    assert v.verdict == "holds"
    # expect_with in properties.toml: without Note 3 the naive form is expected to hold
    assert v.expect == "holds" and v.as_expected


def test_bounded_buffer_deadlock_at_k2_is_reported(props) -> None:  # type: ignore[no-untyped-def]
    v = check(space(bound=2), props["no_deadlock"])
    assert v.verdict == "violated"
    assert "full" in v.note and "--bound" in v.note
    last = v.counterexample[-1]  # type: ignore[index]
    assert any(len(q) == 2 for q in last.channels.values())


def test_k5_is_exact_without_faults() -> None:
    # Channels never hold more than 5 segments without faults: K=5 and K=6 agree.
    assert space(bound=5).count == space(bound=6).count


def _independent_shortest(sp, pred) -> int:  # type: ignore[no-untyped-def]
    g = sp.graph()
    lengths = nx.single_source_shortest_path_length(g, 0)
    return min(d for n, d in lengths.items() if pred(sp.states[n]))


@pytest.mark.parametrize("name", ["time_wait_naive", "closing_only_simultaneous"])
def test_counterexamples_are_shortest(props, name) -> None:  # type: ignore[no-untyped-def]
    spec_path = "tests/mutants/fin_wait_1_ack_to_closing.toml" if name == "closing_only_simultaneous" else None
    sp = space(spec_path=spec_path)
    v = check(sp, props[name])
    assert v.verdict == "violated" and v.counterexample
    exprs = dict(props[name].instances(sp.system))
    bad = exprs[v.instance]
    assert len(v.counterexample) - 1 == _independent_shortest(sp, lambda s: not evaluate(bad, s))


def test_compiled_successors_match_the_guarded_commands() -> None:
    # The generated successor function against a direct reading of the commands.
    for opts in (
        ModelOptions(),
        ModelOptions(bound=1, loss=True, duplicate=True),
        ModelOptions(bound=2, reorder=True, duplicate=True),
    ):
        system = build_system(load_spec(), opts)
        succ = compile_successors(system)
        sample = explore(system).states
        rng = random.Random(7)
        for state in rng.sample(sample, min(300, len(sample))):
            slow = []
            for i, c in enumerate(system.commands):
                if evaluate(c.guard, state):
                    new = list(state)
                    for var, e in c.updates:
                        new[var] = evaluate(e, state)
                    slow.append((i, tuple(new)))
            assert sorted(succ(state)) == sorted(slow)


def test_matrix_predicates_match_the_expressions(props) -> None:  # type: ignore[no-untyped-def]
    """Every property's expressions (and their negations, Houdini's candidates) compiled to numpy over
    a matrix of states: one verdict per row, each what gcl.evaluate says of that state."""
    import numpy as np

    from tcpcheck.model import gcl
    from tcpcheck.model.vectorized import compile_matrix_predicate

    sp = space(bound=2, reorder=True)
    states = random.Random(3).sample(sp.states, 400)
    rows = np.array(states, dtype=np.int64)
    checked = 0
    for p in props.values():
        if p.skipped_by(sp.system.options):
            continue
        for _, expr, _ in p.instances_from(sp.system):
            for e in (expr, gcl.Not(expr)):
                got = compile_matrix_predicate(e)(rows)
                assert got.tolist() == [bool(evaluate(e, st)) for st in states], p.name
                checked += 1
    assert checked > 100


def test_counter_channels_agree_with_slot_channels_on_state_pairs() -> None:
    # Reordering with per-segment counters must reach the same endpoint states
    # as FIFO plus every interleaving allowed; here: the endpoint-state pairs of
    # reorder include those of FIFO (reordering only adds behaviours).
    def pairs(sp):  # type: ignore[no-untyped-def]
        a, b = sp.system.endpoints["A"]["state"], sp.system.endpoints["B"]["state"]
        return {(s[a], s[b]) for s in sp.states}

    assert pairs(space(bound=2, loss=True)) <= pairs(space(bound=2, reorder=True, loss=True))


def test_graph_matches_state_space() -> None:
    # The graph (from the vectorized successors and the store's numbering) against the scalar successors.
    sp = space()
    g = sp.graph()
    assert g.number_of_nodes() == sp.count == len(set(sp.states))
    succ = compile_successors(sp.system)
    for i, s in enumerate(sp.states):
        assert {sp.states[j] for j in g.successors(i)} == {t for _, t in succ(s)}
    offsets, targets = sp.csr()
    assert g.number_of_edges() == len(targets) == offsets[-1]


def _redirect_into(spec, state: str):  # type: ignore[no-untyped-def]
    """A mutant spec in which every transition into ``state`` goes to CLOSED instead."""
    ts = tuple(dataclasses.replace(t, target="CLOSED") if t.target == state else t for t in spec.transitions)
    return dataclasses.replace(spec, transitions=ts)


@pytest.mark.parametrize("state", [s for s in load_spec().state_names if s != load_spec().initial])
def test_each_reachability_property_fails_on_a_mutant(spec, props, state) -> None:  # type: ignore[no-untyped-def]
    sp = explore(build_system(_redirect_into(spec, state), ModelOptions()))
    assert check(sp, props[f"reach_{state}"]).verdict == "violated"
    if state == "ESTABLISHED":
        assert check(sp, props["established_pair_reachable"]).verdict == "violated"
