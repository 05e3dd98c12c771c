"""tcpcheck: the RFC 9293 TCP connection state machine as a formal model.

One installed package with three parts, each kept in its own top-level
folder of the repository and mapped here by ``pyproject.toml``:

* ``tcpcheck.model``  the spec loader, endpoint graph, composed system,
  properties and both engines (no I/O beyond reading specs)
* ``tcpcheck.tools``  command line, generator, runner, pictures, export
* ``tcpcheck.specs``  the machine and its properties as data (TOML)

The command line is ``tcpcheck`` (or ``python -m tcpcheck``).
"""

from __future__ import annotations

from importlib import metadata

try:
    __version__ = metadata.version("tcpcheck")
except metadata.PackageNotFoundError:  # imported from a checkout that was never installed
    __version__ = "0+unknown"

__all__ = ["__version__"]
