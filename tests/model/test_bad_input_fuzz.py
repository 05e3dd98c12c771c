"""Hypothesis feeds broken specs and properties: always one InputError line,
never another exception."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tcpcheck.model import InputError, ModelOptions, build_system, load_properties, load_spec

ROOT = Path(__file__).resolve().parents[2]
SPEC = (ROOT / "specs" / "tcp.toml").read_text()
PROPS = (ROOT / "specs" / "properties.toml").read_text()
SYSTEM = build_system(load_spec(), ModelOptions(bound=1))


def mutate(text: str, data: st.DataObject) -> str:
    lines = text.splitlines()
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(lines) - 1))
        how = data.draw(st.sampled_from(["delete", "truncate", "garble", "swap_value", "duplicate"]))
        if how == "delete":
            del lines[i]
        elif how == "truncate":
            lines[i] = lines[i][: data.draw(st.integers(0, max(0, len(lines[i]) - 1)))]
        elif how == "garble":
            lines[i] = lines[i] + data.draw(st.sampled_from(['"', "]", " = 3", "[[", " and", "{", "->"]))
        elif how == "swap_value":
            if "=" in lines[i]:
                key = lines[i].split("=", 1)[0]
                lines[i] = key + "= " + data.draw(st.sampled_from(['"X"', "42", "true", '["Q"]', '"A.nope"', '"("']))
        else:
            lines.insert(i, lines[i])
    return "\n".join(lines) + "\n"


def assert_clean(load, path: Path) -> None:  # type: ignore[no-untyped-def]
    try:
        load(path)
    except InputError as exc:
        text = str(exc)
        assert text.startswith(str(path)), text
        assert "\n" not in text and len(text) < 600


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_broken_specs_fail_cleanly(data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "spec.toml"
        p.write_text(mutate(SPEC, data))
        assert_clean(load_spec, p)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_broken_properties_fail_cleanly(data: st.DataObject) -> None:
    def load_and_type(path: Path) -> None:
        for prop in load_properties(path):
            prop.instances(SYSTEM)

    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "props.toml"
        p.write_text(mutate(PROPS, data))
        assert_clean(load_and_type, p)
