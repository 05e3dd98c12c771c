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
    assert type(tcp_harness).__name__ == "LinuxStack"
"""


def _run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600, env=env)


def _install(work: Path) -> Path:
    """A fresh venv holding the tcpcheck wheel and the dummy distribution."""
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
    wheel = next(wheels.glob("tcpcheck-*.whl"))
    installed = _run([str(env_dir / "bin" / "python"), "-m", "pip", "install", "-q", str(wheel), str(dummy)], cwd=work)
    assert installed.returncode == 0, installed.stderr[-3000:]
    return env_dir


def test_wheel_in_a_fresh_venv_beside_generic_names(tmp_path: Path) -> None:
    """One test, not several sharing a fixture: under pytest-xdist a module
    fixture would build the wheel and the venv once per worker."""
    venv = _install(tmp_path)
    python = str(venv / "bin" / "python")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}

    # The wheel holds one top-level package, its spec data and the SPDX licence.
    wheel = zipfile.ZipFile(next((tmp_path / "wheels").glob("tcpcheck-*.whl")))
    names = wheel.namelist()
    assert {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")} == {"tcpcheck"}
    assert "tcpcheck/specs/tcp.toml" in names and "tcpcheck/specs/profiles/linux.toml" in names
    metadata = wheel.read(next(n for n in names if n.endswith("dist-info/METADATA"))).decode()
    assert "License-Expression: MIT" in metadata

    # tcpcheck verifies, beside a distribution that ships tools/ and model/.
    done = _run([str(venv / "bin" / "tcpcheck"), "verify"], cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    version = _run([python, "-m", "tcpcheck", "--version"], cwd=tmp_path)
    assert version.returncode == 0 and version.stdout.strip() == f"tcpcheck, version {PYPROJECT['project']['version']}"

    # The dummy's own tests pass with our plugin loaded, and the plugin stays idle.
    dummy = tmp_path / "dummy"
    done = _run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_dummy.py"], cwd=dummy, env=env)
    assert done.returncode == 0 and "2 passed" in done.stdout, done.stdout[-3000:]
    listed = _run([python, "-m", "pytest", "--help"], cwd=dummy, env=env)
    assert "--tcpcheck-pcap" in listed.stdout

    # The plugin's fixtures work from the wheel (root, like every runner test).
    from tcpcheck.tools.runner.netns import unavailable_reason

    reason = unavailable_reason()
    if reason:
        if os.environ.get("TCPCHECK_REQUIRE_NETNS") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    (tmp_path / "plugin").mkdir()
    (tmp_path / "plugin" / "test_plugin_use.py").write_text(_PLUGIN_TEST)
    done = _run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_plugin_use.py"],
                cwd=tmp_path / "plugin", env=env)
    assert done.returncode == 0, done.stdout[-3000:]
