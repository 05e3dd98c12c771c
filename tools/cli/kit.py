"""Shared command-line plumbing: one-line errors, progress, tables."""

from __future__ import annotations

import functools
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from tcpcheck.model.errors import InputError

F = TypeVar("F", bound=Callable[..., Any])


def one_line_errors(func: F) -> F:
    """Bad input becomes ``tcpcheck: FILE:LINE: message`` and exit status 2."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except InputError as exc:
            click.echo(f"tcpcheck: {one_line(str(exc))}", err=True)
            sys.exit(2)
        except KeyboardInterrupt:
            click.echo("tcpcheck: interrupted", err=True)
            sys.exit(130)

    return wrapper  # type: ignore[return-value]


def one_line(text: str, limit: int = 600) -> str:
    """``text`` as one printable line: an error quotes input (a key, a name),
    which may hold newlines or terminal escapes; those are shown escaped."""
    shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."


def check_output_dir(path: str, option: str) -> None:
    """Refuse, before any work, a folder that cannot be written: a file in
    its place, or a nearest existing folder in which a file cannot really be
    made (tried: root passes every permission check, yet not a read-only or
    pseudo file system). Nothing is left behind by the check."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise InputError(option, f"{path} is a file, not a folder; give a folder to write into")
    parent = next((q for q in (p, *p.parents) if q.exists()), Path("."))
    if not parent.is_dir():
        raise InputError(option, f"cannot write into {path}: {parent} is not a folder")
    _try_writing(parent, option, path)


def check_output_file(path: str, option: str) -> None:
    """Refuse, before any work, a file that cannot be written: a folder in
    its place, a missing parent folder, or one in which a file cannot really
    be made (tried, as for ``check_output_dir``)."""
    p = Path(path)
    if p.is_dir():
        raise InputError(option, f"{path} is a folder; give a file name")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise InputError(option, f"the folder {parent} does not exist")
    if p.exists():
        try:
            os.close(os.open(p, os.O_WRONLY | os.O_CLOEXEC))  # opened, not truncated
        except OSError as exc:
            raise InputError(option, f"cannot write {path} ({exc.strerror})") from None
    _try_writing(parent, option, path)


def _try_writing(folder: Path, option: str, path: str) -> None:
    try:
        fd, probe = tempfile.mkstemp(prefix=".tcpcheck-probe-", dir=folder)
    except OSError as exc:
        raise InputError(option, f"cannot write {path}: {folder} does not take new files ({exc.strerror})") from None
    os.close(fd)
    os.unlink(probe)


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


def model_options(
    spec: Any,
    bound: int | None,
    reorder: bool,
    loss: bool,
    duplicate: bool,
    spec_options: Sequence[str],
) -> Any:
    """``ModelOptions`` from command-line values (``--option NAME=on|off`` parsed here)."""
    from tcpcheck.model import ModelOptions
    from tcpcheck.model.compose import DEFAULT_BOUND

    parsed: dict[str, bool] = {}
    for item in spec_options:
        name, sep, value = item.partition("=")
        if not sep or value.lower() not in ("on", "off", "true", "false", "1", "0"):
            raise InputError("--option", f"{item!r} is not NAME=on or NAME=off (e.g. --option note3=off)")
        parsed[name] = value.lower() in ("on", "true", "1")
    opts = ModelOptions(
        bound=DEFAULT_BOUND if bound is None else bound,
        reorder=reorder,
        loss=loss,
        duplicate=duplicate,
        spec_options=parsed,
    )
    opts.resolved(spec)  # unknown option names fail here, with the spec's list
    return opts


def select_properties(props: Sequence[Any], only: Sequence[str]) -> list[Any]:
    """The properties named by ``--property`` (all when none is named)."""
    if not only:
        return list(props)
    known = {p.name for p in props}
    for name in only:
        if name not in known:
            raise InputError("--property", f"no property named {name!r}; known: {', '.join(sorted(known))}")
    return [p for p in props if p.name in only]
