"""The one error type users see: a sentence naming the file, line or field."""

from __future__ import annotations

from functools import lru_cache


class InputError(Exception):
    """Bad input (spec, properties, options): printed as one line, exit status 2.

    ``where`` is ``file`` or ``file:line``; ``message`` says what is wrong and
    what to do about it.
    """

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")
        self.where = where
        self.message = message


def locate(text: str, table: str, index: int, key: str | None = None) -> int | None:
    """Line (1-based) of the ``index``-th ``[[table]]`` in TOML ``text``, or of
    ``key`` inside it. tomllib keeps no positions, so errors found after
    parsing are placed by scanning the source; None when it cannot tell."""
    lines, headers = _lines(text)
    found = headers.get(f"[[{table}]]", ())
    if not 0 <= index < len(found):
        return None
    number = found[index]
    if key is None:
        return number
    for offset in range(number, len(lines)):  # the lines after the header (0-based from it)
        if lines[offset].startswith("["):
            break
        if lines[offset].split("=", 1)[0].strip() == key:
            return offset + 1
    return number


@lru_cache(maxsize=8)
def _lines(text: str) -> tuple[tuple[str, ...], dict[str, tuple[int, ...]]]:
    """``text``'s lines stripped, and the line numbers of each ``[[table]]``
    header: a spec locates every transition, so scanning the text each time
    cost most of parsing it."""
    lines = tuple(line.strip() for line in text.splitlines())
    headers: dict[str, list[int]] = {}
    for number, line in enumerate(lines, start=1):
        if line.startswith("[[") and line.endswith("]]"):
            headers.setdefault(line, []).append(number)
    return lines, {header: tuple(numbers) for header, numbers in headers.items()}


def where(path: str, line: int | None) -> str:
    """``path:line`` when the line is known, else ``path``."""
    return f"{path}:{line}" if line else path


class SearchLimit(Exception):
    """A search stopped at a limit the user set (``limit``: "states" or
    "memory"), with how far it got; the command line says what to try."""

    def __init__(self, limit: str, value: int, states: int, transitions: int, seconds: float) -> None:
        super().__init__(f"search stopped at its {limit} limit ({value}) after {states} states")
        self.limit = limit
        self.value = value
        self.states = states
        self.transitions = transitions
        self.seconds = seconds
