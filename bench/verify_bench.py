"""Explicit-state engine: state-space size and cost per configuration.

For K = 1..4 and fifo / reorder / loss / reorder+loss, prints states,
transitions, seconds and peak memory, each measured in its own process (so
peak memory is that configuration's alone), with the time relative to the
default model measured in the same run. Then `tcpcheck verify` on the
default model from process start to exit (median of repeated runs), against
the 0.5 s target.

    python bench/verify_bench.py [--cap SECONDS] [--max-k K] [--repeat N]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

CHILD = """
import json, resource, sys, time
from tcpcheck.model import ModelOptions, build_system, load_properties, load_spec
from tcpcheck.model.explicit import check, explore
k, reorder, loss = int(sys.argv[1]), sys.argv[2] == "1", sys.argv[3] == "1"
t0 = time.perf_counter()
system = build_system(load_spec(), ModelOptions(bound=k, reorder=reorder, loss=loss))
space = explore(system)
t1 = time.perf_counter()
ok = all(check(space, p).as_expected for p in load_properties())
t2 = time.perf_counter()
print(json.dumps({"states": space.count, "transitions": space.transitions, "explore": t1 - t0,
                  "check": t2 - t1, "ok": ok, "rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""

CONFIGS = [("fifo", False, False), ("reorder", True, False), ("loss", False, True), ("reorder+loss", True, True)]


def measure(k: int, reorder: bool, loss: bool, cap: float) -> dict[str, object] | None:
    try:
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(k), str(int(reorder)), str(int(loss))],
            capture_output=True,
            text=True,
            timeout=cap,
            check=True,
        )
    except subprocess.TimeoutExpired:
        return None
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cap", type=float, default=90.0, help="seconds allowed per configuration")
    ap.add_argument("--max-k", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=7, help="runs of the end-to-end CLI measurement")
    args = ap.parse_args()

    times, rss = [], []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        subprocess.run(["tcpcheck", "verify"], capture_output=True, check=True)
        times.append(time.perf_counter() - t0)
        # Measured before any other child runs: RUSAGE_CHILDREN keeps the
        # largest child so far, so this is verify's own peak.
        rss.append(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    py0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    bare = time.perf_counter() - py0
    med = statistics.median(times)
    print(
        f"tcpcheck verify (default model, process start to exit): median {med:.3f} s over {args.repeat} runs "
        f"(min {min(times):.3f}, max {max(times):.3f}); target 0.5 s: {'met' if med < 0.5 else 'MISSED'}; "
        f"bare python start {bare:.3f} s ({med / bare:.1f}x); peak {max(rss) / 1024:.1f} MiB"
    )
    print()

    base = measure(3, False, False, args.cap)
    assert base is not None
    base_t = float(base["explore"]) + float(base["check"])  # type: ignore[arg-type]
    print(
        f"{'K':>2} {'channels':<13} {'states':>10} {'transitions':>12} {'explore s':>10} {'check s':>8} "
        f"{'x default':>10} {'peak MiB':>9}  verdicts"
    )
    for k in range(1, args.max_k + 1):
        for name, reorder, loss in CONFIGS:
            r = measure(k, reorder, loss, args.cap)
            if r is None:
                print(f"{k:>2} {name:<13} {'> cap':>10} {'':>12} {'> ' + str(int(args.cap)):>10}")
                continue
            total = float(r["explore"]) + float(r["check"])  # type: ignore[arg-type]
            verdicts = "as expected" if r["ok"] else "some differ (K<3: bounded-buffer effects)"
            print(
                f"{k:>2} {name:<13} {r['states']:>10} {r['transitions']:>12} {r['explore']:>10.3f} "
                f"{r['check']:>8.3f} {total / base_t:>10.2f} {int(r['rss_kb']) / 1024:>9.1f}  {verdicts}"  # type: ignore[call-overload]
            )


if __name__ == "__main__":
    main()
