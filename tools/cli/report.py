"""``tcpcheck report``: one self-contained HTML conformance report."""

from __future__ import annotations

import click

from tcpcheck.tools.cli.kit import one_line_errors


@click.command()
@click.argument("results", nargs=-1, required=True, type=click.Path(dir_okay=False), metavar="RESULTS.json...")
@click.option("-o", "--output", default="report.html", show_default=True, type=click.Path(dir_okay=False),
              help="The HTML file to write.")
@click.option("--pcaps", "pcap_dir", type=click.Path(file_okay=False),
              help="Directory given to 'tcpcheck run --pcap': link each scenario's pcap from the report "
                   "(for a matrix: the directory of 'tcpcheck run --stack all --pcap', one folder per stack).")
@click.option("--spec", "spec_path", type=click.Path(dir_okay=False),
              help="Spec TOML (default: the embedded RFC 9293 machine).")
@one_line_errors
def report(results: tuple[str, ...], output: str, pcap_dir: str | None, spec_path: str | None) -> None:
    """Turn RESULTS.json (from 'tcpcheck run --json') into one HTML file.

    The page shows the stack and kernel, the summary, the state diagram
    coloured by verdict, every transition with its verdict and RFC
    reference, and each scenario as a sequence chart. It needs no network
    access to view. Needs Graphviz for the diagram.

    Several runs (one file per stack, or the output of 'tcpcheck run
    --stack all --json') give one matrix instead: transitions down, stacks
    across, each cell linking to the step that decided it.
    """
    from pathlib import Path

    from tcpcheck.model.spec import load_spec
    from tcpcheck.tools.pictures.diagram import load_runs, write_atomic

    spec = load_spec(spec_path)
    runs = [run for path in results for run in load_runs(path, spec)]
    out = Path(output)
    pcaps = Path(pcap_dir) if pcap_dir else None
    source = ", ".join(results)
    if len(runs) == 1:
        from tcpcheck.tools.pictures.report import build_html

        html = build_html(spec, runs[0], source, out, pcaps)
    else:
        from tcpcheck.tools.pictures.matrix_page import build_matrix_html
        from tcpcheck.tools.runner.matrix import combine

        html = build_matrix_html(spec, runs, combine(spec, runs, source), source, out, pcaps)
    write_atomic(out, html)
    click.echo(f"wrote {out} ({len(html) // 1024} KiB, {sum(len(r['results']) for r in runs)} scenarios"
               + (f", {len(runs)} stacks" if len(runs) > 1 else "") + ")")
