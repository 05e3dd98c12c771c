"""Z3's time to each counterexample of the timed model, before and after,
side by side in one run (issue 11's target: the counterexample without
TIME_WAIT in under 60 s, for the shipped configuration: 2 incarnations,
MSL 2).

"Before" is BMC with one incremental solver (each step and goal switched
on by an assumption literal), as main had it; "after" gives each BMC query
a fresh solver with no assumptions (``Options.fresh_queries``, which
``verify --timed`` sets), so that Z3 preprocesses the whole query before
bit-blasting it. Both stop at an invariant's first violated instance
(``Options.any_instance``) and learn that no target lies at a depth BMC
searched in vain (``Options.learn_misses``). Each measurement runs in its
own process (its peak memory is its own); each property alone, so that its
time is the time to its counterexample. The explicit engine's shortest
counterexample length is checked against Z3's.

    python bench/timed_z3_bench.py [--cap SECONDS] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

MUTANT = str(Path(__file__).resolve().parents[1] / "tests" / "mutants" / "timed" / "no_time_wait.toml")

CHILD = """
import json, resource, sys, time
from tcpcheck.model import load_properties, load_spec, symbolic
from tcpcheck.model.timed import TimedOptions, build_timed_system, first_violations, load_timed
spec_path, kw, prop, mode = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], sys.argv[4]
spec = load_spec(spec_path)
system = build_timed_system(spec, load_timed(spec), TimedOptions(**kw))
props = [p for p in load_properties(model="timed") if p.name == prop]
found = first_violations(system, props)
t0 = time.perf_counter()
cpu0 = sum(resource.getrusage(resource.RUSAGE_SELF)[:2])
opts = symbolic.Options(ic3_seconds=0, probe_depth=60, stall=60, max_depth=40, any_instance=True,
                        fresh_queries=mode == "after")
v = symbolic.check_all(system, props, opts)[0]
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"seconds": time.perf_counter() - t0, "cpu": usage.ru_utime + usage.ru_stime - cpu0,
                  "verdict": v.verdict, "bound": v.bound,
                  "explicit": {k: len(s) - 1 for k, (_, s) in found.violated.items()},
                  "rss_mb": usage.ru_maxrss // 1024,
                  "commands": len(system.commands)}))
"""

CONFIGS: list[tuple[str, dict[str, object], list[str]]] = [
    ("no TIME_WAIT, MSL 1, 1 incarnation", {"msl": 1, "incarnations": 1}, ["passive_closer_not_reset"]),
    ("no TIME_WAIT, MSL 1, 2 incarnations", {"msl": 1}, ["passive_closer_not_reset", "no_old_segment_accepted"]),
    ("no TIME_WAIT, shipped (MSL 2, 2 inc.)", {}, ["passive_closer_not_reset", "no_old_segment_accepted"]),
]


def run(kw: dict[str, object], prop: str, mode: str, cap: float) -> dict[str, Any] | None:
    try:
        out = subprocess.run([sys.executable, "-c", CHILD, MUTANT, json.dumps(kw), prop, mode], capture_output=True,
                             text=True, timeout=cap, check=True)
    except subprocess.TimeoutExpired:
        return None
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def _cell(r: dict[str, Any] | None, cap: float) -> str:
    """Wall time, CPU time (the machine is shared: wall time grows with the load) and peak memory."""
    return f"over {cap:.0f} s" if r is None else f"{r['seconds']:6.1f} s ({r['cpu']:5.1f} CPU) {r['rss_mb']:4} MB"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cap", type=float, default=400.0, help="seconds allowed per measurement")
    ap.add_argument("--quick", action="store_true", help="the shipped configuration only, after only")
    args = ap.parse_args()
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())} (2 cores, shared)")
    print(f"{'configuration':38} {'property':26} {'cmds':>5} {'depth':>5} {'before':>26} {'after':>26} {'speed-up':>8}")
    for name, kw, props in CONFIGS[-1:] if args.quick else CONFIGS:
        for prop in props:
            after = run(kw, prop, "after", args.cap)
            before = None if args.quick else run(kw, prop, "before", args.cap)
            known = after or before
            if known is not None and known["verdict"] == "violated":
                assert known["bound"] == known["explicit"][prop], "Z3 and the explicit engine disagree"
            ratio = f"{before['seconds'] / after['seconds']:7.2f}x" if before and after else (
                f">{args.cap / after['seconds']:6.2f}x" if after and not args.quick else "")
            print(f"{name:38} {prop:26} {known['commands'] if known else '':>5} {known['bound'] if known else '':>5} "
                  f"{_cell(before, args.cap) if not args.quick else '':>26} {_cell(after, args.cap):>26} {ratio:>8}",
                  flush=True)
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
