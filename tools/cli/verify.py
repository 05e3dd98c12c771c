"""``tcpcheck verify``: check the properties on the composed model."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import click

from tcpcheck.tools.cli.kit import model_options, one_line_errors, progress, select_properties, table


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
@click.option("--spec", "spec_path", type=click.Path(dir_okay=False),
              help="Spec TOML (default: the embedded RFC 9293 machine).")
@click.option("--properties", "props_path", type=click.Path(dir_okay=False),
              help="Properties TOML (default: the embedded set).")
@click.option("--bound", "-k", type=int, default=None,
              help="Channel capacity K (default 3; K >= 5 is exact without faults).")
@click.option("--reorder", is_flag=True, help="Channels may deliver in any order.")
@click.option("--loss", is_flag=True, help="Channels may lose segments (SYN and FIN are retransmitted).")
@click.option("--duplicate", is_flag=True, help="Channels may duplicate segments.")
@click.option("--option", "spec_options", multiple=True, metavar="NAME=on|off",
              help="Set a spec option, e.g. note3=off, rfc1337=on, implementation=on.")
@click.option("--property", "only", multiple=True, metavar="NAME", help="Check only this property (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout.")
@click.option("--engine", type=click.Choice(["explicit", "z3", "both"]), default="explicit", show_default=True,
              help="explicit: BFS over every state; z3: BMC and inductive proofs; both: exit 3 if they differ.")
@click.option("--every-bound", is_flag=True,
              help="Also prove each invariant for every channel bound K at once (Z3 on the counter "
                   "abstraction of reordering channels; needs --reorder).")
@click.option("--draw", "draw_dir", type=click.Path(file_okay=False), metavar="DIR",
              help="Write each violated property's counterexample as a sequence chart DIR/NAME.svg.")
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
    engine: str,
    every_bound: bool,
    draw_dir: str | None,
) -> None:
    """Check every property on two endpoints joined by bounded channels.

    Exit status: 0 when every verdict equals its expectation, 1 otherwise,
    2 for bad input, 3 when the engines disagree (--engine both). The
    --every-bound proofs are reported beside the verdicts; an invariant they
    do not prove for every K leaves the exit status as it is.
    """
    from tcpcheck.model import build_system, load_properties, load_spec
    from tcpcheck.model.errors import InputError
    from tcpcheck.model.explicit import check, explore

    if every_bound and not reorder:
        raise InputError("--every-bound", "the counter abstraction is of reordering channels: add --reorder")
    t0 = time.perf_counter()
    spec = load_spec(spec_path)
    props = select_properties(load_properties(props_path), only)
    opts = model_options(spec, bound, reorder, loss, duplicate, spec_options)
    system = build_system(spec, opts, props)  # with the monitors the properties' past-time operators need
    for p in props:  # type errors surface before a long search
        p.instances(system)
    space: Any = None

    def explored() -> Any:
        nonlocal space
        if space is None:
            space = explore(system, progress=lambda n: progress(f"explored {n} states..."))
            progress("")
        return space

    explicit_verdicts = [check(explored(), p) for p in props] if engine in ("explicit", "both") else None
    z3_verdicts = None
    if engine in ("z3", "both"):
        from tcpcheck.model.symbolic import check_all as z3_check_all  # Z3 only when asked for

        z3_verdicts = z3_check_all(system, props, explicit_space=explored)
    every: list[Any] = []
    abstraction = ""
    if every_bound:
        from tcpcheck.model.symbolic import abstract_every_bound, prove_every_bound

        progress("proving the invariants for every channel bound...")
        every = prove_every_bound(system, [p for p in props if p.kind == "invariant"])
        # each verdict carries the abstraction it was proved on; build it only when none was asked for
        abstraction = every[0].extra["abstraction"] if every else abstract_every_bound(system).description
        progress("")
    verdicts = explicit_verdicts if explicit_verdicts is not None else z3_verdicts
    assert verdicts is not None
    disagree = []
    if explicit_verdicts is not None and z3_verdicts is not None:
        disagree = [(e, z) for e, z in zip(explicit_verdicts, z3_verdicts, strict=True)
                    if (e.verdict, e.instance if e.verdict == "violated" else "")
                    != (z.verdict, z.instance if z.verdict == "violated" else "")]
    seconds = time.perf_counter() - t0
    summary = summarise_space(space) if space is not None else None
    ok = all(v.as_expected for v in verdicts)
    drawn = _draw(verdicts, draw_dir) if draw_dir else []

    if as_json:
        props_json = []
        for n, v in enumerate(verdicts):
            row = v.to_json()
            if v.verdict == "violated" and v.counterexample:
                row["forbidden_next"] = _next_steps(system, props[n], v)
            if explicit_verdicts is not None and z3_verdicts is not None:
                row["engines"] = {e.engine: _engine_json(e) for e in (explicit_verdicts[n], z3_verdicts[n])}
            props_json.append(row)
        out: dict[str, Any] = {"model": {"spec": spec.path, **system.options}, "engine": engine}
        if summary is not None:
            out["stats"] = {
                "states": len(space.states),
                "transitions": space.transitions,
                "seconds": round(seconds, 4),
                "terminal_states": summary["terminal"],
                "max_occupancy": summary["max_occupancy"],
                "bound_reached": summary["max_occupancy"] >= opts.bound,
            }
            out["reachable"] = summary["reachable"]
            out["pairs"] = summary["pairs"]
        else:
            out["stats"] = {"seconds": round(seconds, 4)}
        out.update({"properties": props_json, "ok": ok and not disagree, "drawn": drawn})
        if every_bound:
            out["every_bound"] = {"abstraction": abstraction, "properties": [v.to_json() for v in every]}
        if disagree:
            out["disagreements"] = [{"name": e.name, "explicit": _engine_json(e), "z3": _engine_json(z)}
                                    for e, z in disagree]
        click.echo(json.dumps(out, indent=2))
        sys.exit(3 if disagree else 0 if ok else 1)

    faults = [n for n, on in (("reorder", reorder), ("loss", loss), ("duplicate", duplicate)) if on]
    click.echo(
        f"model: {spec.path} | K={opts.bound} {'FIFO' if not reorder else 'reordering'}"
        f"{' + ' + ', '.join(faults) if faults else ''} | "
        + ", ".join(f"{k}={'on' if v else 'off'}" for k, v in opts.resolved(spec).items())
    )
    if summary is not None:
        exact = "" if summary["max_occupancy"] >= opts.bound else " (bound never reached: exact for unbounded channels)"
        click.echo(
            f"explicit-state search: {len(space.states)} states, {space.transitions} transitions, "
            f"{space.seconds:.3f} s; channels held at most {summary['max_occupancy']} segments{exact}"
        )
    if z3_verdicts is not None:
        click.echo(f"z3: bounded model checking (shortest paths); proofs by a Houdini invariant, k-induction "
                   f"and IC3, {sum(v.seconds for v in z3_verdicts):.3f} s")
    click.echo("")
    rows: list[tuple[str, ...]] = []
    # With --engine both the rows are the explicit verdicts; the method
    # column is Z3's, read from its verdict on the same property.
    z3_by_name = {z.name: z for z in z3_verdicts or []}
    for v in verdicts:
        mark = "ok" if v.as_expected else "UNEXPECTED"
        verdict = v.verdict + (f" [{v.instance}]" if v.instance and v.verdict == "violated" else "")
        if engine == "explicit":
            rows.append((v.name, v.expect, verdict, mark, f"{v.seconds:.3f}"))
        else:
            z = z3_by_name.get(v.name, v)
            rows.append((v.name, v.expect, verdict, mark, _how(z), f"{z.seconds:.3f}"))
    headers = ("property", "expected", "verdict", "", "seconds")
    click.echo(table(headers if engine == "explicit" else (*headers[:4], "method (z3)", "seconds"), rows))
    for v, p in zip(verdicts, props, strict=True):
        if v.verdict == "violated":
            click.echo("")
            click.echo(f"{v.name} violated{' for ' + v.instance if v.instance else ''}: {p.description}")
            if v.note:
                click.echo(f"  {v.note}")
            if v.counterexample:
                click.echo(format_trace(v.counterexample))
                for step in _next_steps(system, p, v):
                    click.echo(f"   next, the step it forbids: {step}")
    if every_bound:
        click.echo("")
        click.echo(f"every channel bound at once ({abstraction}):")
        click.echo(table(("property", "for every K", "method (z3)", "seconds"),
                         [(v.name, _every(v), _how(v) if v.verdict == "holds" else "", f"{v.seconds:.3f}")
                          for v in every]))
    for path in drawn:
        click.echo(f"drew {path}")
    click.echo("")
    if disagree:
        click.echo(f"the engines disagree on {len(disagree)} properties:", err=True)
        for e, z in disagree:
            click.echo(f"  {e.name}: explicit says {_answer(e)}; z3 says {_answer(z)}", err=True)
        sys.exit(3)
    bad = [v.name for v in verdicts if not v.as_expected]
    if bad:
        click.echo(f"{len(bad)} of {len(verdicts)} properties differ from their expectation: {', '.join(bad)}")
    else:
        click.echo(f"all {len(verdicts)} properties as expected ({seconds:.2f} s)")
    sys.exit(0 if ok else 1)


def _next_steps(system: Any, prop: Any, v: Any) -> list[str]:
    """For a step property ("not X.can(c)"), the forbidden step enabled where the counterexample ends."""
    from tcpcheck.model.temporal import violating_steps

    aliases: dict[str, str] = next((a for label, a in prop.roles() if label == v.instance), {})
    return violating_steps(system, prop.tree, aliases, v.counterexample)


def _how(v: Any) -> str:
    """Method and bound, short: "k-induction k=1", "BMC depth 4"."""
    if not v.method:
        return ""
    if v.bound is None:
        return v.method.split(" (")[0]
    unit = "k" if "induct" in v.method else "depth"  # k-induction and inductive invariants
    return f"{v.method.split(' (')[0]} {unit}={v.bound}"


def _every(v: Any) -> str:
    """An every-bound verdict in words: a violation in the abstraction proves nothing for a given K."""
    return {"holds": "proved", "skipped": "skipped (does not apply with reordering)"}.get(v.verdict, "not proved")


def _answer(v: Any) -> str:
    text = v.verdict + (f" for {v.instance}" if v.instance and v.verdict == "violated" else "")
    return f"{text} ({v.method}{'' if v.bound is None else f', bound {v.bound}'})"


def _engine_json(v: Any) -> dict[str, Any]:
    return {"verdict": v.verdict, "instance": v.instance, "method": v.method, "bound": v.bound,
            "seconds": round(v.seconds, 6)}


def _draw(verdicts: list[Any], directory: str) -> list[str]:
    """One sequence chart per violated property with a counterexample."""
    from pathlib import Path

    from tcpcheck.tools.pictures.msc import write_trace_svg

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for v in verdicts:
        if v.verdict == "violated" and v.counterexample:
            path = out / f"{v.name}.svg"
            title = f"{v.name}: counterexample" + (f" for {v.instance}" if v.instance else "")
            write_trace_svg(v.counterexample, path, title)
            written.append(str(path))
    return written
