"""The Chinese-postman tour is optimal: checked against computations that
share nothing with tools/generate/tour.py (no minimum-cost flow)."""

from __future__ import annotations

import heapq
import itertools
import random
from collections import Counter
from collections.abc import Hashable, Sequence

import networkx as nx
import pytest

from tcpcheck.model.spec import Spec
from tcpcheck.tools.generate.drivable import DriveModel, load_drive_model
from tcpcheck.tools.generate.paths import Explorer
from tcpcheck.tools.generate.tour import RESET, PEdge, _cover_best_of, postman_graph, postman_plan, tour_suite
from tests.generator.replay import replay


def brute_force_optimum(required: Sequence[PEdge], optional: Sequence[PEdge], start: Hashable) -> int:
    """Dijkstra over (node, set of required edges walked): the cheapest closed
    walk from ``start`` that takes every required edge, where a reset to
    ``start`` is free. Exponential; for small graphs only."""
    moves: dict[Hashable, list[tuple[Hashable, int, int]]] = {}
    for n, e in enumerate(required):
        moves.setdefault(e.src, []).append((e.dst, e.cost, 1 << n))
    for e in optional:
        moves.setdefault(e.src, []).append((e.dst, e.cost, 0))
    full = (1 << len(required)) - 1
    best = {(start, 0): 0}
    heap = [(0, 0, repr(start), start, 0)]
    tie = itertools.count()
    while heap:
        d, _, _, node, mask = heapq.heappop(heap)
        if (node, mask) == (start, full):
            return d
        if d > best.get((node, mask), 1 << 60):
            continue
        nxt = [*moves.get(node, []), (start, 0, 0)]
        for dst, cost, bit in nxt:
            key = (dst, mask | bit)
            if d + cost < best.get(key, 1 << 60):
                best[key] = d + cost
                heapq.heappush(heap, (d + cost, next(tie), repr(dst), dst, mask | bit))
    raise AssertionError("no covering walk")


def matching_optimum(required: Sequence[PEdge], optional: Sequence[PEdge], start: Hashable) -> int:
    """Edmonds-Johnson: pair every surplus of in-degree with a surplus of
    out-degree at the least shortest-path cost, by a minimum-weight perfect
    matching (blossom algorithm) instead of a flow."""
    g = nx.MultiDiGraph()
    for e in (*required, *optional):
        g.add_edge(e.src, e.dst, weight=e.cost)
    for n in list(g.nodes):
        g.add_edge(n, start, weight=0)
    dist = dict(nx.all_pairs_dijkstra_path_length(g))
    balance: Counter[Hashable] = Counter()
    for e in required:
        balance[e.src] -= 1
        balance[e.dst] += 1
    sources = [n for n, b in balance.items() for _ in range(max(b, 0))]  # must walk out again
    sinks = [n for n, b in balance.items() for _ in range(max(-b, 0))]  # must be walked into again
    assert len(sources) == len(sinks)
    m = nx.Graph()
    big = 1 + sum(e.cost for e in (*required, *optional))
    for i, a in enumerate(sources):
        for j, b in enumerate(sinks):
            m.add_edge(("out", i), ("in", j), weight=big - dist[a][b])
    matching = nx.max_weight_matching(m, maxcardinality=True)
    assert len(matching) == len(sources)
    extra = 0
    for u, v in matching:
        (_, i), (_, j) = (u, v) if u[0] == "out" else (v, u)
        extra += dist[sources[i]][sinks[j]]
    return sum(e.cost for e in required) + extra


@pytest.mark.parametrize("profile", ["linux", "none"])
def test_tour_steps_equal_the_postman_optimum(spec: Spec, profile: str) -> None:
    model = load_drive_model(spec, profile)
    explorer = Explorer(model)
    suite = tour_suite(model, explorer)
    required, hops_of = postman_graph(model, explorer)
    independent = matching_optimum(required, list(hops_of), model.spec.initial)
    assert suite.steps == suite.extra["optimum"] == independent
    # It takes every drivable transition, each scenario is a walk of the spec.
    taken = {tid for s in suite.scenarios for tid in replay(spec, model.options, s)}
    assert taken == explorer.drivable_ids()


def test_fallback_cover_takes_every_required_edge(linux: DriveModel, explorer: Explorer) -> None:
    # Used when the optimal multigraph has no drivable decomposition.
    required, hops_of = postman_graph(linux, explorer)
    plan = postman_plan(required, linux.spec.initial, list(hops_of))
    walks = _cover_best_of(linux, explorer, plan, hops_of, tries=4)
    edge_of = {id(h): e for e, hs in hops_of.items() for h in hs}
    assert {(e.src, e.key) for e in required} <= {(edge_of[id(h)].src, edge_of[id(h)].key) for w in walks for h in w}
    assert sum(h.cost for w in walks for h in w) >= plan.optimum


def test_tour_is_shorter_than_the_transitions_suite(linux: DriveModel, explorer: Explorer) -> None:
    from tcpcheck.tools.generate.transitions import transitions_suite

    assert tour_suite(linux, explorer).steps < transitions_suite(linux, explorer).steps


def _random_graph(rng: random.Random) -> tuple[list[PEdge], list[PEdge]]:
    nodes = list(range(rng.randint(2, 5)))
    required: list[PEdge] = []
    # A path from 0 through every node keeps every required edge reachable.
    for a, b in zip(nodes, nodes[1:], strict=False):
        required.append(PEdge(a, b, rng.randint(1, 5), f"r{len(required)}"))
    for _ in range(rng.randint(0, 5)):
        required.append(PEdge(rng.choice(nodes), rng.choice(nodes), rng.randint(1, 5), f"r{len(required)}"))
    optional = [PEdge(rng.choice(nodes), rng.choice(nodes), rng.randint(1, 9), f"o{n}") for n in range(3)]
    return required, optional


@pytest.mark.parametrize("seed", range(60))
def test_postman_plan_matches_brute_force_on_small_graphs(seed: int) -> None:
    required, optional = _random_graph(random.Random(seed))
    plan = postman_plan(required, 0, optional)
    assert plan.optimum == brute_force_optimum(required, optional, 0)
    assert plan.optimum == matching_optimum(required, optional, 0)
    # The plan's multigraph is balanced: an Eulerian circuit through 0 exists.
    degree: Counter[Hashable] = Counter()
    for e in (*plan.required, *plan.duplicates):
        degree[e.src] += 1
        degree[e.dst] -= 1
    assert all(v == 0 for v in degree.values())
    assert all(e.key == RESET or e in (*required, *optional) for e in plan.duplicates)


def test_hand_computed_postman_optimum() -> None:
    # 0 -a-> 1, then 1 -b-> 2 and 1 -c-> 3: after one branch the walk resets
    # (free) and must take a again: 3 + 1 + 3 + 1.
    req = [PEdge(0, 1, 3, "a"), PEdge(1, 2, 1, "b"), PEdge(1, 3, 1, "c")]
    assert brute_force_optimum(req, [], 0) == 8
    assert matching_optimum(req, [], 0) == 8
    plan = postman_plan(req, 0)
    assert plan.optimum == 8
    assert [e.key for e in plan.duplicates if e.key != RESET] == ["a"]
