"""``tcpcheck verify``: check the properties on the composed model."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import click

from tcpcheck.tools.cli.kit import model_options, one_line_errors, select_properties, table


def summarise_space(space: Any) -> dict[str, Any]:
    """Per-endpoint reachable states, reachable state pairs, and channel use."""
    from tcpcheck.model import gcl

    system = space.system
    names = {ep: system.vars[f["state"]].values for ep, f in system.endpoints.items()}
    ia, ib = system.endpoints["A"]["state"], system.endpoints["B"]["state"]
    pairs = space.distinct([gcl.Ref(ia), gcl.Ref(ib)])
    reach = {ep: sorted({p[n] for p in pairs}) for n, ep in enumerate(("A", "B"))}
    occupancy = max(space.maximum(v.length()) for v in system.views.values())
    return {
        "reachable": {ep: [names[ep][i] for i in idx] for ep, idx in reach.items()},
        "pairs": [[names["A"][a], names["B"][b]] for a, b in pairs],
        "max_occupancy": occupancy,
        "terminal": space.terminal_count,
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
              help="Set a spec option, e.g. note3=off, rfc1337=on, implementation=on (the first screen "
                   "lists them with what they mean).")
@click.option("--property", "only", multiple=True, metavar="NAME", help="Check only this property (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout.")
@click.option("--engine", type=click.Choice(["explicit", "z3", "both"]), default="explicit", show_default=True,
              help="explicit: BFS over every state; z3: BMC and inductive proofs; both: exit 3 if they differ.")
@click.option("--every-bound", is_flag=True,
              help="Also prove each invariant for every channel bound K at once (Z3 on the counter "
                   "abstraction of reordering channels; needs --reorder).")
@click.option("--symmetry/--no-symmetry", default=True, show_default=True,
              help="Store one state per mirror pair (A<->B, AB<->BA) when the model is its own mirror image, "
                   "which the tool decides; verdicts and counterexample lengths are unchanged.")
@click.option("--por/--no-por", default=False, show_default=True,
              help="Partial-order reduction: follow only a stubborn subset of the moves that commute with the "
                   "rest and change nothing the checked properties read; verdicts and counterexample lengths are "
                   "unchanged (traces are recomputed by an unreduced search as deep as the one found). Off by "
                   "default: on this model it stores at most 0.4 % fewer states for 1.5 to 27 times the CPU time "
                   "(bench/por_bench.py).")
@click.option("--bitstate", is_flag=True,
              help="Supertrace: keep a few bits per state instead of the state (for spaces that do not fit). "
                   "NOT exhaustive: verdicts say so, with the probability of a missed state.")
@click.option("--bits", "log2_bits", type=click.IntRange(16, 40), default=31, show_default=True, metavar="N",
              help="With --bitstate: a table of 2**N bits.")
@click.option("--draw", "draw_dir", type=click.Path(file_okay=False), metavar="DIR",
              help="Write each violated property's counterexample as a sequence chart DIR/NAME.svg.")
@click.option("--max-states", type=click.IntRange(min=1), default=None, metavar="N",
              help="Stop the explicit search (exit 2) once it has stored N states (default: no limit).")
@click.option("--max-memory", "max_memory_text", default=None, metavar="SIZE",
              help="Stop (exit 2) once this process uses more than SIZE, e.g. 4G or 500M "
                   "(default: 3/4 of this machine's memory).")
@click.option("-v", "--verbose", is_flag=True,
              help="Also each property's description, the transitions each option adds or leaves out, and "
                   "the counterexamples of negative controls (properties meant to fail).")
@click.option("--timed", is_flag=True,
              help="The timed model (specs/timed.toml): incarnations, segment ages, MSL, TIME_WAIT and "
                   "retransmission timers; checks the properties stated with model = \"timed\".")
@click.option("--msl", type=int, default=None, help="Timed: the maximum segment lifetime in ticks.")
@click.option("--time-wait", "time_wait", type=int, default=None,
              help="Timed: ticks TIME_WAIT lasts (default 2 MSL).")
@click.option("--rto", type=int, default=None, help="Timed: the retransmission timeout in ticks.")
@click.option("--incarnations", type=int, default=None, help="Timed: connections opened on the same 4-tuple.")
@click.option("--losses", type=int, default=None, help="Timed: segments the network may lose in a run.")
@click.option("--sweep", "sweep_msl", default=None, metavar="MSL,MSL,...",
              help="Timed: for each MSL, the smallest TIME_WAIT for which every timed property holds.")
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
    symmetry: bool,
    por: bool,
    bitstate: bool,
    log2_bits: int,
    draw_dir: str | None,
    max_states: int | None,
    max_memory_text: str | None,
    verbose: bool,
    timed: bool = False,
    msl: int | None = None,
    time_wait: int | None = None,
    rto: int | None = None,
    incarnations: int | None = None,
    losses: int | None = None,
    sweep_msl: str | None = None,
) -> None:
    """Check every property on two endpoints joined by bounded channels.

    A property with expect = "violated" is a negative control: it is meant
    to fail, and its counterexample shows why (printed with -v).

    Exit status: 0 when every verdict equals its expectation, 1 otherwise,
    2 for bad input or a search stopped by --max-states or --max-memory,
    3 when the engines disagree (--engine both), 130 when interrupted. The
    --every-bound proofs are reported beside the verdicts; an invariant they
    do not prove for every K leaves the exit status as it is.
    """
    from tcpcheck.model import build_system, load_properties, load_spec
    from tcpcheck.model.errors import InputError, SearchLimit
    from tcpcheck.model.explicit import check, explore
    from tcpcheck.model.symmetry import find_mirror
    from tcpcheck.tools.cli.live import StatusLine, default_max_memory, parse_size

    if every_bound and not reorder:
        raise InputError("--every-bound", "the counter abstraction is of reordering channels: add --reorder")
    if por and (bitstate or timed or sweep_msl is not None):
        raise InputError("--por", "partial-order reduction is for the exhaustive untimed search: drop --por, "
                                  "or --bitstate / --timed")
    if bitstate and engine != "explicit":
        raise InputError("--bitstate", "a bitstate search is the explicit engine's: drop --engine or --bitstate")
    max_memory = parse_size(max_memory_text) if max_memory_text else default_max_memory()
    timed_values = {"--msl": msl, "--time-wait": time_wait, "--rto": rto, "--incarnations": incarnations,
                    "--losses": losses, "--sweep": sweep_msl}
    timed = timed or sweep_msl is not None
    if not timed and any(v is not None for v in timed_values.values()):
        name = next(k for k, v in timed_values.items() if v is not None)
        raise InputError(name, "is an option of the timed model: add --timed")
    t0 = time.perf_counter()
    spec = load_spec(spec_path)
    props = select_properties(load_properties(props_path, model="timed" if timed else "untimed"), only)
    opts: Any
    if timed:
        from tcpcheck.tools.cli.verify_timed import timed_system

        if bitstate:
            raise InputError("--bitstate", "the timed model has its own search: drop --bitstate or --timed")
        if reorder or loss or duplicate or every_bound:
            raise InputError("--timed", "the timed channels already reorder; set losses with --losses "
                                        "(--reorder, --loss, --duplicate and --every-bound are for the untimed model)")
        system, opts = timed_system(spec, bound, spec_options, msl, time_wait, rto, incarnations, losses)
        if sweep_msl is not None:
            from tcpcheck.tools.cli.verify_timed import run_sweep

            run_sweep(spec, opts, props, sweep_msl, as_json)
            return
    else:
        opts = model_options(spec, bound, reorder, loss, duplicate, spec_options)
        system = build_system(spec, opts, props)  # with the monitors the properties' past-time operators need
    for p in props:  # type errors surface before a long search
        p.instances(system)
        p.expected(system.options)
    if timed:  # the timed model has its own search (model/timed.py), with no mirror
        mirror, why_not = None, "the timed model"
    else:
        mirror, why_not = find_mirror(system) if symmetry else (None, "--no-symmetry")
    reduction: Any = None
    por_off = "--no-por" if not por else "the z3 engine searches no explicit space" if engine == "z3" else ""
    space: Any = None
    bits: Any = None
    status = StatusLine(max_memory=max_memory or None)

    def explored() -> Any:
        nonlocal space, reduction
        if space is None:
            if por and engine != "z3":
                from tcpcheck.model.por import partial_order

                status.say("partial-order reduction: the independence relation")
                reduction = partial_order(system, props, mirror)
            space = explore(system, progress=status.search, max_states=max_states, mirror=mirror, reduction=reduction,
                            record_edges=any(p.kind == "recoverable" and not p.skipped_by(system.options)
                                             for p in props))
        return space

    searched = None
    try:
        with status:
            explicit_verdicts: list[Any] | None = None
            if timed and engine in ("explicit", "both"):
                # every timed property is an invariant: a search that stops at the last violation
                from tcpcheck.tools.cli.verify_timed import search_verdicts

                status.say("searching the timed model")
                explicit_verdicts, searched = search_verdicts(system, props)
            elif bitstate:
                from tcpcheck.model.supertrace import supertrace

                bits = supertrace(system, props, log2_bits=log2_bits, mirror=mirror, progress=status.search)
                explicit_verdicts = bits.verdicts
            elif engine in ("explicit", "both"):
                explored()
                explicit_verdicts = []
                for n, p in enumerate(props, start=1):
                    status.say(f"checking {p.name} ({n} of {len(props)})")
                    explicit_verdicts.append(check(space, p))
            z3_verdicts = None
            if engine in ("z3", "both"):
                from tcpcheck.model.symbolic import Options as Z3Options
                from tcpcheck.model.symbolic import check_all as z3_check_all  # Z3 only when asked for

                # Timed counterexamples lie deeper (10 to 20 steps) and Houdini's pairs over the timed
                # model's 60 to 110 variables are costly: BMC goes deep before proofs are tried.
                # Like the explicit search, stop at an invariant's first violated instance. Each BMC
                # query a fresh, fully preprocessed solver (4.5x to 5.3x faster at MSL 1, bench/timed_z3_bench.py).
                z3_options = Z3Options(probe_depth=40, stall=40, ic3_seconds=60, any_instance=True,
                                       fresh_queries=True) if timed else None
                z3_verdicts = z3_check_all(system, props, z3_options, explicit_space=explored,
                                           progress=lambda text: status.say(f"z3: {text}"))
            every: list[Any] = []
            abstraction = ""
            if every_bound:
                from tcpcheck.model.symbolic import abstract_every_bound, prove_every_bound

                every = prove_every_bound(system, [p for p in props if p.kind == "invariant"],
                                          progress=lambda text: status.say(f"z3, every bound: {text}"))
                # each verdict carries the abstraction it was proved on; build it only when none was asked for
                abstraction = every[0].extra["abstraction"] if every else abstract_every_bound(system).description
    except SearchLimit as stop:
        raise InputError(*_limit_message(stop, opts)) from None
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
    drawn = _draw(verdicts, draw_dir, timed) if draw_dir else []

    if as_json:
        props_json = []
        for n, v in enumerate(verdicts):
            row = v.to_json()
            row["description"] = props[n].description
            if v.verdict == "violated" and v.counterexample:
                row["forbidden_next"] = _next_steps(system, props[n], v)
            if explicit_verdicts is not None and z3_verdicts is not None:
                row["engines"] = {e.engine: _engine_json(e) for e in (explicit_verdicts[n], z3_verdicts[n])}
            props_json.append(row)
        out: dict[str, Any] = {"model": {"spec": spec.path, "spec_name": spec_name(spec), **system.options},
                               "engine": engine}
        if bits is not None:
            out["stats"] = {**bits.stats, "seconds": round(seconds, 4), "search_seconds": bits.stats["seconds"]}
        elif summary is not None:
            out["stats"] = {
                **space.stats(),
                "seconds": round(seconds, 4),
                "search_seconds": round(space.seconds, 4),
                "terminal_states": summary["terminal"],
                "max_occupancy": summary["max_occupancy"],
                # under partial-order reduction a channel the stored states never fill may still fill
                "bound_reached": (summary["max_occupancy"] >= system.options["bound"]
                                  or (None if reduction is not None else False)),
            }
            out["reachable"] = summary["reachable"]
            out["pairs"] = summary["pairs"]
        else:
            out["stats"] = {"seconds": round(seconds, 4)}
            if searched is not None:
                out["stats"].update(searched)
        out["reductions"] = {"symmetry": _symmetry_json(space, mirror, why_not),
                             "partial_order": _por_json(space, reduction, por_off)}
        out.update({"properties": props_json, "ok": ok and not disagree, "drawn": drawn})
        if every_bound:
            out["every_bound"] = {"abstraction": abstraction, "properties": [v.to_json() for v in every]}
        if disagree:
            out["disagreements"] = [{"name": e.name, "explicit": _engine_json(e), "z3": _engine_json(z)}
                                    for e, z in disagree]
        click.echo(json.dumps(out, indent=2))
        sys.exit(3 if disagree else 0 if ok else 1)

    if timed:
        from tcpcheck.tools.cli.verify_timed import describe

        click.echo(describe(spec, system))
    else:
        for line in model_header(spec, opts, system.options, verbose):
            click.echo(line)
    if summary is not None:
        exact = ("" if summary["max_occupancy"] >= system.options["bound"]
                 else " in the states stored (partial-order reduced: the space may fill them)" if reduction
                 else " (bound never reached: exact for unbounded channels)")
        click.echo(
            f"explicit-state search: {space.count:,} states, {space.transitions:,} transitions, "
            f"{space.seconds:.3f} s; channels held at most {summary['max_occupancy']} segments{exact}"
        )
        click.echo(f"state store: {_size(space.store.nbytes)}, {space.store.nbytes / max(1, space.count):.1f} "
                   f"bytes per stored state ({space.layout.bits} bits packed in {space.layout.words} word"
                   f"{'s' if space.layout.words > 1 else ''})")
    if searched is not None:
        click.echo(f"explicit-state search: {searched['states']:,} states, {searched['transitions']:,} transitions, "
                   f"{searched['seconds']:.3f} s"
                   + ("" if searched["exhaustive"] else " (stopped once every property was violated)"))
    if bits is not None:
        b = bits.stats["bitstate"]
        click.echo(f"bitstate search, NOT exhaustive: {bits.stats['states']} states, {bits.stats['transitions']} "
                   f"transitions, {bits.stats['seconds']:.3f} s; 2**{log2_bits} bits ({_size(b['bytes'])}), "
                   f"{b['hash_functions']} hash functions, hash factor {b['hash_factor']}; probability a state "
                   f"was missed {b['omission_probability']:.2e}, expected states missed {b['expected_omissions']:.2e}")
    if engine != "z3" or space is not None:
        sym = _symmetry_json(space, mirror, why_not)
        click.echo("symmetry: " + (f"{sym['mirror']}: {sym['stored']} states stored for {sym['reachable']} "
                                   f"reachable ({sym['factor']}x fewer)" if sym["applied"] and "reachable" in sym
                                   else f"{sym['mirror']}: {sym['stored']} states stored (with partial-order "
                                        "reduction)" if sym["applied"] and "stored" in sym
                                   else f"{sym['mirror']}" if sym["applied"] else f"off ({sym['reason']})"))
        click.echo("partial-order reduction: " + _por_text(_por_json(space, reduction, por_off)))
    if z3_verdicts is not None:
        click.echo(f"z3: bounded model checking (shortest paths); proofs by a Houdini invariant, k-induction "
                   f"and IC3, {sum(v.seconds for v in z3_verdicts):.3f} s")
    click.echo("")
    click.echo(verdict_table(verdicts, props, system.options, engine, z3_verdicts, verbose))
    for v, p in zip(verdicts, props, strict=True):
        if v.verdict == "violated" and v.as_expected:
            click.echo("")
            where = f" for {v.instance}" if v.instance else ""
            click.echo(f"{v.name}: violated{where}, as expected. It is a negative control, meant to fail:")
            click.echo(f"  {p.description}")
            if not verbose:
                steps = f" ({len(v.counterexample) - 1} steps)" if v.counterexample else ""
                click.echo(f"  Its counterexample{steps} is printed with -v.")
                continue
        elif v.verdict == "violated":
            click.echo("")
            click.echo(f"{v.name} violated{' for ' + v.instance if v.instance else ''}: {p.description}")
        elif not v.as_expected:
            click.echo("")
            click.echo(f"{v.name} {v.verdict}, but it is expected to be {v.expect}: {p.description}")
            continue
        else:
            continue
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
        controls = sum(1 for v in verdicts if v.verdict == "violated")
        meant = f" ({controls} of them {'a negative control' if controls == 1 else 'negative controls'}, " \
                "violated as meant)" if controls else ""
        click.echo(f"all {len(verdicts)} properties as expected in {seconds:.2f} s{meant}")
    sys.exit(0 if ok else 1)


def _next_steps(system: Any, prop: Any, v: Any) -> list[str]:
    """For a step property ("not X.can(c)"), the forbidden step enabled where the counterexample ends."""
    from tcpcheck.model.temporal import violating_steps

    aliases: dict[str, str] = next((a for label, a in prop.roles() if label == v.instance), {})
    return violating_steps(system, prop.tree, aliases, v.counterexample)


def spec_name(spec: Any) -> str:
    """``embedded RFC 9293 spec`` for the spec shipped with the package, else the path as given."""
    from pathlib import Path

    from tcpcheck.model.spec import default_spec_path

    if Path(spec.path).resolve() == default_spec_path().resolve():
        return f"embedded {spec.reference} spec"
    return spec.path


def model_header(spec: Any, opts: Any, options: dict[str, Any], verbose: bool) -> list[str]:
    """The first lines of the screen: what was checked, and every option in force with what it means."""
    channels = "reordering" if opts.reorder else "FIFO"
    faults = [f"{'' if on else 'no '}{name}" for name, on in (("loss", opts.loss), ("duplication", opts.duplicate))]
    lines = [
        f"model: {spec_name(spec)} ({spec.name}), two endpoints A and B",
        f"network: a channel each way holding at most K={opts.bound} segments, {channels}, {', '.join(faults)}"
        " (--bound, --reorder, --loss, --duplicate)",
        "spec options in force (change with --option NAME=on|off):",
    ]
    rows = []
    for name, value in spec.options.items():
        on = bool(options.get(name, value))
        added = [t.id for t in spec.transitions if t.option == name]
        removed = [t.id for t in spec.transitions if t.unless == name]
        kept, dropped = (added, removed) if on else (removed, added)
        effect = [f"{_some(kept)} in the model"] if kept else []
        effect += [f"{_some(dropped)} left out"] if dropped else []
        text = spec.option_help.get(name, "") + (f" ({'on' if on else 'off'}: {'; '.join(effect)})" if effect else "")
        listed = [f"in the model: {t}" for t in kept] + [f"left out: {t}" for t in dropped]
        rows.append((f"  {name}={'on' if on else 'off'}", text, listed if verbose else []))
    width = max((len(r[0]) for r in rows), default=0)
    for setting, text, listed in rows:
        lines.append(f"{setting.ljust(width)}  {text}".rstrip())
        lines += [" " * (width + 4) + item for item in listed]
    return lines


def _some(ids: list[str]) -> str:
    """One transition by its id, several by their number (-v lists them)."""
    return ids[0] if len(ids) == 1 else f"{len(ids)} transitions"


def verdict_table(verdicts: list[Any], props: list[Any], options: dict[str, Any], engine: str,
                  z3_verdicts: list[Any] | None, verbose: bool) -> str:
    """One row per property: expected verdict (and the option that sets it), verdict, whether it
    is as expected, how it was decided, time, and with ``verbose`` the property's description."""
    rows: list[tuple[str, ...]] = []
    # With --engine both the rows are the explicit verdicts; the method
    # column is Z3's, read from its verdict on the same property.
    z3_by_name = {z.name: z for z in z3_verdicts or []}
    for v, p in zip(verdicts, props, strict=True):
        expected = v.expect
        setting = next((f"{name}={'on' if value else 'off'}" for name, value, verdict in p.expect_with
                        if bool(options.get(name)) == value and verdict == v.expect), "")
        if setting:
            expected += f" ({setting})"
        if not v.as_expected:
            mark = "UNEXPECTED"
        elif v.verdict == "violated":
            mark = "ok: meant to fail"
        else:
            mark = "ok"
        verdict = v.verdict + (f" [{v.instance}]" if v.instance and v.verdict == "violated" else "")
        row: tuple[str, ...] = (v.name, expected, verdict, mark)
        if engine != "explicit":
            row += (_how(z3_by_name.get(v.name, v)),)
        row += (f"{z3_by_name.get(v.name, v).seconds:.3f}",)
        if verbose:
            row += (p.description,)
        rows.append(row)
    headers: tuple[str, ...] = ("property", "expected", "verdict", "result")
    if engine != "explicit":
        headers += ("method (z3)",)
    headers += ("seconds",)
    if verbose:
        headers += ("description",)
    return table(headers, rows)


def _limit_message(stop: Any, opts: Any) -> tuple[str, str]:
    """(where, message) for a search stopped at --max-states or --max-memory: how far it got, what to try."""
    from tcpcheck.tools.cli.live import human_bytes

    if stop.limit == "states":
        where, larger = f"--max-states {stop.value}", "a larger --max-states"
    else:
        where, larger = f"--max-memory {human_bytes(stop.value)}", "a larger --max-memory"
    reached = f"at {stop.states:,} states" if stop.states else ""
    faults = [f for f, on in (("--reorder", opts.reorder), ("--loss", opts.loss), ("--duplicate", opts.duplicate))
              if on]
    tries = [f"a smaller --bound (now {opts.bound})"] + ([f"fewer faults ({' '.join(faults)})"] if faults else [])
    return where, (f"the search stopped {reached} after {stop.seconds:.1f} s, before covering the model; "
                   f"try {', '.join(tries)} or {larger}").replace("stopped  after", "stopped after")
def _size(n: int) -> str:
    return f"{n / 2**20:.1f} MiB" if n >= 2**20 else f"{n / 2**10:.1f} KiB"


def _symmetry_json(space: Any, mirror: Any, why_not: str) -> dict[str, Any]:
    """What the symmetry reduction did: applied or why not, and states stored against reachable."""
    if mirror is None:
        return {"applied": False, "reason": why_not}
    out: dict[str, Any] = {"applied": True, "mirror": mirror.describe()}
    if space is not None and space.reduction is not None:
        out["stored"] = space.count  # the unreduced count is not known under partial-order reduction
    elif space is not None:
        reachable = space.full_count()
        out.update({"stored": space.count, "reachable": reachable, "factor": round(reachable / space.count, 2)})
    return out


def _por_json(space: Any, reduction: Any, why_not: str) -> dict[str, Any]:
    """What the partial-order reduction did: applied or why not, and its counts."""
    if reduction is None:
        return {"applied": False, "reason": why_not}
    out: dict[str, Any] = {"applied": True}
    if space is not None:
        out.update({"stored": space.count, **space.reduction_stats()})
    else:
        out["method"] = reduction.describe()
    return out


def _por_text(por: dict[str, Any]) -> str:
    if not por["applied"]:
        return f"off ({por['reason']})"
    if "stored" not in por:
        return por["method"]
    traces = ("" if por["unreduced_trace_states"] is None
              else f"; shortest traces from an unreduced search of {por['unreduced_trace_states']:,} states")
    return (f"{por['method']}: {por['stored']:,} states stored, {por['reduced_states']:,} expanded with a "
            f"reduced set ({por['proviso_states']:,} fully by the cycle proviso), {por['pruned_transitions']:,} "
            f"transitions not followed{traces}")


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


def _draw(verdicts: list[Any], directory: str, timed: bool = False) -> list[str]:
    """One sequence chart per violated property with a counterexample."""
    from pathlib import Path

    from tcpcheck.tools.outputs import safe_name
    from tcpcheck.tools.pictures.msc import write_trace_svg
    from tcpcheck.tools.pictures.timed_chart import write_timed_trace_svg

    out = Path(directory)
    written = []
    for v in verdicts:
        if v.verdict == "violated" and v.counterexample:
            path = out / safe_name(v.name, ".svg")
            title = f"{v.name}: counterexample" + (f" for {v.instance}" if v.instance else "")
            (write_timed_trace_svg if timed else write_trace_svg)(v.counterexample, path, title)
            written.append(str(path))
    return written
