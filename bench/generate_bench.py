"""Generator benchmark: scenarios, total steps, generation time and peak
memory for every coverage criterion.

    python bench/generate_bench.py [--repeat 20] [--extra-states 1]

Target (issue 4): under 1 s for states, transitions and tour. Each timing
builds from scratch (spec, drive model, product graph, suite) and is the
median of ``--repeat`` runs; peak memory is measured in a separate run with
tracemalloc so that it does not slow the timed ones.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import tracemalloc

from tcpcheck.model.spec import load_spec
from tcpcheck.tools.generate import CRITERIA, build_suite, load_drive_model
from tcpcheck.tools.generate.emit_packetdrill import emit_packetdrill_suite
from tcpcheck.tools.generate.emit_pytest import emit_pytest
from tcpcheck.tools.generate.suite import Suite

TARGET_SECONDS = {"states": 1.0, "transitions": 1.0, "tour": 1.0}


def _build(criterion: str, extra: int) -> Suite:
    spec = load_spec()
    return build_suite(load_drive_model(spec, "linux"), criterion, extra)


def _emit(suite: Suite) -> int:
    spec = load_spec()
    size = len(emit_pytest(suite, spec, "bench"))
    return size + sum(len(text) for text in emit_packetdrill_suite(suite, None, "bench").values())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=20, help="timed runs per criterion (median reported)")
    parser.add_argument("--extra-states", type=int, default=1, help="m for the W and Wp methods")
    args = parser.parse_args()
    header = f"{'criterion':<12} {'scenarios':>9} {'steps':>7} {'build ms':>9} {'+emit ms':>9} {'peak MiB':>9}  target"
    print(header)
    print("-" * len(header))
    ok = True
    transitions_steps = 0
    tour: Suite | None = None
    for criterion in CRITERIA:
        build, total = [], []
        suite = _build(criterion, args.extra_states)  # warm imports
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            suite = _build(criterion, args.extra_states)
            t1 = time.perf_counter()
            _emit(suite)
            t2 = time.perf_counter()
            build.append(t1 - t0)
            total.append(t2 - t0)
        tracemalloc.start()
        _emit(_build(criterion, args.extra_states))
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        med = statistics.median(total)
        target = TARGET_SECONDS.get(criterion)
        verdict = ""
        if target is not None:
            verdict = f"< {target:g} s: {'ok' if med < target else 'MISSED'}"
            ok &= med < target
        print(f"{criterion:<12} {len(suite.scenarios):>9} {suite.steps:>7} {1000 * statistics.median(build):>9.1f} "
              f"{1000 * med:>9.1f} {peak:>9.2f}  {verdict}")
        if criterion == "transitions":
            transitions_steps = suite.steps
        if criterion == "tour":
            tour = suite
    if tour is not None:
        print(f"\ntour: {tour.steps} steps = Chinese-postman optimum {tour.extra['optimum']}; "
              f"{tour.steps / transitions_steps:.2f}x the steps of one-scenario-per-transition "
              f"({transitions_steps}), {len(tour.scenarios)} scenarios")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
