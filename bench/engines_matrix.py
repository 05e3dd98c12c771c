"""The three engines on the whole matrix: every spec (embedded + tests/mutants)
x K = 1..3 x {FIFO, reorder} x {no loss, loss}, verdict by verdict.

For each configuration: the explicit engine's verdicts, the Z3 engine's
(BMC + Houdini-strengthened k-induction; ``symbolic`` counts the invariants
and unreachable targets Z3 proved itself, ``fallback`` those it left to the
explicit state space) and SPIN's on the Promela export (``spin -a -o2``,
``gcc -DSAFETY``, ``./pan -c0``: exhaustive). A row agrees when all three
give the same verdict and violated instance for every property SPIN checks
(``recoverable`` properties are explicit-only in every engine), and Z3's
counterexamples and witnesses have the explicit engine's (shortest) length.

Each finished row is appended to ``--out`` as one JSON line, so an
interrupted run resumes where it stopped. Times are wall-clock seconds of
each engine alone (SPIN: its three stages), peak memory is this process's.

    python bench/engines_matrix.py                       # everything, 2 processes
    python bench/engines_matrix.py --specs embedded --bounds 1,2
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import sys
import tempfile
import time
from pathlib import Path

from bench_args import bounds as parse_bounds
from bench_args import require_spin

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _spec_paths(which: str) -> list[str]:
    mutants = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests" / "mutants").glob("*.toml"))
    return {"embedded": ["embedded"], "mutants": mutants}.get(which, ["embedded", *mutants])


def _spin(text: str, checks: list, states_hint: int) -> tuple[dict, float]:
    from tcpcheck.tools.export import promela

    t0 = time.perf_counter()
    # measured at K = 3 with reordering: gcc -O2 takes 5.2 s and pan then 12.4 s, -O0 1.0 s and 18.4 s;
    # below a few hundred thousand states the compiler is the larger cost.
    opt = "-O2" if states_hint > 300_000 else "-O0"
    with tempfile.TemporaryDirectory() as tmp:
        report = promela.run_spin(text, Path(tmp), opt, [promela.pan_hash_width(states_hint)])
        got = promela.verdicts(checks, promela.read_pan(report, checks))
    return got, time.perf_counter() - t0


def run_one(job: tuple[str, int, bool, bool, bool]) -> dict:
    """One configuration: the engines, compared (Z3 only when the job's last field is true)."""
    from tcpcheck.model import ModelOptions, build_system, load_properties, load_spec
    from tcpcheck.model.explicit import check, explore
    from tcpcheck.model.symbolic import Checker
    from tcpcheck.tools.export import promela

    spec, k, reorder, loss, with_z3 = job
    props = load_properties()
    system = build_system(load_spec(None if spec == "embedded" else ROOT / spec),
                          ModelOptions(bound=k, reorder=reorder, loss=loss))
    t0 = time.perf_counter()
    space = explore(system)
    explicit = [check(space, p) for p in props]
    t_explicit = time.perf_counter() - t0
    t0 = time.perf_counter()
    z3v = Checker(system, explicit_space=lambda: space).check_all(props) if with_z3 else [None] * len(props)
    t_z3 = time.perf_counter() - t0
    text, checks = promela.export(system, props)
    spin, t_spin = _spin(text, checks, space.count)
    differences = []
    symbolic = 0
    fell_back: list[str] = []
    for e, z in zip(explicit, z3v, strict=True):
        if e.verdict == "skipped":
            continue
        want = (e.verdict, e.instance if e.verdict == "violated" else "")
        if e.kind != "recoverable" and e.name in spin and spin[e.name] != want:
            differences.append(f"{e.name}: explicit {want} spin {spin[e.name]}")
        if z is None:
            continue
        if (z.verdict, z.instance if z.verdict == "violated" else "") != want:
            differences.append(f"{e.name}: explicit {want} z3 {(z.verdict, z.instance)}")
        for ours, theirs in ((z.counterexample, e.counterexample), (z.witness, e.witness)):
            if ours is not None and (theirs is None or len(ours) != len(theirs)):
                differences.append(f"{e.name}: z3 path of {len(ours)} steps, explicit "
                                   f"{len(theirs) if theirs else None}")
        if "symbolic_proof" in z.extra:
            symbolic += bool(z.extra["symbolic_proof"])
            if not z.extra["symbolic_proof"]:
                fell_back.append(e.name)
    return {
        "spec": spec, "bound": k, "reorder": reorder, "loss": loss, "z3": with_z3, "states": space.count,
        "agree": not differences, "differences": differences,
        "compared": sum(e.verdict != "skipped" for e in explicit), "spin_checked": len(spin),
        "z3_proofs": symbolic, "z3_fallbacks": len(fell_back), "z3_fell_back": fell_back,
        "seconds": {"explicit": round(t_explicit, 2), "z3": round(t_z3, 2) if with_z3 else None,
                    "spin": round(t_spin, 2)},
        "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--specs", choices=("all", "embedded", "mutants"), default="all")
    ap.add_argument("--bounds", default="1,2,3", help="comma-separated channel bounds")
    ap.add_argument("--jobs", type=int, default=2, help="configurations run at once (each is one process)")
    ap.add_argument("--reorder", choices=("both", "on", "off"), default="both")
    ap.add_argument("--loss", choices=("both", "on", "off"), default="both")
    ap.add_argument("--no-z3", action="store_true", help="explicit and SPIN only (a quick pass over everything)")
    ap.add_argument("--out", type=Path, default=Path("engines_matrix.jsonl"), help="JSON lines, appended")
    args = ap.parse_args()
    require_spin()
    bounds = parse_bounds(args.bounds)
    done = set()
    if args.out.exists():
        for line in args.out.read_text().splitlines():
            r = json.loads(line)
            done.add((r["spec"], r["bound"], r["reorder"], r["loss"], r.get("z3", True)))
            done.add((r["spec"], r["bound"], r["reorder"], r["loss"], False))  # a row with Z3 covers one without
    with_z3 = not args.no_z3
    pick = {"both": (False, True), "on": (True,), "off": (False,)}
    jobs = [(s, k, r, lo, with_z3) for k in bounds for s in _spec_paths(args.specs)
            for r in pick[args.reorder] for lo in pick[args.loss] if (s, k, r, lo, with_z3) not in done]
    print(f"{len(jobs)} configurations to run ({len(done)} already in {args.out})", file=sys.stderr)
    with multiprocessing.get_context("spawn").Pool(args.jobs, maxtasksperchild=1) as pool, \
            args.out.open("a") as out:
        for n, row in enumerate(pool.imap_unordered(run_one, jobs), 1):
            out.write(json.dumps(row) + "\n")
            out.flush()
            s = row["seconds"]
            print(f"[{n}/{len(jobs)}] {row['spec']} K={row['bound']}{' reorder' if row['reorder'] else ''}"
                  f"{' loss' if row['loss'] else ''}: {row['states']} states, "
                  f"{'agree' if row['agree'] else 'DIFFER ' + '; '.join(row['differences'])}, "
                  f"explicit {s['explicit']} s, "
                  + (f"z3 {s['z3']} s ({row['z3_proofs']} proved, {row['z3_fallbacks']} fallback), "
                     if row["z3"] else "") + f"spin {s['spin']} s", file=sys.stderr, flush=True)
    summarise(args.out)


def summarise(path: Path) -> None:
    """The table of every row in ``path``: per configuration, how many specs each engine pair covered."""
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    for r in rows:
        r.setdefault("z3", True)
    print(f"{'config':18} {'specs':>5} {'agree':>5} {'with z3':>7} {'max states':>10} {'explicit s':>10} "
          f"{'z3 s':>7} {'spin s':>7} {'z3 proved':>9} {'fallback':>8}")
    groups: dict[tuple, list[dict]] = {}
    for r in sorted(rows, key=lambda r: (r["bound"], r["reorder"], r["loss"])):
        groups.setdefault((r["bound"], r["reorder"], r["loss"]), []).append(r)
    for (k, reorder, loss), rs in groups.items():
        name = f"K={k}" + (" reorder" if reorder else "") + (" loss" if loss else "")
        z = [r for r in rs if r["z3"]]
        print(f"{name:18} {len({r['spec'] for r in rs}):5} {len({r['spec'] for r in rs if r['agree']}):5} "
              f"{len({r['spec'] for r in z}):7} {max(r['states'] for r in rs):10} "
              f"{max(r['seconds']['explicit'] for r in rs):10.1f} "
              f"{max((r['seconds']['z3'] for r in z), default=0):7.1f} {max(r['seconds']['spin'] for r in rs):7.1f} "
              f"{sum(r['z3_proofs'] for r in z):9} {sum(r['z3_fallbacks'] for r in z):8}")
    bad = [r for r in rows if not r["agree"]]
    print(f"total: {len(rows)} rows, {len(rows) - len(bad)} agree" + "".join(
        f"\n  DIFFER {r['spec']} K={r['bound']} reorder={r['reorder']} loss={r['loss']}: {r['differences']}"
        for r in bad))
    print("seconds columns: the slowest spec of the configuration")


if __name__ == "__main__":
    main()
