"""Structural strategies for every input format tcpcheck reads.

Each format starts from a real, valid document (the embedded spec, the
embedded properties, the shipped Linux profile, a mutant, a scenario suite,
a run.json) and applies one to three structural edits anywhere in its tree:
delete a key, add an unknown key, or replace a value by a hostile one of
another type (markup, control characters, huge or non-finite numbers,
deep nesting, empty containers). Edits reach every table, row and field,
so the loaders' checks for types, ranges, allowed keys and lengths are all
exercised; a document is then serialised (TOML or JSON) and handed to the
real command line.
"""

from __future__ import annotations

import copy
import json
import math
import tomllib
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from tcpcheck.model.properties import default_properties_path
from tcpcheck.model.spec import default_spec_path
from tcpcheck.tools.runner.profile import profile_path

HOSTILE_TEXT = st.sampled_from([
    "", " ", "x" * 5000, "</script><script>alert(1)</script>", "*/ int x; /*", '"""\nimport os\n"""',
    "../../../../tmp/escape", "/etc/passwd", "a\0b", "\ud800", "\u202e", "CLOSED", "LISTEN", "SYN", "ACK",
    "self.fin_sent", "true", "once(", "((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((x",
    "A.state == ESTABLISHED", "holds", "violated", "pass", "fail", "embedded", "/dev/zero", "RFC 9293 §3.5",
]) | st.text(max_size=30)


def _deep(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


HOSTILE_VALUE = st.one_of(
    HOSTILE_TEXT,
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.sampled_from([0, -1, 1, 2, 10**18, 2**63 - 1]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.lists(HOSTILE_TEXT, max_size=3),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(HOSTILE_TEXT, HOSTILE_TEXT, max_size=2),
    st.sampled_from([[], {}, [{}], [[]], _deep(60), {"a": {"b": {"c": {}}}}]),
)


def _fresh(value: Any) -> Any:
    """A copy: sampled values are shared objects, and edits change documents in place."""
    return copy.deepcopy(value)


def _paths(value: Any, here: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a container in ``value`` (a dict key or list index leads on)."""
    out = [here]
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(v, dict | list):
                out.extend(_paths(v, (*here, k)))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            if isinstance(v, dict | list):
                out.extend(_paths(v, (*here, i)))
    return out


def _at(value: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        value = value[step]
    return value


@st.composite
def edited(draw: st.DrawFn, base: Any) -> Any:
    """``base`` with one to three structural edits."""
    doc = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(doc)
        container = _at(doc, draw(st.sampled_from(paths)))
        action = draw(st.sampled_from(["replace", "replace", "delete", "add"]))
        if isinstance(container, dict):
            keys = sorted(container, key=str)
            if action == "add" or not keys:
                container[draw(HOSTILE_TEXT.filter(lambda k, c=container: k not in c))] = _fresh(draw(HOSTILE_VALUE))
            elif action == "delete":
                del container[draw(st.sampled_from(keys))]
            else:
                container[draw(st.sampled_from(keys))] = _fresh(draw(HOSTILE_VALUE))
        elif isinstance(container, list):
            if action == "add" or not container:
                container.append(_fresh(draw(HOSTILE_VALUE)))
            elif action == "delete":
                del container[draw(st.integers(0, len(container) - 1))]
            else:
                container[draw(st.integers(0, len(container) - 1))] = _fresh(draw(HOSTILE_VALUE))
    return doc


# ----------------------------------------------------------------- TOML ---

def _key(k: Any) -> str:
    return json.dumps(str(k))


def _inline(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
    if isinstance(v, str):
        return json.dumps(v)  # JSON's escapes are TOML's (a lone surrogate makes it invalid TOML: also a case)
    if isinstance(v, list):
        return "[" + ", ".join(_inline(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_key(k)} = {_inline(x)}" for k, x in v.items()) + "}"
    return json.dumps(str(v))


def to_toml(doc: Any) -> str:
    """A TOML document for ``doc`` (tables and arrays of tables as headers, the rest inline)."""
    if not isinstance(doc, dict):
        return f"value = {_inline(doc)}\n"
    plain, tables = [], []
    for k, v in doc.items():
        if isinstance(v, dict):
            tables.append(f"[{_key(k)}]\n" + "".join(f"{_key(kk)} = {_inline(vv)}\n" for kk, vv in v.items()))
        elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            for row in v:
                tables.append(f"[[{_key(k)}]]\n" + "".join(f"{_key(kk)} = {_inline(vv)}\n" for kk, vv in row.items()))
        else:
            plain.append(f"{_key(k)} = {_inline(v)}\n")
    return "".join(plain) + "\n".join(tables)


# -------------------------------------------------------------- formats ---

def _toml(path: Path) -> Any:
    return tomllib.loads(path.read_text())


SPEC = _toml(default_spec_path())
PROPERTIES = _toml(default_properties_path())
PROFILE = _toml(profile_path("linux"))
MUTANT = {"mutant": {"base": "embedded", "description": "d",
                     "change": [{"transition": "CLOSE_WAIT--close-->LAST_ACK", "to": "TIME_WAIT"}],
                     "add": [{"from": "LISTEN", "event": "RST", "to": "CLOSED", "path": "error", "rfc": "m"}]}}


def _scenarios() -> dict[str, Any]:
    from tcpcheck.tools.runner.suite import crowd_suite, default_suite

    suite = default_suite()
    odd = next(s for s in suite if any(getattr(step, "variant", "") for step in s.steps))  # a variant too
    crowd = crowd_suite()[0]  # several connections: connections, on, when, expect_states
    return {"scenarios": [s.to_json() for s in (*suite[:2], odd, crowd)]}


SCENARIOS = _scenarios()


def _run() -> dict[str, Any]:
    from tests.pictures.samples import sample_run

    return sample_run()


RUN = _run()

