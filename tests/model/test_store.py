"""The compact state store: packed words, the hash store, and the successors computed on them
(numpy, many states at once) against the scalar reference (one state at a time)."""

from __future__ import annotations

import random

import numpy as np
import pytest

from tcpcheck.model import ModelOptions, build_system, gcl, load_spec
from tcpcheck.model.errors import SearchLimit
from tcpcheck.model.explicit import compile_successors, explore
from tcpcheck.model.packed import Layout
from tcpcheck.model.store import BitStore, ExactStore, GrowingArray, group_rows, lexicographic_min, sorted_distinct
from tcpcheck.model.symmetry import find_mirror
from tcpcheck.model.vectorized import compile_vector_successors
from tests.symbolic.conftest import MUTANTS

FAST = [(1, False, False), (1, True, True), (2, False, False)]
HEAVY = [(k, r, lo) for k in (1, 2) for r in (False, True) for lo in (False, True) if (k, r, lo) not in FAST]


def _configs() -> list[object]:
    return [pytest.param(c, id=f"K{c[0]}{'-reorder' if c[1] else ''}{'-loss' if c[2] else ''}") for c in FAST] + [
        pytest.param(c, marks=pytest.mark.heavy, id=f"K{c[0]}{'-reorder' if c[1] else ''}{'-loss' if c[2] else ''}")
        for c in HEAVY]


@pytest.mark.parametrize("mirrored", [False, True], ids=["plain", "mirror-layout"])
@pytest.mark.parametrize("cfg", _configs())
def test_packed_encoding_round_trips_every_reachable_state(cfg: tuple[int, bool, bool], mirrored: bool) -> None:
    k, reorder, loss = cfg
    system = build_system(load_spec(), ModelOptions(bound=k, reorder=reorder, loss=loss))
    mirror = find_mirror(system)[0] if mirrored else None
    space = explore(system)  # BFS over the plain layout; the states are re-packed in the one under test
    layout = Layout(system, mirror.perm if mirror else None)
    states = space.states
    assert len(set(states)) == space.count
    words = [np.array(ws, dtype=np.uint64) for ws in zip(*(layout.encode(s) for s in states), strict=True)]
    assert layout.decode_many(words) == states
    for i in range(0, len(states), max(1, len(states) // 500)):
        assert layout.decode(tuple(int(w[i]) for w in words)) == states[i]
    for v in range(len(system.vars)):
        assert layout.column(words, v).tolist() == [s[v] for s in states], system.vars[v].name
    assert all((a == b).all() for a, b in zip(layout.pack([layout.column(words, v) for v in range(len(system.vars))]),
                                             words, strict=True))
    if mirror is not None:
        image = layout.mirrored(words)
        assert layout.decode_many(image) == [mirror.state(s) for s in states]


def test_wide_states_take_several_words_and_round_trip() -> None:
    """A system wider than 64 bits (and one whose mirror sides do not share a word)."""
    rng = random.Random(3)
    sizes = [rng.choice([2, 3, 5, 7, 11, 13, 200, 1000]) for _ in range(14)]
    vars_ = tuple(gcl.Var(f"{side}.x{i}", tuple(str(j) for j in range(s)))
                  for side in ("A", "B") for i, s in enumerate(sizes))
    n = len(sizes)
    system = gcl.System(vars_, tuple([0] * 2 * n), (), endpoints={"A": {f"x{i}": i for i in range(n)},
                                                                 "B": {f"x{i}": n + i for i in range(n)}})
    mirror, why = find_mirror(system)
    assert mirror is not None, why
    for layout in (Layout(system), Layout(system, mirror.perm)):
        assert layout.words >= 2
        states = [tuple(rng.randrange(v.size) for v in vars_) for _ in range(2000)]
        words = [np.array(ws, dtype=np.uint64) for ws in zip(*(layout.encode(s) for s in states), strict=True)]
        assert layout.decode_many(words) == states
        if layout.mirror is not None:
            assert layout.decode_many(layout.mirrored(words)) == [mirror.state(s) for s in states]


@pytest.mark.parametrize("nwords", [1, 2])
def test_exact_store_finds_what_it_holds_and_nothing_else(nwords: int) -> None:
    rng = np.random.default_rng(5)
    store = ExactStore(nwords, expected=16)
    held: dict[tuple[int, ...], int] = {}
    for batch in range(30):  # grows the table and the arrays many times
        keys = [rng.integers(0, 1 << 40, size=997, dtype=np.uint64) for _ in range(nwords)]
        ids = store.lookup(keys)
        fresh = [i for i in range(997) if tuple(int(k[i]) for k in keys) not in held]
        assert [i for i in range(997) if ids[i] < 0] == fresh
        order, starts = group_rows([k[fresh] for k in keys])
        new = [k[fresh][order[starts]] for k in keys]
        numbers = store.add(new, np.full(len(new[0]), batch, dtype=np.uint32))
        for j, number in enumerate(numbers.tolist()):
            held[tuple(int(k[j]) for k in new)] = number
    assert store.n == len(held) and sorted(held.values()) == list(range(store.n))
    probe = list(held)[::37]
    got = store.lookup([np.array([p[w] for p in probe], dtype=np.uint64) for w in range(nwords)])
    assert got.tolist() == [held[p] for p in probe]
    assert store.lookup([np.array([1 << 50], dtype=np.uint64)] * nwords).tolist() == [-1]


def test_store_grows_in_place_and_keeps_parents() -> None:
    """Growing the store must not hold the old and the new arrays at once (the peak of a large search):
    the arrays are resized where they are, and what they held survives."""
    store = ExactStore(2, expected=16)
    first = id(store.keys[0])  # not a reference, which would itself force a copy
    grown_in_place = 0
    for batch in range(12):
        cap = store.keys[0].size
        words = [np.arange(batch * 1000, (batch + 1) * 1000, dtype=np.uint64)] * 2
        store.add(words, np.full(1000, batch, dtype=np.uint32))
        grown_in_place += store.keys[0].size > cap and id(store.keys[0]) == first
    assert grown_in_place >= 3
    assert store.parent[: store.n].tolist() == [b for b in range(12) for _ in range(1000)]
    assert store.lookup([np.arange(12000, dtype=np.uint64)] * 2).tolist() == list(range(12000))
    view = store.words_of(slice(0, 10))  # a live view: growth must copy rather than move it away
    store.add([np.arange(12000, 40000, dtype=np.uint64)] * 2, np.zeros(28000, dtype=np.uint32))
    assert view[0].tolist() == list(range(10))
    assert store.lookup([np.arange(40000, dtype=np.uint64)] * 2).tolist() == list(range(40000))


def test_growing_array_is_the_concatenation_of_what_was_appended() -> None:
    rng = np.random.default_rng(3)
    parts = [rng.integers(0, 1 << 31, size=int(rng.integers(0, 5000)), dtype=np.uint32) for _ in range(60)]
    grown = GrowingArray(np.uint32, capacity=8)
    for part in parts:
        grown.append(part)
    out = grown.finish()
    assert out.dtype == np.uint32 and out.tolist() == np.concatenate(parts).tolist()


def test_sorting_helpers() -> None:
    rng = np.random.default_rng(1)
    a = rng.integers(0, 50, size=400, dtype=np.uint64)
    assert sorted_distinct(a).tolist() == sorted(set(a.tolist()))
    b = rng.integers(0, 3, size=400, dtype=np.uint64)
    order, starts = group_rows([b, a], tiebreak=np.arange(400)[::-1].copy())
    pairs = list(zip(b[order].tolist(), a[order].tolist(), strict=True))
    assert pairs == sorted(pairs)
    assert int(starts.sum()) == len(set(pairs))
    low = lexicographic_min([b, a], [a % 3, b])
    assert [tuple(int(x) for x in r) for r in zip(*low, strict=True)] == [
        min((int(x), int(y)), (int(y) % 3, int(x))) for x, y in zip(b, a, strict=True)]


def test_bitstore_counts_what_it_misses() -> None:
    rng = np.random.default_rng(2)
    keys = np.unique(rng.integers(0, 1 << 60, size=20000, dtype=np.uint64))
    big, tiny = BitStore(24, 3), BitStore(14, 3)
    for store in (big, tiny):
        # in batches, as a search inserts them: a batch's bits are tested before any of them is set
        new = np.concatenate([store.insert([keys[i: i + 500]]) for i in range(0, keys.size, 500)])
        assert int(new.sum()) == store.n
        assert not store.insert([keys]).any()  # everything inserted is "seen"
    assert big.n == keys.size  # 2**24 bits for 20 000 states: nothing missed
    assert tiny.n < keys.size  # 2**14 bits: states are taken for others
    assert 0 < big.omission_probability() < 1e-6 < tiny.omission_probability() < 1
    assert tiny.expected_omissions() > 1 and big.expected_omissions() < 1e-2


@pytest.mark.parametrize("spec", [None, *[pytest.param(m, marks=pytest.mark.heavy) for m in MUTANTS[1:]],
                                  MUTANTS[0]], ids=lambda s: "embedded" if s is None else s.stem)
@pytest.mark.parametrize("opts", [ModelOptions(bound=2, loss=True, duplicate=True),
                                  ModelOptions(bound=2, reorder=True, loss=True, duplicate=True)],
                         ids=["K2-loss-dup", "K2-reorder-loss-dup"])
def test_vector_successors_match_the_scalar_ones(spec: object, opts: ModelOptions) -> None:
    system = build_system(load_spec(spec), opts)  # type: ignore[arg-type]
    layout = Layout(system)
    vector = compile_vector_successors(system, layout)[0]
    scalar = compile_successors(system)
    nearby = explore(system, max_depth=9).states  # deep enough for most commands to be enabled somewhere
    states = random.Random(11).sample(nearby, min(400, len(nearby)))
    words = [np.array(ws, dtype=np.uint64) for ws in zip(*(layout.encode(s) for s in states), strict=True)]
    rows, cmds, new = vector(words)
    got: list[set[tuple[int, tuple[int, ...]]]] = [set() for _ in states]
    for r, c, s in zip(rows.tolist(), cmds.tolist(), layout.decode_many(new), strict=True):
        got[r].add((c, s))
    for state, mine in zip(states, got, strict=True):
        assert mine == set(scalar(state)), state


def test_bfs_numbering_gives_depths_and_shortest_parents() -> None:
    import networkx as nx

    space = explore(build_system(load_spec(), ModelOptions(bound=1, loss=True)))
    depth = nx.single_source_shortest_path_length(space.graph(), 0)
    assert space.depths().tolist() == [depth[i] for i in range(space.count)]
    for i in range(0, space.count, 97):
        states, cmds = space.path_to(i)
        assert len(states) == depth[i] + 1 and states[-1] == space.states[i] and cmds[0] is None


def test_search_limits_and_progress() -> None:
    system = build_system(load_spec(), ModelOptions(bound=2, loss=True))
    seen: list[tuple[int, int]] = []
    with pytest.raises(SearchLimit) as stop:
        explore(system, progress=lambda p: seen.append((p.states, p.transitions)), every=1, max_states=20000,
                chunk=4096)
    assert stop.value.limit == "states" and stop.value.states == 20000
    assert len(seen) > 2 and seen[-1][0] <= 20000
    assert all(a[0] < b[0] and a[1] < b[1] for a, b in zip(seen, seen[1:], strict=False))
    shallow = explore(system, max_depth=5)
    assert shallow.depth == 5 and shallow.count == int((explore(system).depths() <= 5).sum())
