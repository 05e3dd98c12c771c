"""The same generated suite on every stack, side by side: per-scenario
median, suite wall time, peak memory, verdict counts and verdict changes
over repeated runs. Needs root (Linux, lwIP and PyTCP run in private
namespaces), liblwip-dev and the pytcp extra.

    python bench/stacks_bench.py [--repeats 20] [--criterion transitions]

Each stack runs in its own child process (so its peak RSS is its own):
the suite ``--repeats`` times on one stack instance. On Linux the
scenarios that wait for the fixed 60 s TIME_WAIT are left out (not run);
lwIP, PyTCP (its virtual clock) and the model stack fire their timers
when asked. Target (issue 16):
0 verdict changes per stack.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from collections import Counter, defaultdict

from tcpcheck.model.spec import load_spec
from tcpcheck.tools.generate import build_suite, load_drive_model
from tcpcheck.tools.generate.paths import Explorer
from tcpcheck.tools.runner.execute import execute, needs_slow
from tcpcheck.tools.runner.stacks import make_stack, unavailable

STACK_NAMES = ("linux", "lwip", "pytcp", "model")


def _one(name: str, criterion: str, repeats: int) -> dict[str, object]:
    model = load_drive_model(load_spec(), "linux")
    suite = [s for s in build_suite(model, criterion, 1, Explorer(model)).scenarios
             if not (name == "linux" and needs_slow(s))]
    verdicts: dict[str, list[str]] = defaultdict(list)
    per_scenario: dict[str, list[float]] = defaultdict(list)
    walls = []
    with make_stack(name) as stack:
        profile = stack.profile()
        for _ in range(repeats):
            start = time.perf_counter()
            for scenario in suite:
                result = execute(stack, scenario, profile)
                verdicts[scenario.name].append(result.verdict)
                per_scenario[scenario.name].append(result.seconds)
            walls.append(time.perf_counter() - start)
    first = {n: v[0] for n, v in verdicts.items()}
    return {
        "stack": name,
        "scenarios": len(suite),
        "counts": dict(Counter(first.values())),
        "changed": sorted(n for n, v in verdicts.items() if len(set(v)) > 1),
        "median_ms": 1000 * statistics.median(statistics.median(t) for t in per_scenario.values()),
        "wall_s": statistics.median(walls),
        "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=20, help="runs of the suite per stack")
    parser.add_argument("--criterion", default="transitions", help="generated suite (transitions, pairs, w, ...)")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # child process: one stack, JSON out
    args = parser.parse_args()
    if args.one:
        print(json.dumps(_one(args.one, args.criterion, args.repeats)))
        return 0
    for name in STACK_NAMES:
        reason = unavailable(name)
        if reason:
            print(f"stacks_bench: {name}: {reason}", file=sys.stderr)
            return 2
    rows = []
    for name in STACK_NAMES:
        print(f"stacks_bench: {name} ...", file=sys.stderr)
        out = subprocess.run([sys.executable, __file__, "--one", name, "--repeats", str(args.repeats),
                              "--criterion", args.criterion], capture_output=True, text=True, check=True)
        rows.append(json.loads(out.stdout))
    print(f"generated suite '{args.criterion}', {args.repeats} runs per stack, one stack instance each")
    print(f"{'stack':<7} {'scenarios':>9} {'pass':>5} {'dev':>4} {'fail':>5} {'n/d':>4} {'changed':>8} "
          f"{'median/scn':>11} {'suite wall':>11} {'peak RSS':>9}")
    for r in rows:
        c = r["counts"]
        assert isinstance(c, dict)
        print(f"{r['stack']:<7} {r['scenarios']:>9} {c.get('pass', 0):>5} {c.get('deviation', 0):>4} "
              f"{c.get('fail', 0):>5} {c.get('not drivable', 0):>4} {len(r['changed']):>8} "  # type: ignore[arg-type]
              f"{r['median_ms']:>8.3f} ms {r['wall_s']:>9.3f} s {r['peak_mib']:>5.0f} MiB")
    base = next(r for r in rows if r["stack"] == "linux")
    for r in rows:
        if r is not base:
            print(f"{r['stack']} / linux suite wall time: {float(r['wall_s']) / float(base['wall_s']):.2f}x"  # type: ignore[arg-type]
                  " (different scenario sets: Linux leaves out the 60 s TIME_WAIT)")
    for r in rows:
        if r["changed"]:
            print(f"{r['stack']}: verdict changed in {', '.join(r['changed'])}")  # type: ignore[arg-type]
    return 0 if not any(r["changed"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
