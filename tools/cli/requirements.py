"""``tcpcheck requirements``: RFC 9293's requirements, the properties that state them, and their verdicts."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from tcpcheck.tools.cli.kit import one_line_errors
from tcpcheck.tools.cli.live import progress_bar


@click.command()
@click.option("--spec", "spec_path", type=click.Path(dir_okay=False),
              help="Spec TOML (default: the embedded RFC 9293 machine).")
@click.option("--properties", "props_path", type=click.Path(dir_okay=False),
              help="Properties TOML with [[requirement]] and [[configuration]] tables (default: the embedded set).")
@click.option("-o", "--output", "out_path", type=click.Path(dir_okay=False), metavar="FILE",
              help="Write the Markdown here (default: standard output).")
@click.option("--check", is_flag=True, help="Write nothing; exit 1 if FILE (-o) differs from what would be written.")
@one_line_errors
def requirements(spec_path: str | None, props_path: str | None, out_path: str | None, check: bool) -> None:
    """Write the requirements traceability document (docs/requirements.md).

    Every requirement of the properties file, the properties that state it
    (with their verdicts in each of the file's configurations) or the reason
    the model cannot state it. Exit status: 0, or 1 when a verdict differs
    from its expectation (or, with --check, when FILE is out of date); 2 for
    bad input.
    """
    from tcpcheck.model.errors import InputError
    from tcpcheck.model.properties import load_property_file
    from tcpcheck.tools.requirements import render, verdicts

    if check and not out_path:
        raise InputError("--check", "name the file to compare with: --check -o docs/requirements.md")
    pf = load_property_file(props_path)
    if not pf.requirements or not pf.configurations:
        raise InputError(pf.path, "no [[requirement]] or no [[configuration]] tables: nothing to trace")
    with progress_bar(len(pf.configurations), "configurations") as advance:
        results = verdicts(pf, spec_path, lambda name: advance(name))
    text = render(pf, results)
    ok = all(v.as_expected for _, vs in results.values() for v in vs.values())
    if out_path is None:
        click.echo(text, nl=False)
        sys.exit(0 if ok else 1)
    target = Path(out_path)
    if check:
        current = target.read_text(encoding="utf-8") if target.is_file() else ""
        if current != text:
            click.echo(f"{target} is out of date: run tcpcheck requirements -o {target}", err=True)
            sys.exit(1)
        click.echo(f"{target} is current")
        sys.exit(0 if ok else 1)
    if not target.parent.is_dir():
        raise InputError(out_path, "the directory does not exist")
    from tcpcheck.tools.outputs import write_file

    write_file(target, text)
    click.echo(f"wrote {target}: {len(pf.requirements)} requirements, {len(pf.properties)} properties")
    sys.exit(0 if ok else 1)
