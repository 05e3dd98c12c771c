"""Inputs that are invalid by construction, for every input format.

``formats.edited`` makes documents that may or may not be valid, so it can
only check that nothing crashes. The strategy here makes exactly one edit
that a correct loader must refuse, chosen from what the format's schema
says of the field it touches:

- an unknown key in a table whose keys are fixed (every table but the
  format's free-keyed maps, such as ``sysctls``);
- a value of another type (a string for a boolean, ``"false"`` for
  ``false``, a number for a string, a float for an integer, a scalar for a
  list or a table);
- an unknown name where the field names something (a state, an event, a
  segment, a verdict, a kind, a transition): every string value that is not
  free text or the declaration of a new name;
- an integer out of range (negative).

Each format lists its free-keyed maps, its free-text fields (and the fields
that declare a name rather than use one), and the fields where a negative
number is allowed; everything else is closed. A loader that accepts such a
document has a hole in its schema; the harness counts them
(``test_invalid_rejected``) and the target is zero.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

UNKNOWN_KEY = "zz_not_a_field"
UNKNOWN_NAME = "NO_SUCH_NAME"
_NAMEISH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(--[A-Za-z0-9_:]+-->[A-Za-z_][A-Za-z0-9_]*)?$")


@dataclass(frozen=True)
class Schema:
    """What the harness must know of a format to break it on purpose."""

    open_maps: frozenset[str] = frozenset()  # keys whose value is a table with free keys
    free: frozenset[str] = frozenset()  # keys whose string values are free text or declare a new name
    signed: frozenset[str] = frozenset()  # keys whose integers may be negative
    any_type: frozenset[str] = frozenset()  # keys whose value may be of more than one type


@dataclass(frozen=True)
class Edit:
    """One edit that makes the document invalid: what it did, for the report."""

    kind: str
    path: tuple[Any, ...]
    value: Any

    def describe(self) -> str:
        return f"{self.kind} at {'/'.join(map(str, self.path)) or '(top)'}: {self.value!r}"


def _key_of(path: tuple[Any, ...]) -> str | None:
    """The nearest dictionary key on ``path`` (a list element takes its list's key)."""
    for step in reversed(path):
        if isinstance(step, str):
            return step
    return None


def _walk(value: Any, here: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], Any]]:
    out = [(here, value)]
    if isinstance(value, dict):
        for k, v in value.items():
            out.extend(_walk(v, (*here, k)))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out.extend(_walk(v, (*here, i)))
    return out


def _other_types(value: Any) -> list[Any]:
    if isinstance(value, bool):
        return ["false" if not value else "true", int(value), [value]]
    if isinstance(value, int):
        return [str(value), value + 0.5, [value], {"a": value}]
    if isinstance(value, float):
        return [str(value), [value], True]
    if isinstance(value, str):
        return [1, True, [value], {"a": value}]
    if isinstance(value, list):
        return ["x", 1, {"a": "b"}] if value else ["x", 1]
    if isinstance(value, dict):
        return ["x", 1, [1]]
    return []


def invalid_edits(doc: Any, schema: Schema) -> list[Edit]:
    """Every single edit of ``doc`` that ``schema`` says must be refused."""
    edits: list[Edit] = []
    for path, value in _walk(doc):
        key = _key_of(path)
        inside_map = any(isinstance(s, str) and s in schema.open_maps for s in path)
        if isinstance(value, dict) and not inside_map and (not path or path[-1] not in schema.open_maps):
            edits.append(Edit("unknown key", path, UNKNOWN_KEY))
        if not path or key in schema.any_type or inside_map:
            continue
        edits.extend(Edit("wrong type", path, v) for v in _other_types(value))
        if isinstance(value, str) and key not in schema.free and _NAMEISH.match(value):
            edits.append(Edit("unknown name", path, UNKNOWN_NAME))
        if isinstance(value, int) and not isinstance(value, bool) and key not in schema.signed:
            edits.append(Edit("out of range", path, -1 - value))
    return edits


def apply(doc: Any, edit: Edit) -> Any:
    """A copy of ``doc`` with ``edit`` made."""
    out = copy.deepcopy(doc)
    if edit.kind == "unknown key":
        target = out
        for step in edit.path:
            target = target[step]
        # the value of a sibling, so that only the key is wrong
        target[UNKNOWN_KEY] = copy.deepcopy(next(iter(target.values()))) if target else "x"
        return out
    *head, last = edit.path
    target = out
    for step in head:
        target = target[step]
    target[last] = copy.deepcopy(edit.value)
    return out


def invalid(doc: Any, schema: Schema) -> st.SearchStrategy[tuple[Edit, Any]]:
    """One invalid edit of ``doc``: the edit and the edited document."""
    edits = invalid_edits(doc, schema)
    return st.sampled_from(edits).map(lambda e: (e, apply(doc, e)))
