"""The ``tcpcheck`` command line: one group, one module per subcommand.

Subcommand modules import their heavy dependencies inside the command so
that ``tcpcheck verify`` does not pay for Z3, the runner or Graphviz.
"""

from __future__ import annotations

import click

from tools.cmd_verify import verify


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="tcpcheck")
def main() -> None:
    """tcpcheck: the RFC 9293 TCP connection state machine as a formal model.

    verify: prove properties of two endpoints over bounded channels.
    """


main.add_command(verify)
