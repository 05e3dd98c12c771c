"""What progress and limits cost: measured side by side in one run.

1. The engine hook: ``explore`` with the progress callback and a state
   limit against ``explore`` without them, in this process.
2. The live line: ``tcpcheck verify`` with stderr on a pseudo-terminal
   (the line is drawn) against stderr on a pipe (nothing is drawn).
3. Before/after: this ``tcpcheck verify`` against another installation's
   (``--baseline PATH``, e.g. a venv with main installed), same runs.

Runs are interleaved (A B A B ...) so that a machine busy with other work
slows both sides alike; medians are printed with peak memory beside them.

    python bench/progress_bench.py [--repeat N] [--baseline /path/to/venv/bin/tcpcheck]
"""

from __future__ import annotations

import argparse
import os
import resource
import select
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path


def _explore_times(repeat: int) -> tuple[list[float], list[float], int]:
    from tcpcheck.model import ModelOptions, build_system, load_spec
    from tcpcheck.model.explicit import SearchProgress, explore

    system = build_system(load_spec(), ModelOptions(bound=2, loss=True))
    calls = 0

    def hook(p: SearchProgress) -> None:
        nonlocal calls
        calls += 1

    plain, hooked = [], []
    explore(system)  # warm-up: imports and compiled guards would bill the first side only
    for _ in range(repeat):
        t0 = time.perf_counter()
        n = len(explore(system).states)
        plain.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        explore(system, progress=hook, max_states=10**9)
        hooked.append(time.perf_counter() - t0)
    return plain, hooked, n


def _run(command: list[str], tty: bool) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of one command, stderr on a pty or a pipe."""
    t0 = time.perf_counter()
    if tty:
        master, slave = os.openpty()
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=slave, stdin=subprocess.DEVNULL)
        os.close(slave)
        while True:  # drain the terminal so the child never blocks on it
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    if not os.read(master, 65536):
                        break
                except OSError:
                    break
            elif proc.poll() is not None:
                break
        os.close(master)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    else:
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        assert proc.stderr is not None
        proc.stderr.read()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(command)} exited {proc.returncode}")
    return time.perf_counter() - t0, usage.ru_maxrss


def _pair(repeat: int, a: Callable[[], tuple[float, int]], b: Callable[[], tuple[float, int]]) -> tuple[
        list[float], list[float], int, int]:
    ta, tb, ma, mb = [], [], 0, 0
    for _ in range(repeat):
        t, m = a()
        ta.append(t)
        ma = max(ma, m)
        t, m = b()
        tb.append(t)
        mb = max(mb, m)
    return ta, tb, ma, mb


def _line(name: str, a: list[float], b: list[float], ma: int, mb: int, label_a: str, label_b: str) -> None:
    ra, rb = statistics.median(a), statistics.median(b)
    print(f"{name:<34} {label_a}: {ra:7.3f} s ({ma / 1024:6.1f} MiB)   {label_b}: {rb:7.3f} s "
          f"({mb / 1024:6.1f} MiB)   ratio {rb / ra:5.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--baseline", help="another tcpcheck executable to compare verify with (before/after)")
    args = ap.parse_args()
    # The tcpcheck beside this interpreter, not the first on PATH: a pyenv shim
    # there runs another installation (or none) and would be timed instead.
    here = str(Path(sys.executable).with_name("tcpcheck"))
    for exe in (here, args.baseline):
        if exe is not None and not (os.path.isfile(exe) and os.access(exe, os.X_OK)):
            raise SystemExit(f"progress_bench: no tcpcheck executable at {exe}")
    print(f"load average at start: {os.getloadavg()[0]:.1f}; {args.repeat} interleaved runs per line, medians")
    print()

    plain, hooked, states = _explore_times(args.repeat)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    _line(f"explore K=2 loss ({states} states)", plain, hooked, peak, peak, "no hook", "hook + limit")

    big = ["verify", "--bound", "2", "--loss"]
    a, b, ma, mb = _pair(args.repeat, lambda: _run([here, *big], tty=False), lambda: _run([here, *big], tty=True))
    _line("verify -k 2 --loss: live line", a, b, ma, mb, "stderr pipe", "stderr tty")

    if args.baseline:
        baseline: str = args.baseline
        extras: list[tuple[str, list[str]]] = [("verify (default model)", []), ("verify -k 2 --loss", big[1:])]
        for name, extra in extras:
            a, b, ma, mb = _pair(args.repeat, partial(_run, [baseline, "verify", *extra], tty=False),
                                 partial(_run, [here, "verify", *extra], tty=False))
            _line(f"{name}: before/after", a, b, ma, mb, "baseline", "this")


if __name__ == "__main__":
    main()
