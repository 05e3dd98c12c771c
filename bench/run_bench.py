"""Runner benchmark: per-scenario time, suite wall time, verdict stability,
peak memory. Needs root (a private network namespace with a TUN device).

    python bench/run_bench.py [--runs 50]

Targets (issue 3): median event-driven scenario <= 2 ms, whole non-slow
suite <= 5 s, 0 verdict changes over 50 runs. For scale, the issue quotes
packetdrill at about 0.2 s per script on this kernel (not measured here).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from collections import defaultdict

from tcpcheck.tools.runner.batch import run_scenarios
from tcpcheck.tools.runner.execute import execute
from tcpcheck.tools.runner.harness import Harness
from tcpcheck.tools.runner.netns import kernel_release, unavailable_reason
from tcpcheck.tools.runner.profile import load_profile
from tcpcheck.tools.runner.suite import default_suite
from tcpcheck.tools.scenario import Elapse

PACKETDRILL_SECONDS_PER_SCRIPT = 0.2  # quoted in issue 3 for this kernel


def _is_timer(scenario: object) -> bool:
    return any(isinstance(s, Elapse) for s in scenario.steps)  # type: ignore[attr-defined]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=50, help="repeated runs for verdict stability")
    parser.add_argument("--timer-jobs", type=int, default=20, help="worker processes for the timer repeats")
    args = parser.parse_args()
    reason = unavailable_reason()
    if reason:
        print(f"run_bench: {reason}", file=sys.stderr)
        return 2
    profile = load_profile()
    suite = [s for s in default_suite() if not s.slow]
    events = [s for s in suite if not _is_timer(s)]
    timers = [s for s in suite if _is_timer(s)]
    verdicts: dict[str, set[str]] = defaultdict(set)
    per_scenario: dict[str, list[float]] = defaultdict(list)

    # 1. The whole non-slow suite once, sequentially, in a fresh namespace.
    start = time.perf_counter()
    _, results = run_scenarios(suite, profile)
    suite_wall = time.perf_counter() - start
    for r in results:
        verdicts[r.scenario].add(r.verdict)
    start = time.perf_counter()
    run_scenarios(suite, profile, jobs=2)
    suite_wall_j2 = time.perf_counter() - start

    # 2. The event-driven scenarios, --runs times, in one namespace.
    start = time.perf_counter()
    with Harness() as harness:
        for _ in range(args.runs):
            for scenario in events:
                r = execute(harness, scenario, profile)
                per_scenario[r.scenario].append(r.seconds)
                verdicts[r.scenario].add(r.verdict)
    events_wall = time.perf_counter() - start

    # 3. The timer scenarios, --runs times each, waiting in parallel.
    start = time.perf_counter()
    _, timed = run_scenarios(timers * args.runs, profile, jobs=args.timer_jobs)
    for r in timed:
        verdicts[r.scenario].add(r.verdict)
        per_scenario[r.scenario].append(r.seconds)
    timers_wall = time.perf_counter() - start

    medians = {name: statistics.median(times) for name, times in per_scenario.items()}
    event_median = statistics.median(medians[s.name] for s in events)
    all_event_times = [t for s in events for t in per_scenario[s.name]]
    changes = sum(len(v) - 1 for v in verdicts.values())
    self_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    child_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss

    print(f"kernel {kernel_release()}; {len(suite)} non-slow scenarios ({len(events)} event-driven, "
          f"{len(timers)} timer); {args.runs} runs")
    print(f"median per event-driven scenario : {event_median * 1000:7.3f} ms   (target <= 2 ms; "
          f"p95 {statistics.quantiles(all_event_times, n=20)[-1] * 1000:.3f} ms, "
          f"max {max(all_event_times) * 1000:.3f} ms)")
    print(f"  vs packetdrill ~{PACKETDRILL_SECONDS_PER_SCRIPT:.1f} s/script (quoted): "
          f"{PACKETDRILL_SECONDS_PER_SCRIPT / event_median:,.0f}x faster")
    for s in timers:
        print(f"median {s.name:32}: {medians[s.name]:7.3f} s   (kernel timer)")
    print(f"whole non-slow suite, wall time  : {suite_wall:7.3f} s   (target <= 5 s); with -j 2: {suite_wall_j2:.3f} s")
    print(f"verdict changes over {args.runs} runs    : {changes:7d}     (target 0)"
          + ("" if not changes else "  " + ", ".join(f"{k}: {sorted(v)}" for k, v in verdicts.items() if len(v) > 1)))
    print(f"repeat phases, wall time         : event-driven {events_wall:.2f} s, timers {timers_wall:.2f} s "
          f"({args.timer_jobs} workers)")
    print(f"peak memory (ru_maxrss)          : {self_kb / 1024:7.1f} MiB this process, "
          f"{child_kb / 1024:.1f} MiB largest worker")
    return 0 if changes == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
