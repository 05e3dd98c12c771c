"""Three engines on one model, end to end: ``tcpcheck verify --engine explicit``,
``--engine z3``, and SPIN's whole pipeline (``spin -a`` + ``gcc`` + ``./pan``)
on the Promela that ``tcpcheck export`` writes for the same options.

Each is a subprocess timed from start to exit (median of ``--repeat`` runs),
peak memory from ``/usr/bin/time -f %M`` (resident set, KiB; for SPIN the
largest of its three stages). Prints the times, the memory and the ratios.

    python bench/engines_bench.py                 # K = 1 (Z3 takes seconds here)
    python bench/engines_bench.py --bound 3 --z3-repeat 1
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_args import require_spin

from tcpcheck.tools.export import promela

ROOT = Path(__file__).resolve().parents[1]
TIME = "/usr/bin/time"


def timed(cmd: list[str], cwd: Path) -> tuple[float, int, str]:
    """(seconds, peak RSS in KiB, stdout) of one subprocess; exits on failure."""
    prefix = [TIME, "-f", "%M"] if Path(TIME).exists() else []
    t0 = time.perf_counter()
    done = subprocess.run(prefix + cmd, cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if done.returncode not in (0, 1):
        sys.exit(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr[-500:]}")
    rss = int(done.stderr.strip().splitlines()[-1]) if prefix else 0
    return seconds, rss, done.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bound", type=int, default=1)
    ap.add_argument("--reorder", action="store_true")
    ap.add_argument("--loss", action="store_true")
    ap.add_argument("--repeat", type=int, default=5, help="runs of the explicit engine and of SPIN")
    ap.add_argument("--z3-repeat", type=int, default=3, help="runs of the Z3 engine")
    args = ap.parse_args()
    require_spin()
    model = ["--bound", str(args.bound)] + (["--reorder"] if args.reorder else []) + (["--loss"] if args.loss else [])
    cli = [sys.executable, "-m", "tcpcheck"]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        subprocess.run(cli + ["export", "--promela", str(work / "model.pml"), *model], cwd=ROOT, check=True,
                       capture_output=True)

        def spin_pipeline() -> tuple[float, int, str]:
            total, peak, out = 0.0, 0, ""
            for cmd in promela.spin_commands():
                s, m, out = timed(cmd, work)
                total, peak = total + s, max(peak, m)
            return total, peak, out

        rows = []
        for name, run, n in (
            ("explicit", lambda: timed(cli + ["verify", "--engine", "explicit", *model], ROOT), args.repeat),
            ("z3", lambda: timed(cli + ["verify", "--engine", "z3", *model], ROOT), args.z3_repeat),
            ("spin", spin_pipeline, args.repeat),
        ):
            runs = [run() for _ in range(n)]
            rows.append((name, statistics.median(r[0] for r in runs), max(r[1] for r in runs)))
    explicit = rows[0][1]
    spin = rows[2][1]
    print(f"model: K={args.bound}{' reorder' if args.reorder else ''}{' loss' if args.loss else ''}; "
          f"median of {args.repeat} (z3: {args.z3_repeat}) runs, each from process start to exit")
    print(f"{'engine':10} {'seconds':>9} {'peak MiB':>9} {'vs explicit':>12} {'vs spin':>8}")
    for name, seconds, rss in rows:
        print(f"{name:10} {seconds:9.3f} {rss / 1024:9.1f} {seconds / explicit:11.2f}x {seconds / spin:7.2f}x")


if __name__ == "__main__":
    main()
