"""Deciding ``not X.can(c)`` from the transitions, beside evaluating it in every state, on the packed engine.

Most properties of specs/properties.toml are step invariants ``not
self.can(c)``. On the engine that kept every edge as a tuple, deciding them
from the recorded edges (a command is enabled in a state exactly when the
state has an edge by it; ``temporal.forbidden_steps`` gives each command's
condition) was about 1.3x faster than evaluating the disjunction of every
guard in every state. The packed engine records no edges by command: the
edge way must recompute the successors of every stored state (of both
orientations of it under the symmetry reduction: instance A at the mirror
image of s is instance B at s), which costs more than the vectorized
predicate it would replace. ``explicit.check`` therefore evaluates the
predicate; this script measures both on the same explored space, for each
configuration of specs/properties.toml (and reordering with K=2), with and
without the symmetry reduction: CPU seconds to decide every step invariant
both ways, the ratio, and whether every verdict, instance and
counterexample length agree; peak memory of the process at the end.

    python bench/step_check_bench.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np

from tcpcheck.model import ModelOptions, build_system, gcl, load_spec
from tcpcheck.model.explicit import StateSpace, check, explore
from tcpcheck.model.properties import Property, load_property_file
from tcpcheck.model.results import trace
from tcpcheck.model.symmetry import find_mirror
from tcpcheck.model.temporal import forbidden_steps
from tcpcheck.model.vectorized import compile_vector_predicate


def first_enabled(space: StateSpace, steps: list[gcl.Expr]) -> tuple[int, bool] | None:
    """The first stored state (BFS order) where, in it or in its mirror image, a command is
    enabled whose condition in ``steps`` holds, and whether only the image has one: where
    ``not X.can(c)`` is first violated, from the successors of every state."""
    commands: dict[gcl.Expr, list[int]] = {}
    for cmd, condition in enumerate(steps):
        if condition != gcl.FALSE:
            commands.setdefault(condition, []).append(cmd)
    if not commands:
        return None
    tests = [(np.array(cmds), None if c == gcl.TRUE else compile_vector_predicate(c, space.layout))
             for c, cmds in commands.items()]
    step = space.vector_successors()
    for lo, hi, words in space.chunks():
        hits = []
        for oriented in space._orientations(words):
            rows, cmds, _ = step(oriented)
            hit = np.zeros(hi - lo, dtype=bool)
            for members, pred in tests:
                at = rows[np.isin(cmds, members)]
                if at.size and pred is not None:
                    at = at[pred([w[at] for w in oriented])]
                hit[at] = True
            hits.append(hit)
        either = np.logical_or.reduce(hits)
        if either.any():
            i = int(np.argmax(either))
            return lo + i, bool(not hits[0][i])
    return None


def by_edges(space: StateSpace, prop: Property) -> tuple[str, str, int]:
    """(verdict, instance, counterexample length) of a step invariant, decided from the successors."""
    for label, aliases in prop.roles():
        steps = forbidden_steps(space.system, prop.tree, aliases)
        assert steps is not None
        bad = first_enabled(space, steps)
        if bad is not None:
            return "violated", label, len(trace(space.system, *space.path_to(*bad)))
    return "holds", "", 0


def decide(space: StateSpace, props: list[Property], edges: bool) -> list[tuple[str, str, int]]:
    """(verdict, instance, counterexample length) of each property, one way or the other."""
    if edges:
        return [by_edges(space, p) for p in props]
    return [(v.verdict, v.instance, len(v.counterexample or [])) for v in (check(space, p) for p in props)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="runs of each way, alternated; the best is shown")
    args = ap.parse_args()
    pf = load_property_file()
    props = list(pf.properties)
    spec = load_spec()
    configs = [(c.name, ModelOptions(bound=c.bound, reorder=c.reorder, loss=c.loss, duplicate=c.duplicate,
                                     spec_options=c.options)) for c in pf.configurations]
    configs.append(("reorder, K=2", ModelOptions(bound=2, reorder=True)))
    print(f"{len(props)} properties; CPU seconds to decide the step invariants 'not X.can(c)', best of {args.repeat}")
    print(f"{'configuration':<16}{'symmetry':>9}{'states':>9}{'every state':>13}{'edges':>9}{'ratio':>8}  same")
    for name, options in configs:
        system = build_system(spec, options, props)
        steps = [p for p in props if p.kind == "invariant" and not p.skipped_by(system.options)
                 and forbidden_steps(system, p.tree, p.roles()[0][1]) is not None]
        for mirror in (None, find_mirror(system)[0]):
            space = explore(system, mirror=mirror)
            best = {True: float("inf"), False: float("inf")}
            found: dict[bool, list[tuple[str, str, int]]] = {}
            for _ in range(args.repeat):
                for edges in (False, True):
                    t0 = time.process_time()
                    found[edges] = decide(space, steps, edges)
                    best[edges] = min(best[edges], time.process_time() - t0)
            same = "yes" if found[True] == found[False] else "NO"
            print(f"{name:<16}{'on' if mirror else 'off':>9}{space.count:>9,}{best[False]:>12.2f}s{best[True]:>8.2f}s"
                  f"{best[True] / max(best[False], 1e-9):>8.2f}  {same}")
    print(f"peak memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
