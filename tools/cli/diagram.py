"""``tcpcheck diagram``: the state diagram as RFC 9293 Figure 5 draws it."""

from __future__ import annotations

import sys

import click

from tcpcheck.tools.cli.kit import one_line_errors


@click.command()
@click.option("--spec", "spec_path", type=click.Path(dir_okay=False),
              help="Spec TOML (default: the embedded RFC 9293 machine).")
@click.option("--highlight", metavar="PATH",
              help="Emphasise one path of the figure: client, server, simultaneous or error.")
@click.option("--path", "walk", metavar="S1,S2,...",
              help="Emphasise a walk through states, e.g. CLOSED,SYN_SENT,ESTABLISHED.")
@click.option("--coverage", "coverage_path", type=click.Path(dir_okay=False), metavar="RESULTS.json",
              help="Colour each transition by the verdict a 'tcpcheck run --json' gave it.")
@click.option("--format", "fmt", default=None, metavar="svg|png|pdf|dot",
              help="Output format (default: from the -o suffix, else svg).")
@click.option("-o", "--output", "output", type=click.Path(dir_okay=False), help="Write here (default: stdout).")
@one_line_errors
def diagram(
    spec_path: str | None,
    highlight: str | None,
    walk: str | None,
    coverage_path: str | None,
    fmt: str | None,
    output: str | None,
) -> None:
    """Draw the endpoint state machine like RFC 9293 Figure 5.

    CLOSED at the top, ESTABLISHED in the middle, the active close on the
    left, the passive close on the right, TIME_WAIT at the bottom; each edge
    labelled 'event / sends'. Needs Graphviz (apt-get install graphviz).
    """
    from pathlib import Path

    from tcpcheck.model.errors import InputError
    from tcpcheck.model.spec import load_spec
    from tcpcheck.tools.cli.kit import check_output_file
    from tcpcheck.tools.pictures.diagram import (
        FORMATS,
        DiagramOptions,
        coverage_from_results,
        load_results,
        parse_walk,
        render,
        to_dot,
        write_atomic,
    )

    suffix = Path(output).suffix.lstrip(".").lower() if output else ""
    if fmt is not None and fmt not in FORMATS:
        raise InputError("--format", f"unknown format {fmt!r}; use one of: {', '.join(FORMATS)}")
    if output and suffix not in FORMATS and fmt is None:
        raise InputError("-o", f"cannot tell the format from {output!r}; name it .svg, .png, .pdf or .dot, "
                               "or give --format")
    if output and suffix in FORMATS and fmt is not None and fmt != suffix:
        # never an SVG under a .pdf name
        raise InputError("--format", f"{fmt} does not match the file name {output!r}; give one .{fmt} file "
                                     "or leave --format out")
    fmt = fmt or suffix or "svg"
    if output:
        check_output_file(output, "-o")  # before the work, not after it
    spec = load_spec(spec_path)
    coverage = {}
    if coverage_path:
        coverage = coverage_from_results(load_results(coverage_path, spec), coverage_path)
    dot_text = to_dot(spec, DiagramOptions(highlight=highlight, path=parse_walk(walk), coverage=coverage))
    data = render(dot_text, fmt)
    if output:
        write_atomic(output, data)
    elif fmt in ("png", "pdf") and sys.stdout.isatty():
        raise InputError("--format", f"will not write {fmt.upper()} to a terminal; give -o FILE.{fmt}")
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
