"""Mutation analysis benchmark: the whole analysis (every systematic mutant,
every generated suite on the model stack, the properties), its wall and CPU
time and peak memory, and the model stack's per-scenario time beside
Linux's on the same generated scenarios, measured in one run.

    python bench/mutate_bench.py [--jobs 2] [--full] [--no-linux]

Targets (issue 20): W and Wp kill 100 % of the non-equivalent mutants; the
whole analysis under 2 minutes on a 2-core machine. Linux needs root (a
private network namespace); without it only the model stack is timed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from tcpcheck.model.mutation import systematic_mutants
from tcpcheck.model.properties import load_properties
from tcpcheck.model.spec import load_spec
from tcpcheck.tools.generate import CRITERIA, build_suite, load_drive_model
from tcpcheck.tools.generate.paths import Explorer
from tcpcheck.tools.mutate.analysis import analyse, summary
from tcpcheck.tools.mutate.catch import CONFIGURATIONS
from tcpcheck.tools.runner.execute import execute, needs_slow
from tcpcheck.tools.runner.stack import Stack
from tcpcheck.tools.runner.stacks import make_stack, unavailable


def per_scenario(stack: Stack, scenarios: list, profile: object) -> list[float]:  # type: ignore[type-arg]
    """Seconds per scenario (each run once, in order)."""
    out = []
    for s in scenarios:
        t0 = time.perf_counter()
        execute(stack, s, profile)  # type: ignore[arg-type]
        out.append(time.perf_counter() - t0)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=2, help="worker processes for the analysis")
    parser.add_argument("--full", action="store_true", help="also the full set of property configurations")
    parser.add_argument("--no-linux", action="store_true", help="do not time the Linux stack")
    args = parser.parse_args()
    spec = load_spec()
    props = tuple(load_properties())
    mutants = systematic_mutants(spec)
    tiers = ["quick", "full"] if args.full else ["quick"]
    for tier in tiers:
        analysis = analyse(spec, mutants, props, jobs=args.jobs, configurations=CONFIGURATIONS[tier])
        s = summary(analysis)
        print(f"== analysis, property configurations {tier}: "
              + ", ".join(c.name for c in analysis.configurations))
        print(f"mutants {s['mutants']} ({', '.join(f'{k} {v}' for k, v in s['by_operator'].items())}); "
              f"equivalent {s['equivalent']}; non-equivalent {s['non_equivalent']}")
        for c in CRITERIA:
            sc = s["scores"][c]
            print(f"  {c:<12} {analysis.scenarios[c]:>4} scenarios  killed {sc['killed']:>4} / {sc['of']}"
                  f"  {100 * sc['score']:.1f} %")
        print(f"  properties: caught {s['caught_by_properties']} of {s['mutants']} "
              f"({s['caught_non_equivalent']} of {s['non_equivalent']} non-equivalent); "
              f"first in {s['caught_by_configuration']}")
        print(f"  both: killed+caught {s['killed_and_caught']}, killed only {s['killed_not_caught']}, "
              f"caught only {s['caught_not_killed']}, neither {s['neither']}")
        print(f"  wall {analysis.seconds:.1f} s, CPU {analysis.cpu_seconds:.1f} s ({args.jobs} jobs), "
              f"peak RSS {analysis.peak_kib / 1024:.0f} MiB per process")
    model = load_drive_model(spec, "linux")
    explorer = Explorer(model)
    scenarios = [x for c in CRITERIA for x in build_suite(model, c, 1, explorer).scenarios if not needs_slow(x)]
    model_stack = make_stack("model", capture=False)
    model_times = per_scenario(model_stack, scenarios, model_stack.profile())
    print(f"== per scenario, {len(scenarios)} generated scenarios (not waiting for Linux's 60 s TIME_WAIT)")
    print(f"  model stack: median {1e3 * statistics.median(model_times):.2f} ms, "
          f"total {sum(model_times):.2f} s")
    reason = unavailable("linux") if not args.no_linux else "--no-linux"
    if reason:
        print(f"  linux: not timed ({reason})")
        return 0
    with make_stack("linux") as linux:
        linux_times = per_scenario(linux, scenarios, linux.profile("linux"))
    print(f"  linux:       median {1e3 * statistics.median(linux_times):.2f} ms, total {sum(linux_times):.2f} s")
    print(f"  ratio linux / model (medians): {statistics.median(linux_times) / statistics.median(model_times):.0f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
