"""The Z3 engine's speed targets (issue 19), before and after, side by side in one run.

Two workloads, each run by the code of ``--before`` (a git revision, default
``main``, extracted into a temporary package tree) and by the working tree,
each in a fresh process:

* ``fifo``: every property at K = 3 FIFO with the Z3 engine, what
  ``tcpcheck verify --engine z3 -k 3`` decides (target: under 60 s);
* ``every``: the whole command ``tcpcheck verify --reorder --every-bound``
  at K = 3 (the explicit search of the verdicts included; target: under 10 s).

Times are CPU seconds of the process (user + system, ``resource``): the
machine is shared, and wall time moves with its load (printed too). Per
phase (BMC, blocking guided by the reachable states, Houdini, k-induction,
IC3, the explicit searches) from the engine's progress messages: the CPU
between one message and the next is charged to the phase the first names.
Peak memory is the process's maximum
resident set. The verdicts of the two sides are compared (verdict, instance,
bound, length of the path); any difference is printed.

    python bench/z3_speed_bench.py                    # both workloads, before = main
    python bench/z3_speed_bench.py --what every --before 3c0cceb
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Run in the measured process: the workload, then one JSON line on stdout.
DRIVER = r"""
import json, resource, sys, time
what = sys.argv[1]
phases = {}
last = [time.process_time(), "setup"]
NAMES = (("BMC", "BMC"), ("Houdini", "Houdini"), ("k-induction", "k-induction"), ("IC3", "IC3"),
         ("explicit", "explicit"), ("invariant from all", "blocking"))

def progress(text):
    now = time.process_time()
    phases[last[1]] = phases.get(last[1], 0.0) + now - last[0]
    name = text.split("every bound: ")[-1].removeprefix("z3: ")
    last[:] = [now, next((p for prefix, p in NAMES if name.startswith(prefix)), "other")]

from tcpcheck.model import ModelOptions, build_system, load_properties, load_spec
from tcpcheck.model import symbolic
w0 = time.perf_counter()
if what == "fifo":
    props = load_properties()
    system = build_system(load_spec(), ModelOptions(bound=3), props)
    verdicts = symbolic.check_all(system, props, progress=progress)
    rows = [(v.name, v.verdict, v.instance, v.bound, len(v.counterexample or v.witness or []), v.method)
            for v in verdicts]
else:
    real = symbolic.prove_every_bound
    out = []
    def prove(*args, **kwargs):
        kwargs["progress"] = progress
        out.extend(real(*args, **kwargs))
        return out
    symbolic.prove_every_bound = prove
    from tcpcheck.tools.cli import main
    import contextlib, io
    progress("explicit search")
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            main(["verify", "--reorder", "--every-bound", "--json"], standalone_mode=False)
        except SystemExit:
            pass
    rows = [(v.name, v.verdict, v.instance, v.bound, 0, v.method) for v in out]
progress("end")
use = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"cpu": use.ru_utime + use.ru_stime, "wall": time.perf_counter() - w0,
                  "rss_mib": use.ru_maxrss / 1024, "phases": phases, "verdicts": rows}))
"""

PHASES = ("setup", "explicit", "BMC", "blocking", "Houdini", "k-induction", "IC3", "other")
TARGETS = {"fifo": 60.0, "every": 10.0}


def package_tree(rev: str, into: Path) -> Path:
    """Revision ``rev`` laid out as the installed package (``tcpcheck``, ``tcpcheck.model``, ...)."""
    src = into / "src"
    src.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", rev], cwd=ROOT, check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(src)], input=archive, check=True)
    mapping = tomllib.loads((src / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    site = into / "site"
    for package, folder in sorted(mapping.items()):
        shutil.copytree(src / folder, site / package.replace(".", "/"), dirs_exist_ok=True)
    return site


def run(what: str, site: Path | None) -> dict:
    """One workload in a fresh process, with ``site`` (a package tree) first on its path if given."""
    env_path = [] if site is None else [str(site)]
    code = (f"import sys; sys.path[:0] = {env_path!r}; import tcpcheck; "
            f"assert {site is None} or tcpcheck.__file__.startswith({str(site)!r}), tcpcheck.__file__\n" + DRIVER)
    done = subprocess.run([sys.executable, "-c", code, what], capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{what} ({site or 'the working tree'}) failed: {done.stderr[-800:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--before", default="main", help="git revision measured as 'before' (default: main)")
    ap.add_argument("--after", default="", help="git revision measured as 'after' (default: the working tree)")
    ap.add_argument("--what", default="fifo,every", help="workloads: fifo, every (default: both)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        site = package_tree(args.before, Path(tmp) / "before")
        later = package_tree(args.after, Path(tmp) / "after") if args.after else None
        for what in args.what.split(","):
            before, after = run(what, site), run(what, later)
            title = "every property at K = 3 FIFO, Z3" if what == "fifo" else "verify --reorder --every-bound, K = 3"
            print(f"\n{what}: {title} (before = {args.before}, after = {args.after or 'the working tree'};"
                  " CPU seconds unless said)")
            print(f"{'':14} {'before':>9} {'after':>9} {'ratio':>7}")
            for phase in PHASES:
                b, a = before["phases"].get(phase, 0.0), after["phases"].get(phase, 0.0)
                if b or a:
                    print(f"{phase:14} {b:9.1f} {a:9.1f} {b / a if a else float('inf'):6.1f}x")
            print(f"{'total CPU':14} {before['cpu']:9.1f} {after['cpu']:9.1f} {before['cpu'] / after['cpu']:6.1f}x"
                  f"   target < {TARGETS[what]:.0f} s: {'met' if after['cpu'] < TARGETS[what] else 'MISSED'}")
            print(f"{'wall':14} {before['wall']:9.1f} {after['wall']:9.1f}")
            print(f"{'peak MiB':14} {before['rss_mib']:9.0f} {after['rss_mib']:9.0f}")
            same = [b[:5] == a[:5] for b, a in zip(before["verdicts"], after["verdicts"], strict=True)]
            print(f"verdicts: {sum(same)} of {len(same)} identical (verdict, instance, bound, path length)")
            for b, a, ok in zip(before["verdicts"], after["verdicts"], same, strict=True):
                if not ok or b[5] != a[5]:
                    print(f"  {b[0]}: before {b[1:]}, after {a[1:]}")


if __name__ == "__main__":
    main()
