"""The README's test command: it deselects the `slow` tests, says so, and says how many."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_says_slow_tests_are_deselected_and_how_to_run_them() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "python -m pytest -q -n 2" in readme
    assert re.search(r"deselects the tests marked\s+`slow`", readme)
    assert "python -m pytest -q -n 2 -m slow" in readme
    assert "-m 'not slow" in (ROOT / "pyproject.toml").read_text()  # and not heavy


def test_summary_line_counts_deselected_tests_under_xdist(tmp_path: Path) -> None:
    (tmp_path / "test_x.py").write_text(
        "import pytest\n\ndef test_fast():\n    pass\n\n@pytest.mark.slow\ndef test_slow_a():\n    pass\n\n"
        "@pytest.mark.slow\ndef test_slow_b():\n    pass\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for workers in (["-n", "2"], []):
        done = subprocess.run([sys.executable, "-m", "pytest", "-q", *workers, "-m", "not slow", "-p", "conftest",
                               "-p", "no:cacheprovider", "-p", "no:tcpcheck",
                               "-W", "ignore::pytest.PytestUnknownMarkWarning", "test_x.py"],
                              capture_output=True, text=True, cwd=tmp_path, env=env, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        assert re.search(r"^1 passed, 2 deselected in ", done.stdout.strip().splitlines()[-1]), done.stdout
