"""What the properties of specs/properties.toml cost and catch, beside the set they replaced.

For each configuration of specs/properties.toml: the embedded spec's
reachable states, how many of its transitions fire, the time to explore,
the time to check the 22 properties the file had before issue 20 and all
of them now, side by side with their ratio, and peak memory (RSS of this
process so far: configurations run smallest first). With ``--mutants``,
how many of the mutants of tests/mutants/ each property set tells from the
spec there, and then in some configuration. An equivalent mutant
(``equivalent = true``) counts as right when nothing flags it.

    python bench/properties_bench.py [--configs default,loss] [--mutants]
"""

from __future__ import annotations

import argparse
import resource
import time
import tomllib
from pathlib import Path

from tcpcheck.model import build_system, load_spec
from tcpcheck.model.coverage import fired
from tcpcheck.model.explicit import StateSpace, check, explore
from tcpcheck.model.properties import Configuration, Property, load_property_file

ROOT = Path(__file__).resolve().parents[1]
# The property file before issue 20 (time_wait_active_closer's escape clause
# is now "aborted" where it was "sent_rst").
BEFORE = {f"reach_{s}" for s in ("CLOSED", "LISTEN", "SYN_SENT", "SYN_RCVD", "ESTABLISHED", "FIN_WAIT_1",
                                 "FIN_WAIT_2", "CLOSE_WAIT", "CLOSING", "LAST_ACK", "TIME_WAIT")} | {
    "time_wait_naive", "time_wait_active_closer", "closing_only_simultaneous", "close_wait_passive_closer",
    "half_close_reachable", "half_close_only_pair", "established_pair_reachable", "established_iff_quiescent",
    "no_deadlock", "graceful_close_possible", "listen_only_passive"}


def explore_config(spec_path: Path | None, config: Configuration, props: list[Property]) -> tuple[StateSpace, float]:
    t0 = time.perf_counter()
    space = explore(build_system(load_spec(spec_path), config.model_options(), props))
    return space, time.perf_counter() - t0


def broken(space: StateSpace, props: list[Property]) -> tuple[set[str], float]:
    """The properties whose verdict differs from their expectation, and the seconds to check them."""
    t0 = time.perf_counter()
    out = {p.name for p in props if not check(space, p).as_expected}
    return out, time.perf_counter() - t0


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--configs", default="", help="comma-separated configuration names (default: all)")
    ap.add_argument("--mutants", action="store_true", help="also check every mutant in every configuration (slow)")
    args = ap.parse_args()
    pf = load_property_file()
    props = list(pf.properties)
    before = [p for p in props if p.name in BEFORE]
    configs = [c for c in pf.configurations if not args.configs or c.name in args.configs.split(",")]
    spec = load_spec()
    mutants = sorted((ROOT / "tests" / "mutants").glob("*.toml"))
    equivalent = {m.stem for m in mutants if tomllib.loads(m.read_text())["mutant"].get("equivalent")}
    print(f"{len(props)} properties ({len(before)} before issue 20), {len(pf.requirements)} requirements "
          f"({sum(bool(r.properties) for r in pf.requirements)} stated by properties), {len(mutants)} mutants "
          f"({len(equivalent)} equivalent)")
    print(f"{'configuration':<15} {'states':>8} {'fired':>7} {'explore s':>9} {'check22 s':>9} "
          f"{'check s':>8} {'ratio':>6} {'peak MiB':>8}" + ("  caught before/now" if args.mutants else ""))
    flagged: dict[str, dict[str, bool]] = {"before": {}, "now": {}}
    for c in configs:
        space, t_explore = explore_config(None, c, props)
        old, t_old = broken(space, before)
        new, t_new = broken(space, props)
        assert not old and not new, f"the embedded spec breaks {sorted(old | new)} in {c.name}"
        row = (f"{c.name:<15} {len(space.states):>8} {len(fired(space)):>3}/{len(spec.transitions):<3} "
               f"{t_explore:>9.2f} {t_old:>9.2f} {t_new:>8.2f} {t_new / t_old:>5.1f}x {peak_mib():>8.1f}")
        if args.mutants:
            right = {"before": 0, "now": 0}
            for m in mutants:
                mspace, _ = explore_config(m, c, props)
                for label, subset in (("before", before), ("now", props)):
                    hit = bool(broken(mspace, subset)[0])
                    right[label] += hit != (m.stem in equivalent)
                    flagged[label][m.stem] = flagged[label].get(m.stem, False) or hit
            row += f"  {right['before']}/{len(mutants)} {right['now']}/{len(mutants)}"
        print(row, flush=True)
    if args.mutants:
        real = len(mutants) - len(equivalent)
        for label in ("before", "now"):
            missed = sorted(n for n, hit in flagged[label].items() if not hit and n not in equivalent)
            false = sorted(n for n, hit in flagged[label].items() if hit and n in equivalent)
            print(f"{label:>6}: caught in some configuration {real - len(missed)} of {real} non-equivalent mutants"
                  + (f"; missed: {', '.join(missed)}" if missed else "")
                  + f"; equivalent ones flagged: {', '.join(false) if false else 'none'}")


if __name__ == "__main__":
    main()
