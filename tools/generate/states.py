"""All-states coverage: every state reached by a shortest drivable walk.

A walk that is a prefix of another is dropped: the longer one passes
through the same states with an ``expect_state`` at each.
"""

from __future__ import annotations

from dataclasses import replace

from tcpcheck.tools.generate.drivable import DriveModel
from tcpcheck.tools.generate.paths import Explorer, Hop, scenario_of, slug, walk_states
from tcpcheck.tools.generate.suite import Suite
from tcpcheck.tools.scenario import ExpectState, Scenario


def states_suite(model: DriveModel, explorer: Explorer | None = None) -> Suite:
    """One scenario per state not already visited on the way to another."""
    ex = explorer or Explorer(model)
    best: dict[str, list[Hop]] = {}
    for node, _d in sorted(ex.dist.items(), key=lambda kv: (kv[1], _order(model, kv[0][0]))):
        state = node[0]
        if state not in best:
            best[state] = ex.prefix(node)
    walks = [w for w in best.values() if w]
    # Keep a walk only if no other kept walk extends it.
    kept = [w for w in walks if not any(o is not w and len(o) > len(w) and o[: len(w)] == w for o in walks)]
    kept.sort(key=lambda w: (_order(model, w[-1].dst[0]), len(w)))
    scenarios: list[Scenario] = []
    covered: set[str] = set()
    for w in kept:
        target = w[-1].dst[0]
        covered.update(walk_states(w))
        scenarios.append(scenario_of(model, f"reach_{slug(target)}", w, f"reach {target}"))
    initial = model.spec.initial
    if scenarios:
        # Every walk starts in the initial state; the first scenario checks
        # it before its first step, so the state is observed, not assumed.
        first = scenarios[0]
        scenarios[0] = replace(first, steps=(ExpectState(initial), *first.steps))
    else:
        scenarios.append(Scenario(f"reach_{slug(initial)}", (ExpectState(initial),), description=f"reach {initial}"))
    covered.add(initial)
    goals = model.spec.state_names
    not_reached = {s: "no drivable walk reaches it" for s in goals if s not in covered}
    return Suite("states", model.profile_name, tuple(scenarios), goals, tuple(s for s in goals if s in covered),
                 not_reached, {})


def _order(model: DriveModel, state: str) -> int:
    return model.spec.state_names.index(state)
