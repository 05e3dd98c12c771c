"""``tcpcheck run``: matrix, JSON, pcaps, exit status, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tcpcheck.tools.cli.run import run
from tcpcheck.tools.runner.harness import Harness


def _invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(run, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_json_document(tcp_harness: Harness, tmp_path: Path) -> None:
    code, out, _ = _invoke("active_open", "close_with_unread_data", "--json", "--pcap", str(tmp_path))
    assert code == 0
    doc = json.loads(out)
    assert doc["stack"]["kernel"] and doc["stack"]["sysctls"]["net/ipv4/tcp_invalid_ratelimit"] == "0"
    assert [(r["scenario"], r["verdict"]) for r in doc["results"]] == [
        ("active_open", "pass"), ("close_with_unread_data", "deviation")]
    assert {"scenario", "transitions", "verdict", "steps", "seconds"} <= set(doc["results"][0])
    assert doc["summary"]["fail"] == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["active_open.pcap", "close_with_unread_data.pcap"]


def test_human_matrix(tcp_harness: Harness) -> None:
    code, out, _ = _invoke("rst_in_time_wait_rfc1337")
    assert code == 0
    assert "TIME_WAIT--RST-->CLOSED" in out and "rfc1337_ignores_rst_in_time_wait" in out
    assert "LISTEN--send-->SYN_SENT" in out and "not drivable" in out


def test_failure_exits_1(tcp_harness: Harness, tmp_path: Path) -> None:
    suite = tmp_path / "s.json"
    suite.write_text(json.dumps([{"name": "wrong", "steps": [
        {"kind": "call", "op": "connect"}, {"kind": "expect", "segment": "FIN"}]}]))
    code, out, _ = _invoke(str(suite))
    assert code == 1
    assert "fail" in out


@pytest.mark.parametrize(("args", "message"), [
    (("no_such_scenario",), "no_such_scenario: unknown scenario; use a JSON suite file or one of: passive_open"),
    (("missing.json",), "missing.json: no such file; pass a JSON scenario file"),
])
def test_bad_input_is_one_line(args: tuple[str, ...], message: str) -> None:
    code, out, err = _invoke(*args)
    assert code == 2
    assert err.startswith(f"tcpcheck: {message}")
    assert err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize(("field", "value", "message"), [
    ("transitions", ["NOWHERE--x-->CLOSED"], "scenario s: unknown transition 'NOWHERE--x-->CLOSED'"),
    ("sysctls", {"tcp_no_such_thing": "1"}, "scenario s: unknown sysctl 'tcp_no_such_thing'"),
])
def test_bad_suite_content_is_one_line(tmp_path: Path, field: str, value: object, message: str) -> None:
    suite = tmp_path / "s.json"
    suite.write_text(json.dumps([{"name": "s", "steps": [{"kind": "call", "op": "listen"}], field: value}]))
    code, _, err = _invoke(str(suite))
    assert code == 2
    assert err.startswith(f"tcpcheck: {message}") and err.count("\n") == 1


def test_without_root_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    import tcpcheck.tools.runner.netns as netns

    monkeypatch.setattr(netns, "unavailable_reason", lambda: "tcpcheck runner needs root (to create ...)")
    code, _, err = _invoke("active_open")
    assert code == 2
    assert err == "tcpcheck: run: tcpcheck runner needs root (to create ...)\n"


def test_parallel_full_run_all_pass_or_deviation(tcp_harness: Harness) -> None:
    """The whole default suite in 2 worker processes, as CI runs it."""
    done = subprocess.run([sys.executable, "-m", "tcpcheck", "run", "-j", "2", "--json"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert {r["verdict"] for r in doc["results"]} <= {"pass", "deviation", "not drivable"}
    assert [r["scenario"] for r in doc["results"] if r["verdict"] == "not drivable"] == ["passive_syn_rcvd_close"]
    assert doc["summary"]["transitions"].get("not covered", 0) == 0
