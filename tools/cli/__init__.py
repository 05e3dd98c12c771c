"""The ``tcpcheck`` command line: one group, one module per subcommand.

Subcommand modules import their heavy dependencies inside the command so
that ``tcpcheck verify`` does not pay for Z3, the runner or Graphviz.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from tcpcheck.tools.cli.census import census
from tcpcheck.tools.cli.check import check
from tcpcheck.tools.cli.diagram import diagram
from tcpcheck.tools.cli.export import export
from tcpcheck.tools.cli.generate import generate
from tcpcheck.tools.cli.mutate import mutate
from tcpcheck.tools.cli.report import report
from tcpcheck.tools.cli.requirements import requirements
from tcpcheck.tools.cli.run import run
from tcpcheck.tools.cli.verify import verify


def _names_in_bytes_print() -> None:
    """A file name that is not UTF-8 arrives as lone surrogates (PEP 383);
    echoing it ("wrote NAME") on a strict UTF-8 terminal raised
    UnicodeEncodeError after the work was done. Print such names as the
    bytes they came as."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None and (getattr(stream, "encoding", "") or "").lower().replace("-", "") == "utf8":
            reconfigure(errors="surrogateescape")


class _Group(click.Group):
    """A group whose usage errors are one line, like every other bad input."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["standalone_mode"] = False
        _names_in_bytes_print()
        try:
            return super().main(*args, **kwargs)
        except click.exceptions.NoArgsIsHelpError as exc:
            click.echo(exc.ctx.get_help() if exc.ctx else str(exc))
            sys.exit(0)
        except click.UsageError as exc:
            command = exc.ctx.command_path if exc.ctx else "tcpcheck"
            click.echo(f"tcpcheck: {exc.format_message()} (see '{command} --help')", err=True)
            sys.exit(2)
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        except (click.exceptions.Abort, KeyboardInterrupt):
            click.echo("tcpcheck: interrupted", err=True)
            sys.exit(130)
        except click.ClickException as exc:
            click.echo(f"tcpcheck: {exc.format_message()}", err=True)
            sys.exit(exc.exit_code)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="tcpcheck", prog_name="tcpcheck")
def main() -> None:
    """tcpcheck: the RFC 9293 TCP connection state machine as a formal model.

    \b
    verify    prove properties of two endpoints over bounded channels
    requirements  RFC 9293's requirements, the properties stating them, verdicts
    generate  conformance suites from the model (pytest, packetdrill)
    run       play scenarios against the Linux TCP stack in a private netns
    mutate    mutation analysis: the suites' kill scores and the properties' catches
    diagram   draw the state machine like RFC 9293 Figure 5
    report    an HTML conformance report from `run --json`
    census    explain the live TCP sockets of this host or a namespace
    check     check a packet capture against the spec
    """


main.add_command(verify)
main.add_command(generate)
main.add_command(diagram)
main.add_command(report)
main.add_command(run)
main.add_command(export)
main.add_command(census)
main.add_command(check)
main.add_command(mutate)
main.add_command(requirements)

