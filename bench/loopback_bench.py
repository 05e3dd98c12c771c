"""Loopback benchmark: per-scenario time, whole suite wall time, the
tracer's cost (the same scenarios with and without it, side by side, on
loopback and in the TUN runner), verdict stability over repeats, peak
memory. Needs root and nft.

    python bench/loopback_bench.py [--repeats 20]

Targets (issue 12): median under 5 ms per event-driven scenario, 0 verdict
changes over 20 repeats. Each scenario's time is its run on the kernel
(calls, deliveries, waits, observation) plus the model check of the
observed run, reported apart.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from collections import defaultdict

from tcpcheck.model.spec import load_spec
from tcpcheck.tools.cli.loopback import builtin_suite
from tcpcheck.tools.runner.execute import execute
from tcpcheck.tools.runner.loopback.batch import run_pairs
from tcpcheck.tools.runner.loopback.execute import execute_pair
from tcpcheck.tools.runner.loopback.pair import LoopbackHarness, unavailable_reason
from tcpcheck.tools.runner.netns import kernel_release
from tcpcheck.tools.runner.stacks.linux import LinuxStack
from tcpcheck.tools.runner.suite import default_suite
from tcpcheck.tools.scenario import Elapse


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:7.3f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=20, help="repeated runs for verdict stability")
    args = parser.parse_args()
    reason = unavailable_reason()
    if reason:
        print(f"loopback_bench: {reason}", file=sys.stderr)
        return 2
    spec = load_spec()
    from tcpcheck.tools.runner.profile import load_profile

    profile = load_profile()
    t0 = time.perf_counter()
    suite = list(builtin_suite().values())
    generate = time.perf_counter() - t0
    verdicts: dict[str, set[str]] = defaultdict(set)

    # 1. The whole suite once, as `tcpcheck run --loopback` runs it (a fresh
    # namespace and trace instance; the model built on first use).
    start = time.perf_counter()
    info, results = run_pairs(suite, spec, profile)
    suite_wall = time.perf_counter() - start
    start = time.perf_counter()
    run_pairs(suite, spec, profile, jobs=2)
    suite_wall_j2 = time.perf_counter() - start
    for r in results:
        verdicts[r.scenario].add(r.verdict)

    # 2. Traced and untraced side by side: alternate the two harnesses per
    # repeat, so that machine load falls on both alike.
    times: dict[str, dict[str, list[float]]] = {"trace": defaultdict(list), "sample": defaultdict(list)}
    checks: dict[str, list[float]] = defaultdict(list)
    events = 0
    with LoopbackHarness(trace=True) as traced, LoopbackHarness(trace=False) as sampled:
        start = time.perf_counter()
        for _ in range(args.repeats):
            for mode, harness in (("trace", traced), ("sample", sampled)):
                for scenario in suite:
                    r = execute_pair(harness, scenario, spec, profile)
                    times[mode][r.scenario].append(r.seconds)
                    verdicts[f"{r.scenario} ({mode})"].add(r.verdict)
                    if mode == "trace":
                        checks[r.scenario].append(r.check_seconds)
                        events += len(r.observed.events)
        repeat_wall = time.perf_counter() - start

    # 3. The TUN runner (one real endpoint, our peer) traced and sampled,
    # alternating per repeat: the event-driven scenarios of the built-in suite.
    tun_suite = [s for s in default_suite() if not s.slow and not any(isinstance(t, Elapse) for t in s.steps)]
    tun: dict[str, dict[str, list[float]]] = {"trace": defaultdict(list), "sample": defaultdict(list)}
    with LinuxStack(trace=True) as tun_traced, LinuxStack(trace=False) as tun_sampled:
        tun_observer = tun_traced.observer
        for _ in range(args.repeats):
            for mode, stack in (("trace", tun_traced), ("sample", tun_sampled)):
                for scenario in tun_suite:
                    result = execute(stack, scenario, stack.profile())
                    tun[mode][result.scenario].append(result.seconds)
                    verdicts[f"tun {result.scenario} ({mode})"].add(result.verdict)
                    verdicts[f"tun {result.scenario}"].add(result.verdict)

    def median_of(per: dict[str, list[float]]) -> float:
        return statistics.median(statistics.median(v) for v in per.values())

    traced_ms, sampled_ms = median_of(times["trace"]), median_of(times["sample"])
    check_ms = median_of(checks)
    all_traced = [t + c for name in times["trace"] for t, c in zip(times["trace"][name], checks[name], strict=True)]
    changes = sum(len(v) - 1 for v in verdicts.values())
    self_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    child_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss

    print(f"kernel {kernel_release()}; {len(suite)} generated loopback scenarios (generated in {generate:.2f} s); "
          f"{args.repeats} repeats; observer: {info['observer']}")
    print(f"median per scenario, traced       : {_ms(traced_ms + check_ms)}  (target < 5 ms) = run {_ms(traced_ms)} "
          f"+ model check {_ms(check_ms)}; p95 {_ms(statistics.quantiles(all_traced, n=20)[-1])}")
    print(f"median run, tracer vs sampling    : {_ms(traced_ms)} vs {_ms(sampled_ms)}  "
          f"(tracer costs {(traced_ms - sampled_ms) * 1000:+.3f} ms a scenario, {traced_ms / sampled_ms:.2f}x)")
    tun_traced_ms, tun_sampled_ms = median_of(tun["trace"]), median_of(tun["sample"])
    print(f"TUN runner, tracer vs sampling    : {_ms(tun_traced_ms)} vs {_ms(tun_sampled_ms)}  "
          f"({len(tun_suite)} event-driven built-in scenarios; tracer costs "
          f"{(tun_traced_ms - tun_sampled_ms) * 1000:+.3f} ms a scenario, {tun_traced_ms / tun_sampled_ms:.2f}x; "
          f"{tun_observer.split(' in trace instance')[0]})")
    print(f"whole suite, wall time            : {suite_wall:7.3f} s    (-j 2: {suite_wall_j2:.3f} s; both include "
          "namespace, nft rule, trace instance and the model build)")
    print(f"events observed and checked       : {events} in {repeat_wall:.2f} s of repeats "
          f"({events / args.repeats / len(suite):.1f} a scenario)")
    print(f"verdict changes over {args.repeats} repeats : {changes:7d}     (target 0)"
          + ("" if not changes else "  " + ", ".join(f"{k}: {sorted(v)}" for k, v in verdicts.items() if len(v) > 1)))
    print(f"peak memory (ru_maxrss)           : {self_kb / 1024:7.1f} MiB this process, "
          f"{child_kb / 1024:.1f} MiB largest worker")
    return 0 if changes == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
