"""Bitstate search (SPIN's supertrace): for state spaces that do not fit in memory.

Breadth-first like the exact search, but a visited state leaves only a few
bits in a ``BitStore`` (``model/store.py``) and nothing else: memory is the
bit table plus the BFS layer being expanded and the one being built. Two
states whose bits coincide are taken for one, so some states may never be
explored: the search is **not exhaustive**, and every verdict it gives says
so, with the probability of a missed state computed as SPIN does from the
table size, the number of hash functions and the number of states.

What each verdict means here:

* ``violated`` (an invariant) and ``holds`` (a reachability property) are
  certain: the search reached a real state by real transitions. The
  counterexample or witness is then recomputed by an exact search bounded
  to the depth at which the state was found, so it is shortest.
* ``holds`` (an invariant) and ``violated`` (a reachability property) only
  say that no state found breaks (meets) it: the verdict is ``holds`` or
  ``violated`` with ``exhaustive: false``, never a proof.
* ``recoverable`` properties need the whole graph and are not checked.

Nothing here knows about TCP.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tcpcheck.model import gcl
from tcpcheck.model.errors import SearchLimit
from tcpcheck.model.explicit import SearchProgress
from tcpcheck.model.packed import U64, Layout
from tcpcheck.model.properties import Property
from tcpcheck.model.results import Verdict, trace
from tcpcheck.model.store import BitStore, group_rows, lexicographic_min
from tcpcheck.model.symmetry import Mirror
from tcpcheck.model.vectorized import compile_vector_predicate, compile_vector_successors

CHUNK = 1 << 15
DEFAULT_LOG2_BITS = 31  # 256 MiB of bits
TRACE_STATES = 20_000_000  # the exact search that recomputes a trace gives up beyond this


@dataclass
class _Goal:
    prop: Property
    label: str
    expr: gcl.Expr  # the state looked for: a violation (invariant) or a witness (reachable)
    found: tuple[int, tuple[int, ...]] | None = None  # (depth, state)


@dataclass
class BitstateResult:
    """Verdicts of a bitstate search and what it cost."""

    verdicts: list[Verdict]
    stats: dict[str, Any] = field(default_factory=dict)


def _oriented(layout: Layout, mirror: Mirror | None, words: list[np.ndarray]) -> list[list[np.ndarray]]:
    return [words, layout.mirrored(words)] if mirror is not None else [words]


def supertrace(
    system: gcl.System,
    props: Sequence[Property],
    *,
    log2_bits: int = DEFAULT_LOG2_BITS,
    hashes: int = 3,
    mirror: Mirror | None = None,
    progress: Callable[[SearchProgress], None] | None = None,
    trace_states: int = TRACE_STATES,
) -> BitstateResult:
    """Decide ``props`` by a bitstate BFS (see the module docstring for what each verdict means)."""
    t0 = time.perf_counter()
    layout = Layout(system, mirror.perm if mirror is not None else None)
    successors = compile_vector_successors(system, layout)[0]
    store = BitStore(log2_bits, hashes)
    goals: list[_Goal] = []
    for p in props:
        if p.skipped_by(system.options) or p.kind == "recoverable":
            continue
        for label, expr, _ in p.instances_from(system):
            goals.append(_Goal(p, label, gcl.Not(expr) if p.kind == "invariant" else expr))
    preds = [compile_vector_predicate(g.expr, layout) for g in goals]

    def look(words: list[np.ndarray], depth: int) -> None:
        for g, pred in zip(goals, preds, strict=True):
            if g.found is not None:
                continue
            for w in _oriented(layout, mirror, words):
                hit = pred(w)
                if hit.any():
                    i = int(np.argmax(hit))
                    g.found = (depth, layout.decode([int(x[i]) for x in w]))
                    break

    frontier = [np.array([x], dtype=U64) for x in layout.encode(system.init)]
    store.insert(frontier)
    look(frontier, 0)
    depth = transitions = 0
    peak_layer = 1
    while len(frontier[0]):
        nxt: list[list[np.ndarray]] = []
        for lo in range(0, len(frontier[0]), CHUNK):
            words = [w[lo: lo + CHUNK] for w in frontier]
            _, _, new = successors(words)
            transitions += len(new[0])
            if mirror is not None:
                new = lexicographic_min(new, layout.mirrored(new))
            order, starts = group_rows(new)
            distinct = [w[order[starts]] for w in new]
            fresh = store.insert(distinct)
            nxt.append([w[fresh] for w in distinct])
            if progress is not None:
                progress(SearchProgress(store.n, transitions, 0, time.perf_counter() - t0))
        frontier = [np.concatenate([n[w] for n in nxt]) for w in range(layout.words)]
        if not len(frontier[0]):
            break
        depth += 1
        peak_layer = max(peak_layer, len(frontier[0]))
        look(frontier, depth)
    seconds = time.perf_counter() - t0
    stats = {
        "states": store.n,
        "transitions": transitions,
        "depth": depth,
        "seconds": round(seconds, 4),
        "exhaustive": False,
        "bitstate": {
            "bits": 1 << log2_bits,
            "bytes": store.nbytes,
            "hash_functions": hashes,
            "hash_factor": round(store.hash_factor(), 1),
            "omission_probability": store.omission_probability(),
            "expected_omissions": store.expected_omissions(),
            "largest_layer": peak_layer,
        },
        "symmetry": mirror.describe() if mirror is not None else None,
    }
    verdicts = [_verdict(system, p, [g for g in goals if g.prop is p], stats, mirror, trace_states) for p in props]
    return BitstateResult(verdicts, stats)


def _verdict(system: gcl.System, prop: Property, goals: list[_Goal], stats: dict[str, Any],
             mirror: Mirror | None, trace_states: int) -> Verdict:
    skipped = prop.skipped_by(system.options)
    if skipped:
        return Verdict(prop.name, prop.kind, prop.expected(system.options), "skipped", "explicit",
                       note=f"does not apply with {skipped}")
    bits = stats["bitstate"]
    caveat = (f"bitstate search, NOT exhaustive: {stats['states']} states in {bits['bits']} bits "
              f"(hash factor {bits['hash_factor']}, {bits['hash_functions']} hash functions); probability "
              f"that a state was missed at the end {bits['omission_probability']:.2e}, expected states missed "
              f"{bits['expected_omissions']:.2e}")
    v = Verdict(prop.name, prop.kind, prop.expected(system.options), "holds", "explicit",
                method="bitstate BFS (not exhaustive)", extra={"exhaustive": False, "states": stats["states"]})
    if prop.kind == "recoverable":
        v.verdict = "skipped"
        v.note = "AG EF needs the whole state graph, which a bitstate search does not keep: run without --bitstate"
        return v
    for g in goals:
        if prop.kind == "invariant" and g.found is not None:
            v.verdict, v.instance = "violated", g.label
            v.note = f"a violating state was reached at depth {g.found[0]} (certain)"
            v.counterexample = _shortest(system, g, mirror, trace_states, v)
            return v
        if prop.kind == "reachable" and g.found is None:
            v.verdict, v.instance = "violated", g.label
            v.note = "no state found satisfies it; " + caveat
            return v
    if prop.kind == "reachable":
        first = goals[0]
        v.note = "a satisfying state was reached (certain)"
        v.witness = _shortest(system, first, mirror, trace_states, v)
        return v
    v.note = "no violating state found; " + caveat
    return v


def _shortest(system: gcl.System, goal: _Goal, mirror: Mirror | None, limit: int, v: Verdict) -> Any:
    """The shortest path to a goal state, by an exact search bounded to the depth it was found at."""
    from tcpcheck.model.explicit import explore

    assert goal.found is not None
    depth = goal.found[0]
    try:
        space = explore(system, mirror=mirror, max_depth=depth, max_states=limit)
    except SearchLimit:
        v.note += f"; no trace: the exact search to depth {depth} needs more than {limit} states"
        return None
    hit = space.first(goal.expr)
    assert hit is not None, "the bounded exact search misses a state the bitstate search reached"
    return trace(system, *space.path_to(*hit))
