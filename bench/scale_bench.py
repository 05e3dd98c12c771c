"""The explicit engine against SPIN at scale: K = 1..6 x {FIFO, reorder, loss, reorder+loss}.

For each configuration, side by side in one run, each in its own process:

* ``tcpcheck verify -k K ... --json --no-symmetry``: every property, exact,
  unreduced (the states SPIN stores); and, with ``--symmetry``, again with
  the symmetry reduction;
* SPIN's pipeline on the Promela export of the same model (``spin -a -o2``,
  ``gcc -O2 -DSAFETY``, ``./pan -c0``), once exact and once with
  ``-DCOLLAPSE`` (pan's state compression); pan checks the invariant and
  reachability properties (``recoverable`` ones are beyond LTL).

Per run: states, seconds (search alone, and the whole pipeline from process
start), CPU seconds, peak resident memory (``wait4``), bytes per state (peak
memory / states; for tcpcheck also the state store alone). Then the ratios
tcpcheck / pan COLLAPSE. A run that passes ``--max-mib`` of memory or
``--max-seconds`` is stopped and its row says so; a configuration whose
smaller K already exceeded a limit is marked, not run.

    python bench/scale_bench.py                         # the whole matrix (hours on a busy machine)
    python bench/scale_bench.py --bounds 1,2,3 --configs fifo,loss
    python bench/scale_bench.py --bounds 4 --configs reorder+loss --max-mib 2048

Rows are appended to ``--out`` as JSON lines; ``--summary`` prints the table of a file.

Measured at K = 4 reorder+loss on main's model (two past-time monitors: 71 bits, two words a
state), ``--bounds 4 --configs reorder+loss --no-exact --symmetry --max-mib 4096``, on a machine with
2 cores and a load average of 7 to 11 (other sessions' work), so wall times are inflated: both store
17,951,505 states; ``tcpcheck verify --no-symmetry``, the whole process, 153.6 s of CPU (722 s wall)
and 1,567 MiB peak (91.6 bytes a state, 32.3 of them the state store, 35.5 the recorded edges);
``pan -DCOLLAPSE`` alone 218.7 s of CPU (903 s wall) and 2,083 MiB (121.7 bytes a state): ratios
0.70 in CPU, 0.52 in wall (BFS alone) and 0.75 in memory. With the symmetry reduction (the default)
8,976,162 states stored (2.00x fewer), 100.9 s of CPU and 1,065 MiB. Before the store grew in place
(same command, load 2.5 to 6): 2,089 MiB for tcpcheck against pan's 2,083.

Measured at K = 4 reorder+loss before the rebase onto main's model (no past-time
monitors yet; the commands this script runs, started side
by side on a machine with 2 cores and a load average near 20, so CPU
seconds, not wall): both store 13,014,627 states; ``tcpcheck verify
--no-symmetry``, the whole process, 59 s of CPU and 1,479 MiB peak (119
bytes a state, 23 of them the state store, 36 the recorded edges);
``pan -DCOLLAPSE`` alone 124 s of CPU and 1,403 MiB (113 bytes a state):
ratios 0.48 in CPU and 1.05 in memory.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any

from bench_args import bounds as parse_bounds
from bench_args import require_spin

from tcpcheck.tools.export import promela

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = {"fifo": (False, False), "reorder": (True, False), "loss": (False, True), "reorder+loss": (True, True)}


def limited(cmd: list[str], cwd: Path, seconds: float, mib: int) -> dict[str, Any]:
    """Run ``cmd``; stop it past ``seconds`` or ``mib`` MiB resident. Wall, CPU, peak RSS and output."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=out, stderr=err)
        over = None
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            wall = time.perf_counter() - t0
            rss = _rss_mib(proc.pid)
            if over is None and (wall > seconds or rss > mib):
                over = f"over {int(seconds)} s" if wall > seconds else f"over {mib} MiB"
                proc.kill()
            time.sleep(0.05)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - t0
        return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "peak_mib": usage.ru_maxrss / 1024,
                "rc": proc.returncode, "over": over, "stdout": _tail(out), "stderr": _tail(err)}


def _tail(f: IO[bytes], limit: int = 1 << 20) -> str:
    """The last ``limit`` bytes written to ``f``: pan -c0 prints a line per violation (gigabytes at K = 4),
    and its summary is at the end."""
    size = f.seek(0, os.SEEK_END)
    f.seek(max(0, size - limit))
    return f.read().decode(errors="replace")


def _rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def tcpcheck(k: int, reorder: bool, loss: bool, symmetry: bool, seconds: float, mib: int) -> dict[str, Any]:
    model = ["-k", str(k)] + (["--reorder"] if reorder else []) + (["--loss"] if loss else [])
    cmd = [sys.executable, "-m", "tcpcheck", "verify", *model, "--json"] + ([] if symmetry else ["--no-symmetry"])
    r = limited(cmd, ROOT, seconds, mib)
    row: dict[str, Any] = {"wall": r["wall"], "cpu": r["cpu"], "peak_mib": r["peak_mib"], "over": r["over"]}
    if r["over"] is None:
        if r["rc"] not in (0, 1):
            row["over"] = f"failed ({r['rc']}): {str(r['stderr']).strip()[-200:]}"
            return row
        data = json.loads(str(r["stdout"]))
        stats = data["stats"]
        row.update({"states": stats["states"], "reachable": stats.get("unreduced_states", stats["states"]),
                    "search": stats["search_seconds"], "store_bytes": stats["store_bytes"],
                    "ok": data["ok"]})
    return row


def pan(workdir: Path, collapse: bool, states_hint: int, seconds: float, mib: int) -> dict[str, Any]:
    defines = ["-DCOLLAPSE"] if collapse else []
    # pan stops itself at its memory limit (and says so); the watchdog is a second line
    defines.append(f"-DMEMLIM={mib}")
    cmds = promela.spin_commands("-O2", [promela.pan_hash_width(states_hint)], defines)
    total = cpu = 0.0
    peak = 0.0
    for cmd in cmds:
        r = limited(cmd, workdir, seconds, mib)
        total += float(r["wall"])
        cpu += float(r["cpu"])
        peak = max(peak, float(r["peak_mib"]))
        if r["over"] is not None:
            return {"over": r["over"], "pipeline": total}
        if cmd[0] != "./pan" and r["rc"] != 0:
            return {"over": f"{cmd[0]} failed: {str(r['stderr'])[-200:]}"}
    report = str(r["stdout"])
    if "reached -DMEMLIM bound" in report or "out of memory" in report:
        return {"over": f"over {mib} MiB (pan's -DMEMLIM)", "pipeline": total}
    if "max search depth too small" in report:
        return {"over": "pan's depth bound (-m) too small: not exhaustive", "pipeline": total}
    m = re.search(r"(\d+) states, stored", report)
    mem = re.search(r"([\d.]+)\s+total actual memory usage", report)
    return {"states": int(m.group(1)) if m else None, "search": float(r["wall"]), "search_cpu": float(r["cpu"]),
            "pipeline": total, "pipeline_cpu": cpu, "peak_mib": float(r["peak_mib"]),
            "pan_memory_mib": float(mem.group(1)) if mem else None}


def run(k: int, name: str, args: argparse.Namespace, hint: int, before: dict | None) -> dict[str, Any]:
    """One configuration; a tool that went over a limit at K - 1 (``before``) is not run again."""
    reorder, loss = CONFIGS[name]
    row: dict[str, Any] = {"bound": k, "config": name}

    def skip(tool: str) -> dict[str, Any] | None:
        if before is not None and before[tool].get("over"):
            return {"over": f"not run: {str(before[tool]['over']).split(':')[0]} at K={k - 1}"}
        return None

    row["tcpcheck"] = skip("tcpcheck") or tcpcheck(k, reorder, loss, False, args.max_seconds, args.max_mib)
    if args.symmetry:
        row["tcpcheck_symmetry"] = tcpcheck(k, reorder, loss, True, args.max_seconds, args.max_mib)
    states = row["tcpcheck"].get("states") or hint
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model = ["--bound", str(k)] + (["--reorder"] if reorder else []) + (["--loss"] if loss else [])
        subprocess.run([sys.executable, "-m", "tcpcheck", "export", "--promela", str(work / "model.pml"), *model],
                       cwd=ROOT, check=True, capture_output=True)
        for tool, collapse in (("pan", False), ("pan_collapse", True)):
            if tool == "pan" and args.no_exact:
                row[tool] = {"over": "not run (--no-exact)"}
                continue
            row[tool] = skip(tool) or pan(work, collapse, int(states), args.max_seconds,
                                          args.max_mib)
    return row


def _cell(r: dict[str, Any], states: Any) -> str:
    if r.get("over"):
        return f"{str(r['over'])[:28]:>28}"
    bps = float(r["peak_mib"]) * 2**20 / int(states) if states else 0.0
    return f"{float(r['search']):8.2f} {float(r['peak_mib']):8.1f} {bps:9.1f}"


def summary(rows: list[dict]) -> None:
    head = f"{'search s':>8} {'peak MiB':>8} {'B/state':>9}"
    print(f"{'K':>2} {'channels':<13} {'states':>10} | tcpcheck verify      {'':8}| pan (exact){'':17}| "
          f"pan -DCOLLAPSE{'':14}| tcpcheck / COLLAPSE     | whole pipeline s")
    print(f"{'':>2} {'':<13} {'':>10} | {head} {'store B/st':>10} | {head} | {head} | "
          f"{'time':>6} {'cpu':>6} {'B/state':>8} | {'verify':>7} {'spin':>7} {'ratio':>6}")
    for row in rows:
        tc, pe, pc = row["tcpcheck"], row["pan"], row["pan_collapse"]
        states = tc.get("states") or pe.get("states") or pc.get("states")
        store = f"{tc['store_bytes'] / tc['states']:10.1f}" if tc.get("states") else f"{'':10}"
        ratios = f"{'':6} {'':6} {'':8}"
        if tc.get("states") and pc.get("states"):
            ratios = (f"{tc['search'] / pc['search']:6.2f} {tc['cpu'] / pc['search_cpu']:6.2f} "
                      f"{tc['peak_mib'] / pc['peak_mib']:8.2f}")
        whole = f"{'':7} {'':7} {'':6}"
        if tc.get("states") and pe.get("states"):
            whole = f"{tc['wall']:7.2f} {pe['pipeline']:7.2f} {tc['wall'] / pe['pipeline']:6.2f}"
        mismatch = "" if not (tc.get("states") and pe.get("states")) or tc["states"] == pe["states"] \
            else f"  STATE COUNTS DIFFER: pan {pe['states']}"
        print(f"{row['bound']:>2} {row['config']:<13} {states or '-':>10} | {_cell(tc, states)} {store} | "
              f"{_cell(pe, states)} | {_cell(pc, states)} | {ratios} | {whole}{mismatch}")
        sym = row.get("tcpcheck_symmetry")
        if sym and sym.get("states"):
            print(f"{'':>2} {'  symmetry':<13} {sym['states']:>10} | {_cell(sym, sym['states'])} "
                  f"{sym['store_bytes'] / sym['states']:10.1f} | stored {sym['reachable'] / sym['states']:.2f}x "
                  f"fewer; {sym['wall']:.2f} s whole")
    print("search s: tcpcheck's BFS alone (its JSON), pan's run alone; whole pipeline: tcpcheck verify from process "
          "start vs spin + gcc + pan; ratios < 1 favour tcpcheck; B/state = peak resident memory / states")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bounds", default="1,2,3,4,5,6")
    ap.add_argument("--configs", default=",".join(CONFIGS))
    ap.add_argument("--max-mib", type=int, default=4096, help="memory allowed per run (MiB, resident)")
    ap.add_argument("--max-seconds", type=float, default=900.0, help="time allowed per run")
    ap.add_argument("--symmetry", action="store_true", help="also run tcpcheck with the symmetry reduction")
    ap.add_argument("--no-exact", action="store_true", help="run pan with -DCOLLAPSE only")
    ap.add_argument("--out", type=Path, default=Path("scale_bench.jsonl"))
    ap.add_argument("--summary", action="store_true", help="print the table of --out and stop")
    args = ap.parse_args()
    if args.summary:
        summary([json.loads(line) for line in args.out.read_text().splitlines()])
        return
    require_spin()
    bounds = parse_bounds(args.bounds)
    names = args.configs.split(",")
    if unknown := [n for n in names if n not in CONFIGS]:
        sys.exit(f"--configs: unknown {unknown[0]!r}; use {', '.join(CONFIGS)}")
    rows = []
    for name in names:
        hint = 1 << 20
        before = None
        for k in bounds:
            row = run(k, name, args, hint, before)
            before = row
            rows.append(row)
            with args.out.open("a") as f:
                f.write(json.dumps(row) + "\n")
            states = row["tcpcheck"].get("states")
            hint = int(states) * 5 if states else hint * 5
            print(f"K={k} {name}: done", file=sys.stderr, flush=True)
    summary(rows)


if __name__ == "__main__":
    main()
