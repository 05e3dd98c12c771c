"""The pytest plugin, exercised in a separate pytest process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tcpcheck.tools.runner.pcap import read_pcap

_TEST = '''
def test_open(tcp_stack, tcp_peer):
    tcp_stack.connect()
    tcp_peer.expect("SYN")
    assert tcp_stack.state == "SYN_SENT"
'''
_NO_ROOT = '''
import tcpcheck.tools.runner.netns as netns
netns.unavailable_reason = lambda: "tcpcheck runner needs root (to create a network namespace and a TUN device)"
'''


def _pytest(directory: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k != "TCPCHECK_REQUIRE_NETNS"}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "-p", "no:xdist", str(directory),
         *args], capture_output=True, text=True, env=full_env, cwd=directory,
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "test_it.py").write_text(_TEST)
    return tmp_path


def test_pcap_option_writes_one_file_per_test(project: Path, tcp_harness: object) -> None:
    out = project / "pcaps"
    done = _pytest(project, "--tcpcheck-pcap", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    (pcap,) = out.iterdir()
    assert pcap.name.endswith("test_open.pcap")
    assert len(read_pcap(pcap)) == 1  # the SYN


def test_without_root_skips_with_one_line(project: Path) -> None:
    (project / "conftest.py").write_text(_NO_ROOT)
    done = _pytest(project)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 skipped" in done.stdout
    assert "SKIPPED [1] " in done.stdout and "tcpcheck runner needs root" in done.stdout
    assert "Traceback" not in done.stdout


def test_required_netns_turns_the_skip_into_a_failure(project: Path) -> None:
    (project / "conftest.py").write_text(_NO_ROOT)
    done = _pytest(project, env={"TCPCHECK_REQUIRE_NETNS": "1"})
    assert done.returncode == 1
    assert "tcpcheck runner needs root" in done.stdout
    assert "TCPCHECK_REQUIRE_NETNS=1" in done.stdout


def test_plugin_registers_only_namespaced_names(project: Path) -> None:
    """Loaded into every pytest run of the environment, the plugin adds only
    ``tcpcheck``-prefixed markers and options; ``slow`` belongs to the
    generated suites' own conftest."""
    done = _pytest(project, "--markers")
    assert "@pytest.mark.tcpcheck_sysctls" in done.stdout
    assert "@pytest.mark.slow" not in done.stdout
    conftest = Path(__file__).resolve().parents[2] / "generated_tests" / "conftest.py"
    (project / "conftest.py").write_text(conftest.read_text())
    generated = _pytest(project, "--markers")
    assert "@pytest.mark.slow" in generated.stdout
