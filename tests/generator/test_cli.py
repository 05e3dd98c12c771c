"""`tcpcheck generate`: output, determinism, the committed files, bad input."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from tcpcheck.tools.cli import main

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "generated_tests"


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


def _generate(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["generate", *args])
    return result.exit_code, result.stdout, result.stderr


def test_committed_generated_tests_are_up_to_date(tmp_path: Path) -> None:
    # What CI checks: regenerating gives exactly the committed files.
    code, out, err = _generate("--out", str(tmp_path / "g"))
    assert code == 0, out + err
    fresh, committed = _files(tmp_path / "g"), _files(COMMITTED)
    stale = sorted(set(committed) ^ set(fresh)) + sorted(k for k in fresh if k in committed and
                                                          fresh[k] != committed[k])
    assert not stale, f"generated_tests/ is out of date ({stale[:5]}...): run `tcpcheck generate`"


def test_generation_is_byte_identical(tmp_path: Path) -> None:
    for name in ("a", "b"):
        code, _, err = _generate("--out", str(tmp_path / name))
        assert code == 0, err
    assert _files(tmp_path / "a") == _files(tmp_path / "b")


def test_reports_coverage_and_what_it_wrote(tmp_path: Path) -> None:
    code, out, _ = _generate("--criterion", "transitions", "--criterion", "tour", "--format", "pytest",
                             "--out", str(tmp_path))
    assert code == 0
    assert "transitions" in out and "tour" in out and "Chinese-postman optimum" in out
    assert "LISTEN--send-->SYN_SENT: profile linux: the sockets API has no SEND on a listening socket" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["conftest.py", "test_generated_tour.py",
                                                            "test_generated_transitions.py"]
    code, out, _ = _generate("--criterion", "states", "--format", "packetdrill", "--out", str(tmp_path), "--json")
    doc = json.loads(out)
    assert code == 0 and doc["suites"][0]["criterion"] == "states" and doc["suites"][0]["coverage"] == 1.0
    # A second run adds its files and keeps the others.
    assert len(list((tmp_path / "packetdrill").glob("states_*.pkt"))) == doc["suites"][0]["scenarios"]
    assert (tmp_path / "test_generated_tour.py").exists()


def test_bad_input_is_one_line_and_leaves_the_output_alone(tmp_path: Path) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (out_dir / "keep.txt").write_text("untouched")
    bad_spec = tmp_path / "bad.toml"
    bad_spec.write_text("[machine]\ninitial = 'NOWHERE'\n[[state]]\nname = 'A'\nsynchronized = false\n")
    for args in (["--profile", "nosuchstack"], ["--spec", str(bad_spec)]):
        code, out, err = _generate(*args, "--out", str(out_dir))
        assert code == 2, out + err
        assert len(err.strip().splitlines()) == 1 and err.startswith("tcpcheck: ")
        assert "Traceback" not in out + err
    assert [p.name for p in out_dir.iterdir()] == ["keep.txt"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]


def test_output_does_not_depend_on_hash_seeds(tmp_path: Path) -> None:
    # Sets of strings iterate in a per-process order: none may leak into the files.
    import os
    import subprocess
    import sys

    for seed in ("1", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        command = [sys.executable, "-c", "from tcpcheck.tools.cli import main; main()", "generate",
                   "--criterion", "pairs", "--criterion", "wp", "--out", str(tmp_path / seed)]
        done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=ROOT)
        assert done.returncode == 0, done.stderr
    assert _files(tmp_path / "1") == _files(tmp_path / "4242")
