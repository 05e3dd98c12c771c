"""Partial-order reduction, measured: states stored, CPU seconds and peak memory with and without it.

Each run is its own process (so that peak memory is that run's): build the system, compute the
reduction (the independence relation, by Z3, is part of its cost), search, and decide the
properties, recomputing shortest traces as ``tcpcheck verify --por`` does. The symmetry reduction is
on in both columns (the default). For every configuration, with every property and with a single
one (POR's visible variables are those the checked properties read, so fewer properties leave more
moves invisible). A run over ``--limit`` seconds is reported as such, not dropped.

Measured here (2 cores shared with a test run; symmetry on in both columns), states without / with
POR, CPU seconds without / with, peak MB without / with:

    K=1 fifo          all                477 /     477    0.81 /  1.20    44 /  48
    K=1 reorder+loss  time_wait_naive   7730 /    7730    0.77 /  2.80    48 /  86
    K=2 reorder       time_wait_naive  77926 /   77624    0.91 /  3.67    52 / 103
    K=2 loss          time_wait_naive  60992 /   60992    1.00 /  9.43    55 / 112
    K=2 reorder+loss  time_wait_naive 201614 /  201383    1.21 / 10.70    70 / 137
    K=3 reorder       all            1074097 / 1074097    8.04 / 18.32   144 / 231
    K=3 loss          time_wait_naive 196342 /  196342    1.68 / 45.61    71 / 187
    K=3 reorder+loss  all            1813177 / 1813177   16.46 / 31.42   277 / 376
    K=3 reorder+loss  time_wait_naive  over the 240 s limit with POR

With every property nothing is invisible and it stores exactly as many states; with one property it
stores at most 0.4 % fewer (K=2 reorder), at 1.5 to 27 times the CPU time and 1.04 to 2.6 times the
peak memory (Z3, for the independence relation, is about 40 MB of it).

    python bench/por_bench.py                        # K=1..3 x fifo, reorder, loss, reorder+loss
    python bench/por_bench.py --configs 1,fifo 2,loss --limit 120   # a few, a shorter limit
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

CHANNELS = {"fifo": (False, False), "reorder": (True, False), "loss": (False, True), "reorder+loss": (True, True)}
SINGLE = "time_wait_naive"  # an invariant reading four variables, violated (so its trace is recomputed)


def child(k: int, channels: str, selection: str, por: bool) -> None:
    """One measured run; prints its figures as JSON."""
    from tcpcheck.model import ModelOptions, build_system, load_properties, load_spec
    from tcpcheck.model.explicit import check, explore
    from tcpcheck.model.por import partial_order
    from tcpcheck.model.symmetry import find_mirror

    t0 = time.perf_counter()
    every = load_properties()
    props = every if selection == "all" else [p for p in every if p.name == selection]
    reorder, loss = CHANNELS[channels]
    system = build_system(load_spec(), ModelOptions(bound=k, reorder=reorder, loss=loss), every)
    mirror = find_mirror(system)[0]
    reduction = partial_order(system, props, mirror) if por else None
    space = explore(system, mirror=mirror, reduction=reduction,
                    record_edges=any(p.kind == "recoverable" for p in props))
    verdicts = [(v.verdict, v.instance, len(v.counterexample or v.witness or []))
                for v in (check(space, p) for p in props)]
    usage = resource.getrusage(resource.RUSAGE_SELF)
    extra = space.reduction_stats()
    print(json.dumps({"states": space.count, "cpu": usage.ru_utime + usage.ru_stime, "wall": time.perf_counter() - t0,
                      "peak_mb": usage.ru_maxrss / 1024, "verdicts": verdicts,
                      "trace_states": extra.get("unreduced_trace_states"),
                      "pruned": extra.get("pruned_transitions", 0)}))


def measure(k: int, channels: str, selection: str, por: bool, limit: float) -> dict[str, object] | None:
    """Run ``child`` in a fresh process; None when it exceeds ``limit`` seconds."""
    cmd = [sys.executable, __file__, "--child", str(k), channels, selection, "on" if por else "off"]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=limit, check=True)
    except subprocess.TimeoutExpired:
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _ratio(plain: dict[str, object], reduced: dict[str, object], key: str) -> str:
    """With POR over without, for one figure."""
    return f"{float(reduced[key]) / max(1e-9, float(plain[key])):.2f}"  # type: ignore[arg-type]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--configs", nargs="*", default=[f"{k},{c}" for k in (1, 2, 3) for c in CHANNELS],
                    help="K,channels pairs (channels: " + ", ".join(CHANNELS) + ")")
    ap.add_argument("--limit", type=float, default=600.0, help="seconds a run may take (default 600)")
    ap.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        k, channels, selection, por = args.child
        child(int(k), channels, selection, por == "on")
        return
    print(f"{'config':16} {'properties':16} {'states':>9} {'POR':>9} {'ratio':>6} {'CPU s':>7} {'POR':>7} "
          f"{'ratio':>6} {'peak MB':>8} {'POR':>7} {'ratio':>6}  pruned  same verdicts", flush=True)
    for item in args.configs:
        k, channels = item.split(",")
        for selection in ("all", SINGLE):
            plain = measure(int(k), channels, selection, False, args.limit)
            reduced = measure(int(k), channels, selection, True, args.limit) if plain is not None else None
            head = f"K={k} {channels:12} {selection:16}"
            if plain is None or reduced is None:
                which = "without POR" if plain is None else "with POR"
                print(f"{head} over the {args.limit:.0f} s limit {which}", flush=True)
                continue
            print(f"{head} {plain['states']:>9} {reduced['states']:>9} {_ratio(plain, reduced, 'states'):>6} "
                  f"{plain['cpu']:>7.2f} {reduced['cpu']:>7.2f} {_ratio(plain, reduced, 'cpu'):>6} "
                  f"{plain['peak_mb']:>8.0f} {reduced['peak_mb']:>7.0f} {_ratio(plain, reduced, 'peak_mb'):>6}  "
                  f"{reduced['pruned']:>6}  "
                  f"{plain['verdicts'] == reduced['verdicts']}", flush=True)


if __name__ == "__main__":
    main()
