"""Invalid inputs are refused: one edit that the format's schema forbids
(``tests/fuzz/invalid.py``), through the real command line, must exit 2
with one line naming the problem. The default run draws a few documents
per format; ``-m slow`` runs ``FUZZ_EXAMPLES`` (400) per format and the
timed spec's loader on every single edit."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given

from tcpcheck.model.errors import InputError
from tcpcheck.model.spec import load_spec
from tcpcheck.model.timed import default_timed_path, load_timed
from tests.fuzz.formats import to_toml
from tests.fuzz.invalid import Edit, Schema, apply, invalid, invalid_edits
from tests.fuzz.test_fuzz_cli import FAST, FORMATS, LONG, run_cli

TEXT = frozenset({"rfc", "note", "meaning", "arrival", "text", "rfc_call", "description", "reference", "stack",
                  "kernel", "command"})
# run.json: what the runner observed and wrote as text (a step's expected and observed
# segment or state, the scenario and profile names, which report shows, not looks up)
RUN_TEXT = TEXT | {"scenario", "state", "step", "profile", "expected", "observed", "deviations", "path", "first",
                   "property", "name", "observer"}
SCHEMAS: dict[str, Schema] = {
    "spec": Schema(free=TEXT | {"name"}),
    "spec-diagram": Schema(free=TEXT | {"name"}),
    "properties": Schema(free=TEXT | {"name", "expr"}),
    "mutant": Schema(free=TEXT),
    "profile": Schema(open_maps=frozenset({"condition"}), free=TEXT | {"name", "id", "expected", "observed"}),
    "scenarios": Schema(open_maps=frozenset({"sysctls"}), free=TEXT | {"name"}),
    "run.json": Schema(open_maps=frozenset({"sysctls"}), free=RUN_TEXT),
    "run.json-report": Schema(open_maps=frozenset({"sysctls"}), free=RUN_TEXT),
}


def accepted(work: Path, name: str, content: str, args: Any) -> str | None:
    """None when the command refuses ``content`` as it must (exit 2, one line); else what it did."""
    result = run_cli(work, name, content, args)
    if result.exit_code == 2:
        return None
    return f"exit {result.exit_code}: {(result.stderr or result.output).strip()[:200]}"


def _check(fmt: str, tmp_path: Path, profile: Any) -> None:
    base, dump, name, args = FORMATS[fmt]

    @profile
    @given(invalid(base, SCHEMAS[fmt]))
    def case(drawn: tuple[Edit, Any]) -> None:
        edit, doc = drawn
        outcome = accepted(tmp_path / "work", name, dump(doc), args)
        assert outcome is None, f"{fmt}: accepted {edit.describe()}: {outcome}"

    case()


@pytest.mark.parametrize("fmt", sorted(SCHEMAS))
def test_invalid_rejected(fmt: str, tmp_path: Path) -> None:
    _check(fmt, tmp_path, FAST)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", sorted(SCHEMAS))
def test_invalid_rejected_long(fmt: str, tmp_path: Path) -> None:
    _check(fmt, tmp_path, LONG)


TIMED = tomllib.loads(default_timed_path().read_text())


def test_timed_spec_refuses_every_invalid_edit(tmp_path: Path) -> None:
    """specs/timed.toml has no command-line option (verify --timed reads the
    embedded file), so its loader is called directly, on every single edit."""
    spec = load_spec()
    edits = invalid_edits(TIMED, Schema(free=TEXT | {"name"}))
    assert len(edits) > 50
    accepted = []
    for n, edit in enumerate(edits):
        path = tmp_path / f"timed{n}.toml"
        path.write_text(to_toml(apply(TIMED, edit)), encoding="utf-8", errors="surrogatepass")
        try:
            load_timed(spec, path)
        except InputError as exc:
            assert "\n" not in str(exc) and str(path) in str(exc), str(exc)
        else:
            accepted.append(edit.describe())
    assert not accepted, accepted
