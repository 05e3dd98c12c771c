"""``tcpcheck report``: one self-contained HTML conformance report."""

from __future__ import annotations

import click

from tcpcheck.tools.cli.kit import one_line_errors


@click.command()
@click.argument("results", type=click.Path(dir_okay=False), metavar="RESULTS.json")
@click.option("-o", "--output", default="report.html", show_default=True, type=click.Path(dir_okay=False),
              help="The HTML file to write.")
@click.option("--pcaps", "pcap_dir", type=click.Path(file_okay=False),
              help="Directory given to 'tcpcheck run --pcap': link each scenario's pcap from the report.")
@click.option("--spec", "spec_path", type=click.Path(dir_okay=False),
              help="Spec TOML (default: the embedded RFC 9293 machine).")
@one_line_errors
def report(results: str, output: str, pcap_dir: str | None, spec_path: str | None) -> None:
    """Turn RESULTS.json (from 'tcpcheck run --json') into one HTML file.

    The page shows the stack and kernel, the summary, the state diagram
    coloured by verdict, every transition with its verdict and RFC
    reference, and each scenario as a sequence chart. It needs no network
    access to view. Needs Graphviz for the diagram.
    """
    from pathlib import Path

    from tcpcheck.model.spec import load_spec
    from tcpcheck.tools.pictures.diagram import load_results, write_atomic
    from tcpcheck.tools.pictures.report import build_html

    spec = load_spec(spec_path)
    data = load_results(results)
    out = Path(output)
    html = build_html(spec, data, results, out, Path(pcap_dir) if pcap_dir else None)
    write_atomic(out, html)
    click.echo(f"wrote {out} ({len(html) // 1024} KiB, {len(data['results'])} scenarios)")
