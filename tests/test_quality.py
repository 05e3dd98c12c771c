"""The codebase stays `ruff` and `mypy` clean (pyproject.toml holds the config).

mypy cannot follow setuptools' package-directory mapping (``tcpcheck.model``
lives in ``model/``): left alone it would treat every ``tcpcheck`` import
as an unknown module and check nothing across modules. So the test stages
the installed layout with symbolic links in a temporary directory and
checks it there, naming files by their place in the repository.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PARTS = ("model", "tools", "specs")


def _require(tool: str) -> None:
    if shutil.which(tool) is None and subprocess.run([sys.executable, "-m", tool, "--version"],
                                                     capture_output=True).returncode:
        pytest.fail(f"{tool} is not installed: pip install -e '.[test]'")


def test_ruff_clean() -> None:
    _require("ruff")
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "tcpcheck", *PARTS[:2], "tests", "bench"],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_mypy_clean(tmp_path: Path) -> None:
    _require("mypy")
    package = tmp_path / "tcpcheck"
    package.mkdir()
    for module in (ROOT / "tcpcheck").glob("*.py"):
        (package / module.name).symlink_to(module)
    for part in PARTS:
        (package / part).symlink_to(ROOT / part, target_is_directory=True)
    bench = sorted(str(p) for p in (ROOT / "bench").glob("*.py"))
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"), "--cache-dir",
         str(tmp_path / ".mypy_cache"), "tcpcheck", *bench],
        cwd=tmp_path, capture_output=True, text=True,
    )
    report = result.stdout.replace("tcpcheck/model/", "model/").replace("tcpcheck/tools/", "tools/")
    assert result.returncode == 0, report[-4000:] + result.stderr[-2000:]
    checked = int(result.stdout.rsplit(" in ", 1)[1].split()[0])
    assert checked > len(bench) + 40, f"mypy saw too few files: {result.stdout}"


def test_mypy_sees_across_modules(tmp_path: Path) -> None:
    """A type error across a ``tcpcheck`` import is reported: the staging works."""
    _require("mypy")
    package = tmp_path / "tcpcheck"
    package.mkdir()
    (package / "__init__.py").symlink_to(ROOT / "tcpcheck" / "__init__.py")
    (package / "model").symlink_to(ROOT / "model", target_is_directory=True)
    probe = tmp_path / "probe.py"
    probe.write_text("from tcpcheck.model.spec import load_spec\nx: int = load_spec\n")
    result = subprocess.run([sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"),
                             "--cache-dir", str(tmp_path / ".mypy_cache"), "probe.py"],
                            cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 1 and "Incompatible types in assignment" in result.stdout, result.stdout
