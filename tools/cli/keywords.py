"""``-k EXPR``: choose scenarios by name the way ``pytest -k`` chooses tests.

The grammar is pytest's: words joined by ``and``, ``or``, ``not`` and
parentheses; a word matches when it is a case-insensitive substring of one
of the item's keywords (for a scenario: its name, the transitions it covers,
and ``slow`` when it is slow).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from tcpcheck.model.errors import InputError

_TOKEN = re.compile(r"\s*(\(|\)|[^\s()]+)")
Matcher = Callable[[Iterable[str]], bool]


def compile_keywords(expression: str) -> Matcher:
    """A predicate over an item's keywords; a malformed expression is one
    InputError naming ``-k``."""
    tokens = _TOKEN.findall(expression)
    if "".join(tokens) != "".join(expression.split()):
        raise InputError("-k", f"cannot read {expression!r}")
    if not tokens:
        raise InputError("-k", "empty expression; give a word, e.g. -k time_wait")
    pos = 0

    def peek() -> str | None:
        return tokens[pos] if pos < len(tokens) else None

    def take() -> str:
        nonlocal pos
        pos += 1
        return tokens[pos - 1]

    def fail(what: str) -> InputError:
        return InputError("-k", f"{what} in {expression!r} (words joined by and, or, not, parentheses)")

    def either() -> Callable[[list[str]], bool]:
        left = both()
        while peek() == "or":
            take()
            left = _any_of(left, both())
        return left

    def both() -> Callable[[list[str]], bool]:
        left = negated()
        while peek() == "and":
            take()
            left = _all_of(left, negated())
        return left

    def negated() -> Callable[[list[str]], bool]:
        token = peek()
        if token is None:
            raise fail("unexpected end")
        if token == "not":
            take()
            inner = negated()
            return lambda kw: not inner(kw)
        if token == "(":
            take()
            inner = either()
            if peek() != ")":
                raise fail("missing ')'")
            take()
            return inner
        if token in (")", "and", "or"):
            raise fail(f"unexpected {token!r}")
        word = take().lower()
        return lambda kw: any(word in k for k in kw)

    tree = either()
    if peek() is not None:
        raise fail(f"unexpected {peek()!r}")
    return lambda keywords: tree([k.lower() for k in keywords])


def _any_of(a: Callable[[list[str]], bool], b: Callable[[list[str]], bool]) -> Callable[[list[str]], bool]:
    return lambda kw: a(kw) or b(kw)


def _all_of(a: Callable[[list[str]], bool], b: Callable[[list[str]], bool]) -> Callable[[list[str]], bool]:
    return lambda kw: a(kw) and b(kw)
