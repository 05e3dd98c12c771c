"""All-transition-pairs coverage: every two consecutive transitions.

A pair (t1, t2) of the endpoint graph (t1 ends where t2 starts) is covered
by the shortest drivable walk that takes t1 and then t2. A pair no walk can
take is listed with the reason (t1 ends the scenario, t2's guard contradicts
the history that t1 implies, or the sockets API cannot make the call).

A drivable transition that belongs to no pair (it leaves CLOSED and
returns there at once, e.g. a segment refused on a closed port) is covered
alone, so that the criterion subsumes all-transitions: without it, faults
in those transitions went unnoticed by this suite (``tcpcheck mutate``).
"""

from __future__ import annotations

from tcpcheck.tools.generate.drivable import GUARD, DriveModel
from tcpcheck.tools.generate.paths import Explorer, Hop, scenario_of, slug
from tcpcheck.tools.generate.suite import Suite


def pair_id(t1: str, t2: str) -> str:
    """How a pair is named in goals and reports."""
    return f"{t1} ; {t2}"


def pairs_suite(model: DriveModel, explorer: Explorer | None = None) -> Suite:
    """One scenario per drivable pair of consecutive transitions."""
    ex = explorer or Explorer(model)
    index = {t.id: t.index for t in model.spec.transitions}
    edges = {e.id: e for e in model.edges}
    # A return to CLOSED ends a scenario (the model's endpoint runs one
    # connection), so pairs through the initial state are not goals.
    adjacent = [
        (a.id, b.id) for a in model.edges for b in model.edges
        if a.transition.target == b.transition.source and a.transition.target != model.spec.initial
    ]
    best: dict[tuple[str, str], tuple[int, list[Hop]]] = {}
    for h1 in ex.hops():
        if ex.ends_walk(h1):
            continue
        for h2 in ex.succ.get(h1.dst, []):
            key = (h1.id, h2.id)
            cost = ex.dist[h1.src] + h1.cost + h2.cost
            if key not in best or cost < best[key][0]:
                best[key] = (cost, [*ex.prefix(h1.src), h1, h2])
    ordered = sorted(best, key=lambda k: (index[k[0]], index[k[1]]))
    scenarios = []
    for n, (a, b) in enumerate(ordered, start=1):
        t1, t2 = edges[a].transition, edges[b].transition
        name = f"p{n:03d}_{slug(t1.source)}_{slug(t1.event)}_then_{slug(t2.event)}"
        scenarios.append(scenario_of(model, name, best[(a, b)][1], f"takes {a} then {b}"))
    in_pairs = {tid for pair in best for tid in pair}
    lone: dict[str, tuple[int, list[Hop]]] = {}
    for h in ex.hops():
        if h.id not in in_pairs:
            cost = ex.dist[h.src] + h.cost
            if h.id not in lone or cost < lone[h.id][0]:
                lone[h.id] = (cost, [*ex.prefix(h.src), h])
    alone = sorted(lone, key=lambda tid: index[tid])
    for n, tid in enumerate(alone, start=len(scenarios) + 1):
        t = edges[tid].transition
        name = f"p{n:03d}_{slug(t.source)}_{slug(t.event)}_alone"
        scenarios.append(scenario_of(model, name, lone[tid][1], f"takes {tid}, which is in no pair"))
    not_drivable: dict[str, str] = {}
    goals: list[tuple[str, str]] = []
    for a, b in adjacent:
        if (a, b) in best:
            goals.append((a, b))
            continue
        reasons = _why(model, ex, a, b)
        if reasons and all(r.startswith(GUARD) for r in reasons):
            continue  # the model itself never takes them in a row (RFC 9293 Note 1 guards)
        goals.append((a, b))
        not_drivable[pair_id(a, b)] = "; ".join(reasons) or "no drivable walk takes them in a row"
    for tid, reason in ex.not_drivable().items():
        if tid not in edges:
            not_drivable[tid] = reason
    return Suite("pairs", model.profile_name, tuple(scenarios), (*(pair_id(a, b) for a, b in goals), *alone),
                 (*(pair_id(a, b) for a, b in ordered), *alone), not_drivable, dict(model.disabled))


def _why(model: DriveModel, ex: Explorer, a: str, b: str) -> list[str]:
    first = [h for h in ex.hops() if h.id == a]
    if not first:
        return [f"{a} is not drivable"]
    if all(ex.ends_walk(h) for h in first):
        return [f"{a} ends the scenario (a new incarnation the application holds no descriptor for)"]
    reasons: list[str] = []
    second = model.edge(b)
    for h in first:
        if ex.ends_walk(h):
            continue
        ways, why = model.realise(second, h.dst[1])
        if not ways and why and why not in reasons:
            reasons.append(why)
    return reasons
