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
    skipped = {p["name"] for p in data["properties"] if p["verdict"] == "skipped"}
    # only with implementation on; only with Note 3 off (on by default)
    assert skipped == {"time_wait_reopened_by_syn", "orphan_fin_wait_2_times_out", "abort_closes"}
    assert all(p["verdict"] == p["expect"] for p in data["properties"] if p["name"] not in skipped)


def test_unexpected_verdict_exits_1() -> None:
    code, out, _ = run("--bound", "2", "--property", "no_deadlock")
    assert code == 1
    assert "no_deadlock violated" in out and "UNEXPECTED" in out


def test_table_shows_counterexample_steps() -> None:
    code, out, _ = run("-v", "--property", "time_wait_naive")
    assert code == 0
    assert "call abort -> sends RST" in out and "TIME_WAIT" in out


def _table(out: str) -> tuple[list[str], list[list[str]]]:
    """Headers and rows of the verdict table (column widths from its dashed rule)."""
    lines = out.splitlines()
    rule = next(n for n, line in enumerate(lines) if line.startswith("---") and lines[n - 1].startswith("property"))
    spans, pos = [], 0
    for dashes in lines[rule].split("  "):
        spans.append((pos, pos + len(dashes)))
        pos += len(dashes) + 2
    cut = [[line[a:b].strip() if i < len(spans) - 1 else line[a:].strip() for i, (a, b) in enumerate(spans)]
           for line in lines[rule - 1:]]
    end = next((n for n, line in enumerate(lines[rule + 1:]) if not line.strip()), len(lines))
    return cut[0], cut[2:2 + end]


def test_first_screen_explains_itself() -> None:
    """The spec by its short name, every option with its meaning, every column headed, negative
    controls said to be expected (their counterexample only with -v)."""
    from tcpcheck.model import load_properties, load_spec

    spec, props = load_spec(), {p.name: p for p in load_properties()}
    code, out, _ = run()
    assert code == 0
    first = out.splitlines()[0]
    assert "embedded RFC 9293 spec" in first and "/" not in first
    for name, default in spec.options.items():
        line = next(line for line in out.splitlines() if line.strip().startswith(f"{name}="))
        assert line.split()[0] == f"{name}={'on' if default else 'off'}"
        assert spec.option_help[name] in line
    headers, rows = _table(out)
    assert all(headers) and len(rows) == len(props)
    controls = [r for r in rows if props[r[0]].expect == "violated"]
    assert controls, "the embedded set has a negative control"
    for row in controls:
        assert row[2].startswith("violated") and "meant to fail" in row[3]
        assert f"{row[0]}: violated" in out and "as expected" in out
    assert "#  who  action" not in out and "printed with -v" in out
    assert "UNEXPECTED" not in out and "meant to fail" in out.splitlines()[-1] + out

    code, out, _ = run("-v")
    assert code == 0
    headers, rows = _table(out)
    assert headers[-1] == "description" and all(headers)
    for row in rows:
        assert row[-1] == props[row[0]].description
    assert "#  who  action" in out  # the negative control's counterexample
    assert "in the model: ESTABLISHED--abort(note3)-->TIME_WAIT" in out


def test_readme_note3_example_ends_as_the_readme_says() -> None:
    readme = (ROOT / "README.md").read_text()
    line = next(line for line in readme.splitlines() if "tcpcheck verify --option note3=off" in line)
    command, _, claim = line.strip().partition("#")
    assert "time_wait_naive holds" in claim and "as expected" in claim, line
    code, out, _ = run(*command.split()[2:])
    assert code == 0, out
    row = next(r for r in _table(out)[1] if r[0] == "time_wait_naive")
    assert row[1:4] == ["holds (note3=off)", "holds", "ok"]
    assert out.strip().splitlines()[-1].startswith("all ") and "as expected" in out.strip().splitlines()[-1]


def test_expect_with_is_validated(tmp_path: Path) -> None:
    props = tmp_path / "p.toml"
    body = ('[[property]]\nname = "x"\nrfc = "RFC 9293 §3.3.2"\nkind = "invariant"\nexpr = "A.state == CLOSED"\n'
            'expect = "holds"\n')
    props.write_text(body + 'expect_with = { "note3" = "holds" }\n')
    assert "NAME=on or NAME=off" in bad(["--properties", str(props)], tmp_path)
    props.write_text(body + 'expect_with = { "nope=on" = "holds" }\n')
    assert "unknown option 'nope'" in bad(["--properties", str(props)], tmp_path)
    props.write_text(body + 'expect_with = { "note3=on" = "maybe" }\n')
    assert "'holds' or 'violated'" in bad(["--properties", str(props)], tmp_path)


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
