"""``tcpcheck verify``: check the properties on the composed model."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import click

from tools.clikit import one_line_errors, progress, table


def _spec_option(values: tuple[str, ...]) -> dict[str, bool]:
    from model.errors import InputError

    out: dict[str, bool] = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep or value.lower() not in ("on", "off", "true", "false", "1", "0"):
            raise InputError("--option", f"{item!r} is not NAME=on or NAME=off (e.g. --option note3=off)")
        out[name] = value.lower() in ("on", "true", "1")
    return out


def summarise_space(space: Any) -> dict[str, Any]:
    """Per-endpoint reachable states, reachable state pairs, and channel use."""
    system = space.system
    names = {ep: system.vars[f["state"]].values for ep, f in system.endpoints.items()}
    ia, ib = system.endpoints["A"]["state"], system.endpoints["B"]["state"]
    pairs = sorted({(s[ia], s[ib]) for s in space.states})
    reach = {ep: sorted({s[f["state"]] for s in space.states}) for ep, f in system.endpoints.items()}
    occupancy = max(len(v.show(s)) for s in space.states for v in system.views.values())
    return {
        "reachable": {ep: [names[ep][i] for i in idx] for ep, idx in reach.items()},
        "pairs": [[names["A"][a], names["B"][b]] for a, b in pairs],
        "max_occupancy": occupancy,
        "terminal": len(space.terminal()),
    }


def format_trace(steps: list[Any]) -> str:
    """A counterexample as numbered lines: who did what, and where it left them."""
    rows = []
    for st in steps:
        chans = "  ".join(f"{ch}:[{' '.join(q)}]" for ch, q in st.channels.items())
        who = st.actor or "-"
        rows.append((st.step, who, st.action, st.states["A"], st.states["B"], chans))
    return table(("#", "who", "action", "A", "B", "in flight"), rows)


@click.command()
@click.option("--spec", "spec_path", type=click.Path(dir_okay=False), help="Spec TOML (default: the embedded RFC 9293 machine).")
@click.option("--properties", "props_path", type=click.Path(dir_okay=False), help="Properties TOML (default: the embedded set).")
@click.option("--bound", "-k", type=int, default=None, help="Channel capacity K (default 3; K >= 5 is exact without faults).")
@click.option("--reorder", is_flag=True, help="Channels may deliver in any order.")
@click.option("--loss", is_flag=True, help="Channels may lose segments (SYN and FIN are retransmitted).")
@click.option("--duplicate", is_flag=True, help="Channels may duplicate segments.")
@click.option("--option", "spec_options", multiple=True, metavar="NAME=on|off",
              help="Set a spec option, e.g. note3=off, rfc1337=on, implementation=on.")
@click.option("--property", "only", multiple=True, metavar="NAME", help="Check only this property (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout.")
@one_line_errors
def verify(
    spec_path: str | None,
    props_path: str | None,
    bound: int | None,
    reorder: bool,
    loss: bool,
    duplicate: bool,
    spec_options: tuple[str, ...],
    only: tuple[str, ...],
    as_json: bool,
) -> None:
    """Check every property on two endpoints joined by bounded channels.

    Exit status: 0 when every verdict equals its expectation, 1 otherwise,
    2 for bad input.
    """
    from model import ModelOptions, build_system, load_properties, load_spec
    from model.compose import DEFAULT_BOUND
    from model.errors import InputError
    from model.explicit import check, explore

    t0 = time.perf_counter()
    spec = load_spec(spec_path)
    props = load_properties(props_path)
    if only:
        known = {p.name for p in props}
        for name in only:
            if name not in known:
                raise InputError("--property", f"no property named {name!r}; known: {', '.join(sorted(known))}")
        props = [p for p in props if p.name in only]
    opts = ModelOptions(
        bound=DEFAULT_BOUND if bound is None else bound,
        reorder=reorder,
        loss=loss,
        duplicate=duplicate,
        spec_options=_spec_option(spec_options),
    )
    system = build_system(spec, opts)
    for p in props:  # type errors surface before a long search
        p.instances(system)
    space = explore(system, progress=lambda n: progress(f"explored {n} states..."))
    progress("")
    verdicts = [check(space, p) for p in props]
    seconds = time.perf_counter() - t0
    summary = summarise_space(space)
    ok = all(v.as_expected for v in verdicts)

    if as_json:
        out = {
            "model": {"spec": spec.path, **system.options},
            "stats": {
                "states": len(space.states),
                "transitions": space.transitions,
                "seconds": round(seconds, 4),
                "terminal_states": summary["terminal"],
                "max_occupancy": summary["max_occupancy"],
                "bound_reached": summary["max_occupancy"] >= opts.bound,
            },
            "reachable": summary["reachable"],
            "pairs": summary["pairs"],
            "properties": [v.to_json() for v in verdicts],
            "ok": ok,
        }
        click.echo(json.dumps(out, indent=2))
        sys.exit(0 if ok else 1)

    faults = [n for n, on in (("reorder", reorder), ("loss", loss), ("duplicate", duplicate)) if on]
    click.echo(
        f"model: {spec.path} | K={opts.bound} {'FIFO' if not reorder else 'reordering'}"
        f"{' + ' + ', '.join(faults) if faults else ''} | "
        + ", ".join(f"{k}={'on' if v else 'off'}" for k, v in opts.resolved(spec).items())
    )
    exact = "" if summary["max_occupancy"] >= opts.bound else " (bound never reached: exact for unbounded channels)"
    click.echo(
        f"explicit-state search: {len(space.states)} states, {space.transitions} transitions, "
        f"{space.seconds:.3f} s; channels held at most {summary['max_occupancy']} segments{exact}"
    )
    click.echo("")
    rows = []
    for v in verdicts:
        mark = "ok" if v.as_expected else "UNEXPECTED"
        verdict = v.verdict + (f" [{v.instance}]" if v.instance and v.verdict == "violated" else "")
        rows.append((v.name, v.expect, verdict, mark, f"{v.seconds:.3f}"))
    click.echo(table(("property", "expected", "verdict", "", "seconds"), rows))
    for v, p in zip(verdicts, props, strict=True):
        if v.verdict == "violated":
            click.echo("")
            click.echo(f"{v.name} violated{' for ' + v.instance if v.instance else ''}: {p.description}")
            if v.note:
                click.echo(f"  {v.note}")
            if v.counterexample:
                click.echo(format_trace(v.counterexample))
    click.echo("")
    bad = [v.name for v in verdicts if not v.as_expected]
    if bad:
        click.echo(f"{len(bad)} of {len(verdicts)} properties differ from their expectation: {', '.join(bad)}")
    else:
        click.echo(f"all {len(verdicts)} properties as expected ({seconds:.2f} s)")
    sys.exit(0 if ok else 1)
