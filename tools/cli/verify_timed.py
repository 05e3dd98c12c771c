"""``tcpcheck verify --timed``: the timed model's system, header and sweep."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

import click

from tcpcheck.model.errors import InputError
from tcpcheck.tools.cli.kit import model_options, table


def timed_system(spec: Any, bound: int | None, spec_options: Sequence[str], msl: int | None,
                 time_wait: int | None, rto: int | None, incarnations: int | None,
                 losses: int | None) -> tuple[Any, Any]:
    """The timed system and its options, from command-line values (validated: bad ones exit 2)."""
    from tcpcheck.model.timed import TIME_WAIT_TIMER, TimedOptions, build_timed_system, load_timed

    parsed = model_options(spec, None, False, False, False, spec_options).spec_options
    tspec = load_timed(spec)
    opts = TimedOptions(msl, rto, incarnations, losses, bound,
                        {} if time_wait is None else {TIME_WAIT_TIMER: time_wait}, parsed)
    return build_timed_system(spec, tspec, opts), opts


def describe(spec: Any, system: Any) -> str:
    """The header line: spec, and every value the timed model was built with."""
    o = system.options
    timers = ", ".join(f"{k[:-len('_ticks')]}={v}" for k, v in o.items() if str(k).endswith("_ticks"))
    flags = ", ".join(f"{k}={'on' if v else 'off'}" for k, v in o.items() if k in spec.options)
    return (f"timed model: {spec.path} | MSL={o['msl']} ticks, timers (ticks): {timers}, "
            f"{o['incarnations']} incarnations, up to {o['losses']} losses, K={o['bound']} | {flags}")


def parse_msls(text: str) -> list[int]:
    """``1,2,3`` -> [1, 2, 3]; anything else is bad input."""
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise InputError("--sweep", f"{text!r} is not a comma-separated list of MSL values in ticks (e.g. 1,2,3)"
                         ) from None
    if not values or any(v < 1 for v in values):
        raise InputError("--sweep", f"MSL values are at least 1 tick, not {text!r}")
    return values


def run_sweep(spec: Any, opts: Any, props: list[Any], msls_text: str, as_json: bool) -> None:
    """Print the smallest TIME_WAIT per MSL; exit 0 when one was found for each."""
    from tcpcheck.model.timed import load_timed, sweep_time_wait
    from tcpcheck.tools.cli.live import StatusLine

    msls = parse_msls(msls_text)
    with StatusLine() as status:
        rows = sweep_time_wait(spec, load_timed(spec), opts, msls, props, status.say)
    ok = all(r["smallest_time_wait"] is not None for r in rows)
    if as_json:
        click.echo(json.dumps({"sweep": rows, "properties": [p.name for p in props], "ok": ok}, indent=2))
        sys.exit(0 if ok else 1)
    out = []
    for r in rows:
        best = r["smallest_time_wait"]
        fails = "; ".join(f"{t['time_wait']}: {', '.join(t['violated'])}" for t in r["tried"] if t["violated"])
        out.append((r["msl"], "none found" if best is None else best,
                    "" if best is None else f"{best / r['msl']:.2f}", fails))
    click.echo(f"smallest TIME_WAIT for which {', '.join(p.name for p in props)} hold:")
    click.echo(table(("MSL", "TIME_WAIT", "in MSL", "shorter ones violate"), out))
    sys.exit(0 if ok else 1)


def search_verdicts(system: Any, props: list[Any]) -> tuple[list[Any], dict[str, Any]]:
    """Explicit verdicts on the timed model by a search that stops at the last violation."""
    import time

    from tcpcheck.model.results import Verdict
    from tcpcheck.model.timed import first_violations

    not_invariant = [p.name for p in props if p.kind != "invariant"]
    if not_invariant:
        raise InputError("--timed", f"the timed model checks invariants only; {not_invariant[0]!r} is not one")
    t0 = time.perf_counter()
    found = first_violations(system, props)
    seconds = time.perf_counter() - t0
    exhaustive = len(found.violated) < len(props)
    verdicts = []
    for p in props:
        v = Verdict(p.name, p.kind, p.expect, "holds", "explicit", method="exhaustive BFS",
                    extra={"states": found.states})
        if p.name in found.violated:
            v.verdict, (v.instance, v.counterexample) = "violated", found.violated[p.name]
            v.method, v.bound = "BFS", len(v.counterexample) - 1
            v.note = f"shortest counterexample: {v.bound} steps"
        v.seconds = seconds / len(props)
        verdicts.append(v)
    return verdicts, {"states": found.states, "transitions": found.transitions, "seconds": round(seconds, 4),
                      "exhaustive": exhaustive}
