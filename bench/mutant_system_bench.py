"""What one mutant's system costs `tcpcheck mutate`, per property configuration:
composing it (the block memo on and off) and exploring it three ways (the
spec's successors with the mutant's commands one state at a time, the same
over packed states, and the mutant compiled whole), side by side on the
same sample of mutants, with the peak memory each way allocates.

    python bench/mutant_system_bench.py [--every 40]

The ratios justify tools/mutate/catch.py's choice per configuration
(``_ONE_STATE_UP_TO``) and model/compose.py's ``BLOCK_MEMO``.
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

from tcpcheck.model import compose, gcl
from tcpcheck.model.compose import ModelOptions, build_system
from tcpcheck.model.explicit import StateSpace, Successors, explore
from tcpcheck.model.family import derived_successors, derived_vector_successors
from tcpcheck.model.mutation import systematic_mutants
from tcpcheck.model.properties import Property, load_properties
from tcpcheck.model.spec import Spec, load_spec
from tcpcheck.model.vectorized import VectorSuccessors
from tcpcheck.tools.mutate.catch import FULL, baseline


def timed(fn: Callable[[], Any], traced: bool) -> tuple[float, float, Any]:
    """(CPU seconds, 0.0, result) of one call; with ``traced``, (0.0, peak
    MiB allocated, result) instead: tracing memory slows a call several
    times, so the first mutant is traced only, and timed calls are not."""
    if traced:
        tracemalloc.start()
        out = fn()
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        return 0.0, peak, out
    t0 = time.process_time()
    out = fn()
    return time.process_time() - t0, 0.0, out


def ways(original: gcl.System, one: Successors, many: VectorSuccessors,
         system: gcl.System) -> dict[str, Callable[[], StateSpace]]:
    """The three explorations of ``system`` (a mutant of ``original``)."""
    return {
        "one": lambda: explore(system, record_edges=True, successors=derived_successors(original, one, system)),
        "packed": lambda: explore(system, record_edges=True, vector_successors=lambda layout:
                                  derived_vector_successors(original, many, system, layout)),
        "whole": lambda: explore(system, record_edges=True),
    }


def compose_both(spec: Spec, options: ModelOptions, props: tuple[Property, ...]) -> dict[str, Callable[[], gcl.System]]:
    """Composing with the block memo and without it."""

    def fresh() -> gcl.System:
        compose.BLOCK_MEMO = False
        try:
            return build_system(spec, options, props)
        finally:
            compose.BLOCK_MEMO = True

    return {"memo": lambda: build_system(spec, options, props), "fresh": fresh}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--every", type=int, default=40, help="every Nth systematic mutant (default 40)")
    args = parser.parse_args()
    spec = load_spec()
    props = tuple(load_properties())
    sample = systematic_mutants(spec)[:: args.every]
    if len(sample) < 2:
        parser.error("--every leaves fewer than 2 mutants")
    base = baseline(spec, props, FULL)
    print(f"{len(sample)} mutants; CPU seconds summed over all but the first "
          "(peak MiB allocated by the first)", flush=True)
    print(f"{'configuration':28s} {'states':>7s} | {'compose memo':>12s} {'no memo':>12s} {'ratio':>6s} | "
          f"{'one state':>12s} {'packed':>12s} {'whole':>12s} {'packed/one':>10s} {'packed/whole':>12s}")
    for conf in FULL:
        totals = dict.fromkeys(("memo", "fresh", "one", "packed", "whole"), 0.0)
        peaks = dict.fromkeys(totals, 0.0)
        for n, mutant in enumerate(sample):
            systems = {}
            for way, build in compose_both(mutant.apply(spec), conf.options, props).items():
                s, p, systems[way] = timed(build, n == 0)
                totals[way] += s
                peaks[way] = max(peaks[way], p)
            assert systems["memo"].commands == systems["fresh"].commands
            counts = set()
            original, one, many = base.systems[conf.name]
            for way, run in ways(original, one, many, systems["memo"]).items():
                s, p, space = timed(run, n == 0)
                totals[way] += s
                peaks[way] = max(peaks[way], p)
                counts.add(space.count)
            assert len(counts) == 1, f"{mutant.name}: the three explorations disagree: {counts}"
        cells = {way: f"{totals[way]:6.2f} ({peaks[way]:3.0f})" for way in totals}
        print(f"{conf.name:28s} {base.states[conf.name]:7d} | {cells['memo']} {cells['fresh']} "
              f"{totals['memo'] / totals['fresh']:6.2f} | {cells['one']} {cells['packed']} {cells['whole']} "
              f"{totals['packed'] / totals['one']:10.2f} {totals['packed'] / totals['whole']:12.2f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
