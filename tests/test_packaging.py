"""tcpcheck installs as one package, ``tcpcheck``, and lives peacefully beside
other distributions: a wheel in a fresh virtual environment, next to a
dummy distribution that ships the generic top-level names ``tools`` and
``model``, still verifies, and the dummy's own tests still run with our
pytest plugin loaded.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_every_package_folder_is_listed() -> None:
    """setuptools installs only the packages pyproject names: a folder with an
    ``__init__.py`` left off the list would vanish from the wheel."""
    setuptools = PYPROJECT["tool"]["setuptools"]
    found = set()
    for package, folder in setuptools["package-dir"].items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            if "__pycache__" not in rel.parts:
                found.add(".".join((package, *rel.parts)))
    assert found == set(setuptools["packages"])


_DUMMY_SETUP = """
from setuptools import setup
setup(name="dummy-generic-names", version="1.0", packages=["tools", "model"])
"""
_DUMMY_TEST = """
import sys

def test_own_tools_package():
    from tools import WHO
    from model import WHO as MODEL_WHO
    assert (WHO, MODEL_WHO) == ("dummy tools", "dummy model")

def test_our_plugin_stays_idle():
    # Loaded by the entry point, the plugin imports nothing of tcpcheck
    # beyond itself while no test asks for its fixtures.
    loaded = sorted(m for m in sys.modules if m.startswith("tcpcheck"))
    assert loaded == ["tcpcheck", "tcpcheck.tools", "tcpcheck.tools.pytest_plugin"], loaded
"""
_PLUGIN_TEST = """
def test_the_fixture_comes_from_the_wheel(tcp_harness):
    import tcpcheck
    assert "site-packages" in tcpcheck.__file__
    assert type(tcp_harness).__name__ == "Harness"
"""


def _run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600, env=env)


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv holding the tcpcheck wheel and the dummy distribution."""
    work = tmp_path_factory.mktemp("wheel")
    wheels = work / "wheels"
    built = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(ROOT)], cwd=work)
    assert built.returncode == 0, built.stderr[-3000:]
    dummy = work / "dummy"
    for package in ("tools", "model"):
        (dummy / package).mkdir(parents=True)
        (dummy / package / "__init__.py").write_text(f"WHO = 'dummy {package}'\n")
    (dummy / "setup.py").write_text(_DUMMY_SETUP)
    (dummy / "test_dummy.py").write_text(_DUMMY_TEST)
    env_dir = work / "venv"
    made = _run([sys.executable, "-m", "venv", str(env_dir)], cwd=work)
    assert made.returncode == 0, made.stderr
    python = env_dir / "bin" / "python"
    wheel = next(wheels.glob("tcpcheck-*.whl"))
    installed = _run([str(python), "-m", "pip", "install", "-q", str(wheel), str(dummy)], cwd=work)
    assert installed.returncode == 0, installed.stderr[-3000:]
    return env_dir


def test_wheel_holds_one_top_level_package(venv: Path) -> None:
    wheel = next((venv.parent / "wheels").glob("tcpcheck-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"tcpcheck"}
    assert "tcpcheck/specs/tcp.toml" in names and "tcpcheck/specs/profiles/linux.toml" in names
    metadata = next(n for n in names if n.endswith("dist-info/METADATA"))
    text = zipfile.ZipFile(wheel).read(metadata).decode()
    assert "License-Expression: MIT" in text


def test_verify_runs_beside_generic_names(venv: Path, tmp_path: Path) -> None:
    tcpcheck = venv / "bin" / "tcpcheck"
    done = _run([str(tcpcheck), "verify"], cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "as expected" in done.stdout
    version = _run([str(venv / "bin" / "python"), "-m", "tcpcheck", "--version"], cwd=tmp_path)
    assert version.returncode == 0 and version.stdout.strip() == f"tcpcheck, version {PYPROJECT['project']['version']}"


def test_dummy_tests_run_with_our_plugin_loaded(venv: Path) -> None:
    dummy = venv.parent / "dummy"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    done = _run([str(venv / "bin" / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_dummy.py"],
                cwd=dummy, env=env)
    assert done.returncode == 0, done.stdout[-3000:]
    assert "2 passed" in done.stdout
    listed = _run([str(venv / "bin" / "python"), "-m", "pytest", "--help"], cwd=dummy, env=env)
    assert "--tcpcheck-pcap" in listed.stdout


def test_plugin_fixture_from_the_wheel(venv: Path, tmp_path: Path) -> None:
    """The plugin's fixtures work from an installed wheel (needs root, like every runner test)."""
    from tcpcheck.tools.runner.netns import unavailable_reason

    reason = unavailable_reason()
    if reason:
        if os.environ.get("TCPCHECK_REQUIRE_NETNS") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    (tmp_path / "test_plugin_use.py").write_text(_PLUGIN_TEST)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    done = _run([str(venv / "bin" / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider",
                 "test_plugin_use.py"], cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stdout[-3000:]
