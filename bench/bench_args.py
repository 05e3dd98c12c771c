"""Argument checks the SPIN-comparing bench scripts share (each exits with one line)."""

from __future__ import annotations

import shutil
import sys


def require_spin() -> None:
    """Exit with one line unless SPIN and gcc (pan's compiler) are installed."""
    for tool in ("spin", "gcc"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is not installed (apt-get install spin gcc)")


def bounds(text: str, flag: str = "--bounds") -> list[int]:
    """The channel bounds of a comma-separated list, or exit with one line."""
    try:
        return [int(b) for b in text.split(",")]
    except ValueError:
        sys.exit(f"{flag}: {text!r} is not a comma-separated list of integers")
