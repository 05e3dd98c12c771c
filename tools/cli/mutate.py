"""``tcpcheck mutate``: how many faulty machines the suites kill and the
properties catch."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click

from tcpcheck.tools.cli.kit import one_line_errors, table
from tcpcheck.tools.cli.live import progress_bar

CRITERIA = ("states", "transitions", "pairs", "w", "wp", "tour")
OPERATORS = ("retarget", "remove", "drop_send", "change_send", "add_send")


@click.command()
@click.option("--spec", "spec_path", type=click.Path(dir_okay=False),
              help="The spec to mutate (default: the embedded RFC 9293 machine).")
@click.option("--properties", "props_path", type=click.Path(dir_okay=False),
              help="Properties TOML (default: the embedded set).")
@click.option("--criterion", "criteria", multiple=True, type=click.Choice(CRITERIA),
              help="Run only this suite (repeatable; default: all six).")
@click.option("--operator", "operators", multiple=True, type=click.Choice(OPERATORS),
              help="Make only this kind of mutant (repeatable; default: all five).")
@click.option("--transition", "transitions", multiple=True, metavar="ID",
              help="Mutate only this transition (repeatable; ids are FROM--event-->TO).")
@click.option("--extra-states", type=click.IntRange(0, 3), default=1, show_default=True,
              help="Extra implementation states the W and Wp suites are built for.")
@click.option("--no-properties", is_flag=True, help="Measure the suites only (skip the property checks).")
@click.option("--configurations", "tier", type=click.Choice(["quick", "full"]), default="quick", show_default=True,
              help="Where properties are checked: quick (Linux profile, default, loss with K=1, implementation "
                   "with loss and K=1, and reordering with K=2 for the mutants of a transition that fires in "
                   "none of those) or full (reordering with K=2 for every mutant, rfc1337, duplication and loss "
                   "with K=2; several times slower).")
@click.option("--every-scenario", is_flag=True,
              help="Run every scenario against every mutant, not only those that fire the mutated transition.")
@click.option("-j", "--jobs", type=click.IntRange(1, 64), default=min(2, os.cpu_count() or 1), show_default=True,
              help="Worker processes.")
@click.option("--write", "write_dir", type=click.Path(file_okay=False), metavar="DIR",
              help="Write the mutants no suite kills and no property catches as mutant files DIR/NAME.toml.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout.")
@one_line_errors
def mutate(spec_path: str | None, props_path: str | None, criteria: tuple[str, ...], operators: tuple[str, ...],
           transitions: tuple[str, ...], extra_states: int, no_properties: bool, tier: str, every_scenario: bool,
           jobs: int, write_dir: str | None, as_json: bool) -> None:
    """Mutation analysis: every systematic mutant of the spec (each
    transition retargeted, removed, each send dropped or changed, a send
    added where there is none) against every generated suite, run on the
    model stack, and against the properties.

    Prints, per suite, the mutants it kills out of those some drivable walk
    can tell from the spec (the mutation score); how many the properties
    catch; and the mutants neither catches, with the reason. Exit status 0
    when the W and Wp suites kill every mutant that can be told apart
    (their guarantee), 1 otherwise, 2 for bad input.
    """
    from tcpcheck.model.errors import InputError
    from tcpcheck.model.mutation import systematic_mutants
    from tcpcheck.model.properties import load_properties
    from tcpcheck.model.spec import load_spec, read_toml
    from tcpcheck.tools.mutate.analysis import analyse, summary
    from tcpcheck.tools.mutate.catch import CONFIGURATIONS
    from tcpcheck.tools.mutate.report import text, to_json

    spec = load_spec(spec_path)
    if write_dir and spec_path and "mutant" in read_toml(Path(spec_path))[0]:
        raise InputError("--write", f"{spec_path} is a mutant file; mutate its base spec to write mutants of it")
    props = None if no_properties else tuple(load_properties(props_path))
    mutants = systematic_mutants(spec, operators or OPERATORS)
    if transitions:
        known = {t.id for t in spec.transitions}
        for tid in transitions:
            if tid not in known:
                raise InputError("--transition", f"no transition {tid!r} in {spec.path}; ids look like "
                                 f"{spec.transitions[0].id}")
        mutants = [m for m in mutants if m.transition in transitions]
    total = len(mutants)

    with progress_bar(total, "tcpcheck mutate") as advance:

        def tick(n: int, result: Any) -> None:
            advance(result.mutant.name)

        try:
            analysis = analyse(spec, mutants, props, tuple(criteria) or CRITERIA, extra_states, jobs,
                               every_scenario, CONFIGURATIONS[tier], on_result=tick)
        except ValueError as exc:
            raise InputError(spec.path, str(exc)) from None
    written = _write(write_dir, [r.mutant for r in analysis.neither()], spec_path) if write_dir else []
    if as_json:
        doc = to_json(analysis)
        doc["written"] = written
        click.echo(json.dumps(doc, indent=2))
    else:
        for line in text(analysis, table):
            click.echo(line)
        if written:
            click.echo(f"wrote {len(written)} mutant files into {os.path.abspath(str(write_dir))}")
    raise SystemExit(0 if summary(analysis)["complete_suites_kill_all"] else 1)


def _write(directory: str, mutants: list[Any], spec_path: str | None) -> list[str]:
    """Each mutant as DIR/NAME.toml, each file written whole or not at all;
    its base is the spec mutated (a path relative to DIR, or the embedded one)."""
    from tcpcheck.tools.outputs import safe_name, write_files

    out = Path(directory)
    base = os.path.relpath(Path(spec_path).resolve(), out.resolve()) if spec_path else "embedded"
    files = {safe_name(mutant.name, ".toml"): mutant.to_toml(base) for mutant in mutants}
    write_files(out, files)
    return list(files)
