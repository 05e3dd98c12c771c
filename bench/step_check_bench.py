"""Deciding ``not X.can(c)`` from the recorded edges, beside evaluating it in every state.

Most properties of specs/properties.toml are step invariants ``not
self.can(c)``. ``explicit.check`` decides them from the explored space's
edges (a command is enabled in a state exactly when the state has an edge
by it), where it used to evaluate the disjunction of every guard in every
state. For each configuration of specs/properties.toml (and reordering
with K=2), on the same explored space, in one run: the time to check every
property both ways, the ratio, and whether every verdict, instance and
counterexample length agree; peak memory of the process at the end.

    python bench/step_check_bench.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import resource
import time

from tcpcheck.model import ModelOptions, build_system, explicit, load_spec
from tcpcheck.model.explicit import check, explore
from tcpcheck.model.properties import load_property_file


def timed(space: explicit.StateSpace, props: list, edges: bool) -> tuple[float, list[tuple]]:  # type: ignore[type-arg]
    """Seconds to check ``props`` and what was found, with or without the edge path."""
    real = explicit.forbidden_steps
    if not edges:
        explicit.forbidden_steps = lambda *_: None  # type: ignore[assignment]
    try:
        t0 = time.process_time()
        verdicts = [check(space, p) for p in props]
        seconds = time.process_time() - t0
    finally:
        explicit.forbidden_steps = real
    return seconds, [(v.verdict, v.instance, len(v.counterexample or [])) for v in verdicts]


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
    steps = sum(1 for p in props if p.kind == "invariant" and ".can(" in p.expr and p.expr.startswith("not "))
    print(f"{len(props)} properties, {steps} of them step invariants 'not X.can(c)'; "
          f"CPU seconds, best of {args.repeat}")
    print(f"{'configuration':<16}{'states':>9}{'edges':>10}{'every state':>13}{'edges':>9}{'ratio':>8}  same")
    for name, options in configs:
        space = explore(build_system(spec, options, props))
        best = {True: float("inf"), False: float("inf")}
        found: dict[bool, list[tuple]] = {}  # type: ignore[type-arg]
        for _ in range(args.repeat):
            for edges in (False, True):
                seconds, found[edges] = timed(space, props, edges)
                best[edges] = min(best[edges], seconds)
        same = "yes" if found[True] == found[False] else "NO"
        print(f"{name:<16}{len(space.states):>9,}{len(space.edges):>10,}{best[False]:>12.2f}s{best[True]:>8.2f}s"
              f"{best[True] / best[False]:>8.2f}  {same}")
    print(f"peak memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
