"""Runner speed before and after issue 15, measured side by side in one
run: the non-slow built-in suite as it is ("after": the orphan FIN_WAIT_2
scenario with tcp_fin_timeout=0 and, where the kernel has it, a 20 ms
tcp_rto_min_us for its sockets; close in a passive SYN_RCVD not drivable,
so nothing waits for a FIN a request socket cannot send) and as it was
("before": tcp_fin_timeout=1 with the kernel's default RTO floor, and the
passive close played, waiting out the FIN), each repeated N times serially
and with -j 2, interleaved so both see the same machine. Prints suite wall time (median), the per-scenario
median of each, the ratio, verdict changes, and peak memory. Needs root.

    python bench/fin_wait_2_bench.py [--runs 20]
"""

from __future__ import annotations

import argparse
import dataclasses
import resource
import statistics
import sys
import time
from collections import defaultdict

from tcpcheck.tools.runner.batch import run_scenarios
from tcpcheck.tools.runner.netns import kernel_release, sysctl_exists, unavailable_reason
from tcpcheck.tools.runner.profile import load_profile
from tcpcheck.tools.runner.suite import default_suite
from tcpcheck.tools.scenario import Scenario

ORPHAN = "fin_wait_2_orphan_timeout"
PASSIVE_CLOSE = "passive_syn_rcvd_close"
DEFAULT_RTO_MIN_US = "200000"  # TCP_RTO_MIN


def as_before(scenario: Scenario) -> Scenario:
    """The scenario as the runner played it before issue 15."""
    if scenario.name != ORPHAN:
        return scenario
    sysctls = {"tcp_fin_timeout": "1"}
    if sysctl_exists("tcp_rto_min_us"):
        sysctls["tcp_rto_min_us"] = DEFAULT_RTO_MIN_US  # the scenario's own floor: the runner leaves it
    return dataclasses.replace(scenario, sysctls=sysctls)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="repeats of each configuration and mode")
    args = parser.parse_args()
    reason = unavailable_reason()
    if reason:
        print(f"fin_wait_2_bench: {reason}", file=sys.stderr)
        return 2
    profile = load_profile()
    after = [s for s in default_suite() if not s.slow]
    # Before: no scoped not-drivable entry, so the passive close is played
    # (its verdict is not compared across the two; only its time is).
    old_profile = dataclasses.replace(profile, not_drivable=tuple(n for n in profile.not_drivable if not n.after_calls))
    suites = {"before": [as_before(s) for s in after], "after": after}
    profiles = {"before": old_profile, "after": profile}
    wall: dict[tuple[str, int], list[float]] = defaultdict(list)
    per_scenario: dict[tuple[str, str], list[float]] = defaultdict(list)
    verdicts: dict[tuple[str, int, str], set[str]] = defaultdict(set)
    for _ in range(args.runs):
        for jobs in (1, 2):
            for name, suite in suites.items():
                start = time.perf_counter()
                _, results = run_scenarios(suite, profiles[name], jobs=jobs)
                wall[name, jobs].append(time.perf_counter() - start)
                for r in results:
                    verdicts[name, jobs, r.scenario].add(r.verdict)
                    if jobs == 1:
                        per_scenario[name, r.scenario].append(r.seconds)
    print(f"kernel {kernel_release()}; {len(after)} non-slow scenarios; {args.runs} runs of each, serial and -j 2")
    for jobs in (1, 2):
        b, a = statistics.median(wall["before", jobs]), statistics.median(wall["after", jobs])
        print(f"suite wall time, {'serial' if jobs == 1 else '-j 2  '}: before {b:6.3f} s, after {a:6.3f} s, "
              f"after/before {a / b:.2f}")
    slower = []
    for s in after:
        b = statistics.median(per_scenario["before", s.name])
        a = statistics.median(per_scenario["after", s.name])
        if s.name in (ORPHAN, PASSIVE_CLOSE) or a > b * 1.5 + 0.002:
            slower.append((s.name, b, a))
    for name, b, a in slower:
        print(f"median {name:32}: before {b:7.3f} s, after {a:7.3f} s, after/before {a / b:.3f}")
    per_b = statistics.median(statistics.median(per_scenario["before", s.name]) for s in after)
    per_a = statistics.median(statistics.median(per_scenario["after", s.name]) for s in after)
    print(f"median of per-scenario medians   : before {per_b * 1000:.3f} ms, after {per_a * 1000:.3f} ms")
    changes = {k: sorted(v) for k, v in verdicts.items() if len(v) > 1}
    print(f"verdict changes over {args.runs} runs     : {len(changes)} (serial and -j 2, before and after)"
          + ("".join(f"\n  {k}: {v}" for k, v in changes.items())))
    print(f"peak memory (ru_maxrss)          : {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f} MiB "
          f"this process, {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024:.1f} MiB largest worker")
    return 0 if not changes else 1


if __name__ == "__main__":
    sys.exit(main())
