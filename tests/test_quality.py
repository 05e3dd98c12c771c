"""The codebase stays `ruff` and `mypy` clean (pyproject.toml holds the config)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "command",
    [
        [sys.executable, "-m", "ruff", "check", "model", "tools", "tests", "bench"],
        [sys.executable, "-m", "mypy", "model", "tools", "bench"],
    ],
    ids=["ruff", "mypy"],
)
def test_clean(command: list[str]) -> None:
    if shutil.which(command[2]) is None and subprocess.run(command[:3] + ["--version"], capture_output=True).returncode:
        pytest.fail(f"{command[2]} is not installed: pip install -e '.[test]'")
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
