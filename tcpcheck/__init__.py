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

__all__ = ["__version__"]


def __getattr__(name: str) -> str:
    # The version is looked up on first use: importlib.metadata is slow to
    # import, and the command line imports this package before anything else
    # (the sooner it can take Ctrl-C, the fewer tracebacks).
    if name == "__version__":
        from importlib import metadata

        try:
            return metadata.version("tcpcheck")
        except metadata.PackageNotFoundError:  # imported from a checkout that was never installed
            return "0+unknown"
    raise AttributeError(f"module 'tcpcheck' has no attribute {name!r}")
