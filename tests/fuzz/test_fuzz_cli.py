"""Hypothesis fuzzing of every input format through the real command line, in process.

For every generated document: the exit status is 0, 1, 2 or 3; no Python
exception escapes (a traceback); an exit 2 is exactly one line on stderr;
and nothing is written outside the output path given. The default run
draws a few dozen documents per format (seconds); ``-m slow`` runs the long
profile (``FUZZ_EXAMPLES``, 400 per format by default).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tcpcheck.tools.cli import main
from tests.fuzz.formats import MUTANT, PROFILE, PROPERTIES, RUN, SCENARIOS, SPEC, edited, to_toml

FAST = settings(max_examples=12, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))
LONG = settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", "400")), deadline=None, database=None,
                suppress_health_check=list(HealthCheck))


def _listing(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def run_cli(work: Path, name: str, content: str, args: Callable[[Path, Path], list[str]]) -> Result:
    """Write ``content`` as ``name`` in a fresh folder and run the command on it;
    check the invariants of the module's docstring; the command's result."""
    for old in work.iterdir() if work.exists() else ():
        if old.is_dir():
            import shutil

            shutil.rmtree(old)
        else:
            old.unlink()
    work.mkdir(exist_ok=True)
    source, out = work / name, work / "out"
    source.write_text(content, encoding="utf-8", errors="surrogatepass")
    before = _listing(work)
    cwd = os.getcwd()
    os.chdir(work)  # a relative path written by mistake lands here, where it is seen
    try:
        result = CliRunner().invoke(main, args(source, out), catch_exceptions=True)
    finally:
        os.chdir(cwd)
    exc = result.exception
    if exc is not None and not isinstance(exc, SystemExit):
        import traceback

        where = "".join(traceback.format_tb(result.exc_info[2])[-2:]) if result.exc_info else ""
        raise AssertionError(f"traceback: {type(exc).__name__}: {str(exc)[:300]}\n{where}\ninput: {content[:1500]}")
    assert result.exit_code in (0, 1, 2, 3), (result.exit_code, result.output)
    if result.exit_code == 2:
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith("tcpcheck: "), lines[0]
    extra = {p for p in _listing(work) - before if not (p == "out" or p.startswith("out/"))}
    assert not extra, f"wrote outside the output path: {extra}"
    return result


def _spec_args(source: Path, out: Path) -> list[str]:
    return ["export", "--promela", str(out), "--spec", str(source), "--bound", "1"]


FORMATS: dict[str, tuple[Any, Callable[[Any], str], str, Callable[[Path, Path], list[str]]]] = {
    "spec": (SPEC, to_toml, "spec.toml", _spec_args),
    "spec-diagram": (SPEC, to_toml, "spec.toml",
                     lambda s, o: ["diagram", "--spec", str(s), "--format", "dot", "-o", str(o)]),
    "properties": (PROPERTIES, to_toml, "props.toml",
                   lambda s, o: ["export", "--promela", str(o), "--properties", str(s), "--bound", "1"]),
    "mutant": (MUTANT, to_toml, "mutant.toml", _spec_args),
    "profile": (PROFILE, to_toml, "profile.toml",
                lambda s, o: ["generate", "--profile", str(s), "--criterion", "states", "--format", "json",
                              "--out", str(o)]),
    "scenarios": (SCENARIOS, json.dumps, "suite.json", lambda s, o: ["run", "--list", str(s)]),
    "run.json": (RUN, json.dumps, "run.json", lambda s, o: ["diagram", "--coverage", str(s), "--format", "dot",
                                                            "-o", str(o)]),
    "run.json-report": (RUN, json.dumps, "run.json", lambda s, o: ["report", str(s), "-o", str(o)]),
}


def _fuzz(fmt: str, profile: settings, tmp_path: Path) -> None:
    base, dump, name, args = FORMATS[fmt]

    @profile
    @given(edited(base))
    def case(doc: Any) -> None:
        run_cli(tmp_path / "work", name, dump(doc), args)

    case()


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_fuzz_fast(fmt: str, tmp_path: Path) -> None:
    _fuzz(fmt, FAST, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_fuzz_long(fmt: str, tmp_path: Path) -> None:
    _fuzz(fmt, LONG, tmp_path)


@given(st.binary(max_size=300))
@FAST
def test_fuzz_raw_bytes_as_a_spec(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    work = tmp_path_factory.mktemp("raw")
    (work / "spec.toml").write_bytes(data)
    result = CliRunner().invoke(main, ["diagram", "--spec", str(work / "spec.toml"), "--format", "dot",
                                       "-o", str(work / "out")])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code in (0, 2)
