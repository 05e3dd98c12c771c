"""Shared command-line plumbing: one-line errors, progress, tables."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click

from model.errors import InputError

F = TypeVar("F", bound=Callable[..., Any])


def one_line_errors(func: F) -> F:
    """Bad input becomes ``tcpcheck: FILE:LINE: message`` and exit status 2."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except InputError as exc:
            click.echo(f"tcpcheck: {exc}", err=True)
            sys.exit(2)
        except KeyboardInterrupt:
            click.echo("tcpcheck: interrupted", err=True)
            sys.exit(130)

    return wrapper  # type: ignore[return-value]


def progress(message: str) -> None:
    """A progress line on stderr, only when stderr is a terminal."""
    if sys.stderr.isatty():
        click.echo(f"\r{message}\033[K", err=True, nl=False)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain aligned text table."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for n, row in enumerate(cells):
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)
