"""``tcpcheck export --promela OUT.pml``: the composed model and its properties for SPIN."""

from __future__ import annotations

from pathlib import Path

import click

from tcpcheck.tools.cli.kit import model_options, one_line_errors, select_properties


@click.command()
@click.option("--promela", "out_path", required=True, type=click.Path(dir_okay=False), metavar="OUT.pml",
              help="Write the model as Promela here.")
@click.option("--spec", "spec_path", type=click.Path(dir_okay=False), help="Spec TOML (default: the embedded one).")
@click.option("--properties", "props_path", type=click.Path(dir_okay=False), help="Properties TOML.")
@click.option("--bound", "-k", type=int, default=None, help="Channel capacity K (default 3).")
@click.option("--reorder", is_flag=True, help="Channels may deliver in any order.")
@click.option("--loss", is_flag=True, help="Channels may lose segments.")
@click.option("--duplicate", is_flag=True, help="Channels may duplicate segments.")
@click.option("--option", "spec_options", multiple=True, metavar="NAME=on|off", help="Set a spec option.")
@click.option("--property", "only", multiple=True, metavar="NAME", help="Export only this property (repeatable).")
@one_line_errors
def export(out_path: str, spec_path: str | None, props_path: str | None, bound: int | None, reorder: bool,
           loss: bool, duplicate: bool, spec_options: tuple[str, ...], only: tuple[str, ...]) -> None:
    """Export the composed model as Promela, properties as assertions.

    Check it with: spin -a -o2 OUT.pml && gcc -O2 -DSAFETY -o pan pan.c && ./pan -c0 -m1000000
    """
    from tcpcheck.model import build_system, load_properties, load_spec
    from tcpcheck.model.errors import InputError
    from tcpcheck.tools.export.promela import export
    from tcpcheck.tools.outputs import write_file

    spec = load_spec(spec_path)
    props = select_properties(load_properties(props_path), only)
    system = build_system(spec, model_options(spec, bound, reorder, loss, duplicate, spec_options), props)
    text, checks = export(system, props, title=f"spec: {spec.path}")
    target = Path(out_path)
    if not target.parent.is_dir():
        raise InputError(out_path, "the directory does not exist")
    write_file(target, text)  # whole or not at all: a reader never sees half a model
    click.echo(f"wrote {target}: {len(system.commands)} commands, {len(checks)} assertions")
