"""All-transitions coverage: one scenario per drivable transition.

Each scenario is the shortest drivable walk that ends by taking the
transition, so a failure names exactly one transition under test.
"""

from __future__ import annotations

from dataclasses import replace

from tcpcheck.tools.generate.drivable import DriveModel
from tcpcheck.tools.generate.paths import Explorer, Hop, scenario_of, transition_slug
from tcpcheck.tools.generate.suite import Suite


def transitions_suite(model: DriveModel, explorer: Explorer | None = None) -> Suite:
    """The transition cover: every drivable transition, taken last."""
    ex = explorer or Explorer(model)
    best: dict[str, tuple[int, list[Hop]]] = {}
    for hop in ex.hops():
        cost = ex.dist[hop.src] + hop.cost
        if hop.id not in best or cost < best[hop.id][0]:
            best[hop.id] = (cost, [*ex.prefix(hop.src), hop])
    index = {t.id: t.index for t in model.spec.transitions}
    scenarios = []
    for tid in sorted(best, key=lambda t: index[t]):
        walk = best[tid][1]
        t = walk[-1].edge.transition
        name = f"t{t.index + 1:02d}_{transition_slug(tid)}"
        desc = f"takes {tid}" + (f" ({t.note})" if t.note else "")
        s = scenario_of(model, name, walk, desc)
        # The transition under test comes first in the docstring.
        ids = (tid, *(x for x in s.transitions if x != tid))
        scenarios.append(replace(s, transitions=ids))
    goals = tuple(e.id for e in model.edges) + tuple(model.not_drivable)
    not_drivable = ex.not_drivable()
    return Suite("transitions", model.profile_name, tuple(scenarios), tuple(sorted(goals, key=lambda g: index[g])),
                 tuple(sorted(best, key=lambda g: index[g])), not_drivable, dict(model.disabled))
