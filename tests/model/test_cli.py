"""`tcpcheck verify`: exit codes, the JSON contract, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from tcpcheck.tools.cli import main

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["verify", *args])
    return result.exit_code, result.stdout, result.stderr


def test_json_contract_on_the_embedded_spec() -> None:
    code, out, _ = run("--json")
    assert code == 0
    data = json.loads(out)
    assert set(data) >= {"model", "stats", "reachable", "pairs", "properties"}
    assert data["model"]["bound"] == 3 and data["model"]["note3"] is True
    assert set(data["stats"]) >= {"states", "transitions", "seconds"}
    assert len(data["reachable"]["A"]) == len(data["reachable"]["B"]) == 11
    for pair in (
        ["FIN_WAIT_2", "CLOSE_WAIT"],
        ["CLOSING", "CLOSING"],
        ["SYN_RCVD", "SYN_RCVD"],
        ["TIME_WAIT", "CLOSED"],
    ):
        assert pair in data["pairs"]
    naive = next(p for p in data["properties"] if p["name"] == "time_wait_naive")
    assert naive["verdict"] == "violated" and naive["engine"] == "explicit"
    assert any("RST" in step["sends"] for step in naive["counterexample"])
    assert all(p["verdict"] == p["expect"] for p in data["properties"])


def test_unexpected_verdict_exits_1() -> None:
    code, out, _ = run("--bound", "2", "--property", "no_deadlock")
    assert code == 1
    assert "no_deadlock violated" in out and "UNEXPECTED" in out


def test_table_shows_counterexample_steps() -> None:
    code, out, _ = run("--property", "time_wait_naive")
    assert code == 0
    assert "call abort -> sends RST" in out and "TIME_WAIT" in out


def bad(args: list[str], tmp_path: Path) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "tcpcheck", "verify", *args], capture_output=True, text=True, cwd=tmp_path
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def test_bad_inputs_are_one_line_exit_2(tmp_path: Path) -> None:
    props = tmp_path / "p.toml"
    props.write_text(
        '[[property]]\nname = "x"\nrfc = "RFC 9293 §3.6"\nkind = "invariant"\nexpr = "A.state == NOWHERE"\n'
        'expect = "holds"\n'
    )
    assert bad(["--properties", str(props)], tmp_path).startswith(f"tcpcheck: {props}:5: property 'x'")
    assert "no such file" in bad(["--spec", "missing.toml"], tmp_path)
    assert "between 1 and 6" in bad(["--bound", "0"], tmp_path)
    assert "NAME=on or NAME=off" in bad(["--option", "note3"], tmp_path)
    assert "unknown model option 'nope'" in bad(["--option", "nope=on"], tmp_path)
    assert "no property named" in bad(["--property", "nope"], tmp_path)
