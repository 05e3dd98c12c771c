"""The timed model (``tcpcheck verify --timed``): size and cost per configuration, both engines.

Each configuration runs in its own process (peak memory is its own): the
explicit engine's full search (states, transitions, seconds, peak RSS), the
search that stops at the last violation (what ``verify --timed`` runs), and
optionally Z3's bounded model checking to each counterexample, with the time
of each relative to the explicit search measured in the same run. Targets of
issue 11: the default configuration decided by the explicit engine in under
30 s and 1 GiB; the counterexample without TIME_WAIT found by Z3 in under 60 s.

    python bench/timed_bench.py [--cap SECONDS] [--z3]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

MUTANT = str(Path(__file__).resolve().parents[1] / "tests" / "mutants" / "timed" / "no_time_wait.toml")

CHILD = """
import json, resource, sys, time
from tcpcheck.model import load_properties, load_spec
from tcpcheck.model.timed import TimedOptions, build_timed_system, first_violations, load_timed
spec_path, kw, engine = sys.argv[1] or None, json.loads(sys.argv[2]), sys.argv[3]
spec = load_spec(spec_path)
system = build_timed_system(spec, load_timed(spec), TimedOptions(**kw))
props = load_properties(model="timed")
out = {"vars": len(system.vars), "commands": len(system.commands)}
t0 = time.perf_counter()
if engine == "explicit":
    from tcpcheck.model.explicit import check, explore
    space = explore(system)
    out.update(states=len(space.states), transitions=space.transitions,
               verdicts={p.name: check(space, p).verdict for p in props})
elif engine == "search":
    found = first_violations(system, props)
    out.update(states=found.states, transitions=found.transitions,
               violated={k: len(v[1]) - 1 for k, v in found.violated.items()})
else:
    from tcpcheck.model.symbolic import Options, check_all
    # as verify --timed runs it: first violated instance, each BMC query a fresh solver
    vs = check_all(system, props, Options(ic3_seconds=0, probe_depth=60, stall=60, max_depth=40, any_instance=True,
                                          fresh_queries=True))
    out.update(verdicts={v.name: [v.verdict, v.bound] for v in vs})
out["seconds"] = time.perf_counter() - t0
out["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
print(json.dumps(out))
"""

Config = tuple[str, str, dict[str, object]]

CONFIGS: list[Config] = [
    ("default (MSL 2, TIME_WAIT 4)", "", {}),
    ("MSL 1, TIME_WAIT 2", "", {"msl": 1}),
    ("MSL 3, TIME_WAIT 6", "", {"msl": 3}),
    ("no TIME_WAIT (mutant)", MUTANT, {}),
    ("TIME_WAIT 2 (too short)", "", {"durations": {"time_wait": 2}}),
    ("TIME_WAIT 0 (fires at once)", "", {"durations": {"time_wait": 0}}),
]
Z3_CONFIGS: list[Config] = [
    ("no TIME_WAIT, MSL 1, 1 incarnation", MUTANT, {"msl": 1, "incarnations": 1}),
    ("TIME_WAIT 0, MSL 1, 1 incarnation", "", {"msl": 1, "incarnations": 1, "durations": {"time_wait": 0}}),
    ("no TIME_WAIT, MSL 1", MUTANT, {"msl": 1}),
    ("no TIME_WAIT (mutant, shipped MSL 2)", MUTANT, {}),
]


def run(spec: str, kw: dict[str, object], engine: str, cap: float) -> dict[str, Any] | None:
    try:
        out = subprocess.run([sys.executable, "-c", CHILD, spec, json.dumps(kw), engine], capture_output=True,
                             text=True, timeout=cap, check=True)
    except subprocess.TimeoutExpired:
        return None
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cap", type=float, default=300.0, help="seconds allowed per measurement")
    ap.add_argument("--z3", action="store_true", help="also time Z3's BMC to the counterexamples")
    args = ap.parse_args()
    print(f"{'configuration':36} {'engine':9} {'vars':>5} {'cmds':>5} {'states':>8} {'trans':>9} "
          f"{'seconds':>8} {'MB':>6}  result")
    for name, spec, kw in CONFIGS:
        for engine in ("explicit", "search"):
            r = run(spec, kw, engine, args.cap)
            if r is None:
                print(f"{name:36} {engine:9} over {args.cap:.0f} s")
                continue
            result = r.get("verdicts") or r.get("violated") or "all hold"
            print(f"{name:36} {engine:9} {r['vars']:>5} {r['commands']:>5} {r['states']:>8} {r['transitions']:>9} "
                  f"{r['seconds']:>8.2f} {r['rss_mb']:>6}  {result}")
    if not args.z3:
        return
    print()
    for name, spec, kw in Z3_CONFIGS:
        base = run(spec, kw, "search", args.cap)
        r = run(spec, kw, "z3", args.cap)
        if r is None or base is None:
            print(f"{name:36} z3        over {args.cap:.0f} s")
            continue
        ratio = r["seconds"] / max(base["seconds"], 1e-9)
        print(f"{name:36} z3        {r['vars']:>5} {r['commands']:>5} {'':>8} {'':>9} {r['seconds']:>8.2f} "
              f"{r['rss_mb']:>6}  {r['verdicts']} ({ratio:.0f}x the explicit search; explicit: {base['violated']})")


if __name__ == "__main__":
    main()
