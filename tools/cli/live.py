"""Progress on long work: a live status line and progress bars on stderr.

Shown only when stderr is a terminal, so ``--json`` output, pipes and logs
stay clean; drawn by rich, and started only once the work has lasted long
enough to need it (a quick run never imports rich). The status line also
enforces ``--max-memory``: it is what the engines call back into.
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tcpcheck.model.errors import InputError, SearchLimit

# A live line appears only for work that lasts longer than this: a quick
# verify prints exactly what it printed before, and pays nothing for rich.
SHOW_AFTER_SECONDS = 0.4
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def on_terminal() -> bool:
    """Progress goes to stderr only when a person is watching it."""
    return sys.stderr.isatty()


def rss_bytes() -> int:
    """This process's resident memory now (Linux ``/proc/self/statm``); 0 when unknown."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def physical_memory() -> int:
    """Bytes of physical memory (0 when unknown)."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return 0


def default_max_memory() -> int:
    """Three quarters of physical memory: stop with a clear line before the
    kernel's OOM killer stops us without one."""
    return physical_memory() * 3 // 4


def parse_size(text: str, option: str = "--max-memory") -> int:
    """``4G``, ``500M``, ``1.5GiB``, ``2GB``, ``123456`` (bytes) as bytes."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*", text.lower())
    if not match or float(match.group(1)) <= 0:
        raise InputError(option, f"{text!r} is not a size; write e.g. 4G, 500M or 1.5GiB")
    return int(float(match.group(1)) * _UNITS[match.group(2)])


def human_bytes(n: float) -> str:
    """``1.2 GiB``, ``340 MiB``."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit in ("B", "KiB", "MiB") else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover - the loop returns at GiB


class StatusLine:
    """One live line on stderr for a long search, and the memory limit.

    ``search`` is the explicit engine's progress callback; ``say`` tells
    what a phase or the Z3 engine is on. Both check ``max_memory`` and raise
    ``SearchLimit`` when it is exceeded. Use as a context manager: leaving
    it (normally, on an error or on Ctrl-C) erases the line.
    """

    def __init__(self, max_memory: int | None = None, enabled: bool | None = None) -> None:
        self.enabled = on_terminal() if enabled is None else enabled
        self.max_memory = max_memory
        self.start = time.perf_counter()
        self._live: Any = None
        self._last: tuple[int, float] = (0, self.start)  # (states, when) at the previous report

    def __enter__(self) -> StatusLine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Erase the line (it is transient) and stop rich's refresh thread."""
        if self._live is not None:
            self._live.stop()
            self._live = None

    def _memory(self, states: int = 0, transitions: int = 0, seconds: float | None = None) -> int:
        rss = rss_bytes()
        if self.max_memory and rss > self.max_memory:
            elapsed = time.perf_counter() - self.start if seconds is None else seconds
            raise SearchLimit("memory", self.max_memory, states, transitions, elapsed)
        return rss

    def search(self, p: Any) -> None:
        """Explicit-search progress (a ``model.explicit.SearchProgress``)."""
        rss = self._memory(p.states, p.transitions, p.seconds)
        now = time.perf_counter()
        states0, t0 = self._last
        rate = (p.states - states0) / (now - t0) if now > t0 else 0.0
        self._last = (p.states, now)
        self._show(f"explicit search: {p.states:,} states so far, {rate:,.0f} states/s, {human_bytes(rss)}, "
                   f"{p.seconds:.0f} s; {p.frontier:,} states to expand, {p.transitions:,} transitions")

    def say(self, text: str) -> None:
        """What the work is on now (a phase, or Z3's property and method)."""
        rss = self._memory()
        self._show(f"{text} ({human_bytes(rss)}, {time.perf_counter() - self.start:.0f} s)")

    def _show(self, text: str) -> None:
        if not self.enabled or time.perf_counter() - self.start < SHOW_AFTER_SECONDS:
            return
        from rich.text import Text

        line = Text(text, no_wrap=True, overflow="ellipsis")
        if self._live is None:
            from rich.console import Console
            from rich.live import Live

            self._live = Live(line, console=Console(stderr=True), transient=True, refresh_per_second=8)
            self._live.start()
        else:
            self._live.update(line)


@contextmanager
def progress_bar(total: int, what: str, enabled: bool | None = None) -> Iterator[Any]:
    """A progress bar on stderr over ``total`` items of ``what``; yields
    ``advance(description="")`` (a no-op when stderr is not a terminal)."""
    if not (on_terminal() if enabled is None else enabled) or total <= 0:
        yield lambda description="": None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("{task.fields[item]}"), console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(what, total=total, item="")

        def advance(description: str = "") -> None:
            bar.update(task, advance=1, item=description)

        yield advance
