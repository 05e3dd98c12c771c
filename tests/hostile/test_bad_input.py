"""Bad input through the real command line: one line naming the file and field, exit 2.

Each case here was accepted, hung or ended in a traceback before (issue 18).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from tcpcheck.model.spec import default_spec_path
from tcpcheck.tools.cli import main


def one_line_exit_2(args: list[str], *needles: str) -> str:
    result = CliRunner().invoke(main, args)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def test_a_device_is_not_read(tmp_path: Path) -> None:
    one_line_exit_2(["diagram", "--spec", "/dev/zero", "-o", str(tmp_path / "d.dot")], "/dev/zero",
                    "not a regular file")
    assert not (tmp_path / "d.dot").exists()


def test_a_mutant_whose_base_is_a_fifo(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")
    mutant = tmp_path / "m.toml"
    mutant.write_text('[mutant]\nbase = "fifo"\n[[mutant.change]]\ntransition = "x"\nremove = true\n')
    one_line_exit_2(["verify", "--spec", str(mutant)], "fifo", "not a regular file")


def test_remove_must_be_a_boolean(tmp_path: Path) -> None:
    mutant = tmp_path / "m.toml"
    mutant.write_text('[mutant]\nbase = "embedded"\n[[mutant.change]]\n'
                      'transition = "CLOSE_WAIT--close-->LAST_ACK"\nremove = "no"\n')
    one_line_exit_2(["verify", "--spec", str(mutant)], f"{mutant}:5:", "'remove'", "true or false")


def test_an_unknown_mutant_field(tmp_path: Path) -> None:
    mutant = tmp_path / "m.toml"
    mutant.write_text('[mutant]\nbase = "embedded"\n[[mutant.change]]\n'
                      'transition = "CLOSE_WAIT--close-->LAST_ACK"\ntoo = "TIME_WAIT"\n')
    one_line_exit_2(["verify", "--spec", str(mutant)], f"{mutant}:5:", "'too'")


@pytest.mark.parametrize("table,line", [("[[event]]", 'colour = "red"'), ("[[segment]]", 'colour = "red"'),
                                        ("[machine]", 'colour = "red"'), ("[[signal]]", 'colour = "red"')])
def test_unknown_spec_fields(tmp_path: Path, table: str, line: str) -> None:
    text = default_spec_path().read_text()
    at = text.index("\n" + table) + 1 + len(table)
    path = tmp_path / "spec.toml"
    path.write_text(text[:at] + "\n" + line + text[at:])
    one_line_exit_2(["diagram", "--spec", str(path), "--format", "dot"], str(path), "'colour'")


def test_a_property_unless_naming_no_option(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text('[[property]]\nname = "x"\nkind = "invariant"\nexpr = "true"\nexpect = "holds"\n'
                    'rfc = "RFC 9293"\nunless = "rfc1338"\n')
    one_line_exit_2(["verify", "--properties", str(path)], "rfc1338")


def test_an_unknown_profile_field(tmp_path: Path) -> None:
    path = tmp_path / "prof.toml"
    path.write_text('[profile]\nname = "p"\nstack = "s"\n[[deviation]]\nid = "d"\nreference = "r"\n'
                    'kind = "note"\ntransiton = "CLOSED--listen-->LISTEN"\n')
    one_line_exit_2(["generate", "--profile", str(path), "--criterion", "states", "--out", str(tmp_path / "g")],
                    "'transiton'")
    assert not (tmp_path / "g").exists()


@pytest.mark.parametrize("doc", [
    [], {"results": [{"scenario": "s", "verdict": "pass", "steps": ["not an object"]}]},
    {"results": [{"scenario": "s", "verdict": "pass", "sysctls": [1]}]},
    {"results": [], "summary": {"seconds": "slow"}},
    {"results": [], "properties": [{"runs": "many"}]},
    {"runs": "x"}, {"runs": [{"results": []}]},
    {"results": [{"scenario": "s", "verdict": "pass", "transitions": [1]}]},
], ids=lambda d: json.dumps(d)[:40])
@pytest.mark.parametrize("command", ["report", "diagram"])
def test_malformed_run_json(tmp_path: Path, doc: object, command: str) -> None:
    path = tmp_path / "run.json"
    path.write_text(json.dumps(doc))
    out = tmp_path / "out.html"
    args = ["report", str(path), "-o", str(out)] if command == "report" else \
        ["diagram", "--coverage", str(path), "--format", "dot", "-o", str(out)]
    one_line_exit_2(args, str(path))
    assert not out.exists()


def test_deeply_nested_json(tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    path.write_text("[" * 100000 + "]" * 100000)
    one_line_exit_2(["report", str(path), "-o", str(tmp_path / "r.html")], "nested too deeply")
