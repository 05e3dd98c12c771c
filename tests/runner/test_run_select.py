"""`tcpcheck run --list`, `-k EXPR` (checked against pytest's own -k) and
`--junit-xml` (validated against the JUnit schema CI systems read)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import xmlschema
from click.testing import CliRunner

from tcpcheck.model.errors import InputError
from tcpcheck.tools.cli import main
from tcpcheck.tools.cli.keywords import compile_keywords
from tcpcheck.tools.runner.harness import Harness
from tcpcheck.tools.runner.suite import builtin_suite

JUNIT = xmlschema.XMLSchema(str(Path(__file__).resolve().parents[1] / "schemas" / "junit.xsd"))


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["run", *args])
    return result.exit_code, result.stdout, result.stderr


def test_list_names_every_scenario_with_the_transitions_it_covers() -> None:
    code, out, _ = _run("--list")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["scenario", "steps", "slow", "transitions", "covered"]
    for s in builtin_suite():
        row = next(line for line in lines if line.split()[:1] == [s.name])
        assert all(t in row for t in s.transitions), row
    assert lines[-1].startswith(f"{len(builtin_suite())} scenarios")
    code, out, _ = _run("--list", "--json", "active_open", "passive_open")
    doc = json.loads(out)
    by_name = {s.name: s for s in builtin_suite()}
    assert [(s["name"], s["transitions"]) for s in doc["scenarios"]] == [
        (n, list(by_name[n].transitions)) for n in ("active_open", "passive_open")]


@pytest.mark.parametrize("expression", ["time_wait and not rst", "(open or close) and not simultaneous",
                                        "not abort and (fin or FIN_WAIT)"])
def test_k_selects_what_pytest_k_selects(expression: str, tmp_path: Path) -> None:
    """The same names, the same expression: pytest's own -k and ours choose alike."""
    names = [s.name for s in builtin_suite()]
    (tmp_path / "test_names.py").write_text("".join(f"def test_{n}():\n    pass\n" for n in names))
    collected = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                                "-p", "no:tcpcheck", "-k", expression, "test_names.py"],
                               capture_output=True, text=True, cwd=tmp_path, check=False)
    theirs = sorted(line.split("::test_", 1)[1] for line in collected.stdout.splitlines() if "::test_" in line)
    matches = compile_keywords(expression)
    ours = sorted(n for n in names if matches([n]))
    assert ours == theirs and ours
    code, out, _ = _run("--list", "--json", "-k", expression)
    listed = json.loads(out)
    assert code == 0 and listed["deselected"] == len(names) - len(listed["scenarios"])


def test_k_matches_transitions_and_slow_too() -> None:
    code, out, _ = _run("--list", "--json", "-k", "slow")
    assert [s["name"] for s in json.loads(out)["scenarios"]] == ["time_wait_expires"]
    code, out, _ = _run("--list", "--json", "-k", "CLOSE_WAIT--FIN")
    assert [s["name"] for s in json.loads(out)["scenarios"]] == ["close_wait_fin_again"]


@pytest.mark.parametrize("expression", ["", "a and", "(a or b", "a b", "and a", ")"])
def test_bad_k_is_one_line(expression: str) -> None:
    with pytest.raises(InputError):
        compile_keywords(expression)
    code, _, err = _run("--list", "-k", expression)
    assert code == 2 and err.startswith("tcpcheck: -k: ") and err.count("\n") == 1


def test_junit_path_is_checked_before_any_work(tmp_path: Path) -> None:
    code, out, err = _run("active_open", "--junit-xml", str(tmp_path / "missing" / "out.xml"))
    assert code == 2 and out == "" and "does not exist" in err and err.count("\n") == 1
    code, out, err = _run("active_open", "--junit-xml", str(tmp_path))
    assert code == 2 and "is a directory" in err and err.count("\n") == 1


def test_pytests_own_junit_matches_the_schema(tmp_path: Path) -> None:
    """The schema is the format CI reads, not one fitted to our writer: real pytest output passes it."""
    (tmp_path / "test_x.py").write_text("import pytest\n\ndef test_ok():\n    pass\n\ndef test_bad():\n"
                                        "    assert 1 == 2\n\n@pytest.mark.skip(reason='no')\ndef test_skip():\n"
                                        "    pass\n")
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:tcpcheck",
                    "--junit-xml=out.xml", "test_x.py"], capture_output=True, cwd=tmp_path, check=False)
    JUNIT.validate(str(tmp_path / "out.xml"))


def test_junit_xml_validates_and_tells_each_outcome(tcp_harness: Harness, tmp_path: Path) -> None:
    suite = tmp_path / "s.json"
    wrong = {"name": "wrong", "transitions": ["CLOSED--connect-->SYN_SENT"],
             "steps": [{"kind": "call", "op": "connect"}, {"kind": "expect", "segment": "FIN"}]}
    suite.write_text(json.dumps([wrong]))
    out = tmp_path / "junit.xml"
    code, _, _ = _run("active_open", "close_with_unread_data", "time_wait_expires", str(suite),
                      "--junit-xml", str(out))
    assert code == 1
    JUNIT.validate(str(out))
    doc = JUNIT.to_dict(str(out))
    cases = {c["@name"]: c for c in doc["testsuite"][0]["testcase"]}
    assert sorted(cases) == ["active_open", "close_with_unread_data", "time_wait_expires", "wrong"]
    assert "failure" in cases["wrong"] and "expected FIN" in cases["wrong"]["failure"]["@message"]
    assert "skipped" in cases["time_wait_expires"]
    assert "failure" not in cases["close_with_unread_data"]
    assert "close_with_unread_data" in cases["close_with_unread_data"]["system-out"]
    suite_attrs = doc["testsuite"][0]
    assert (suite_attrs["@tests"], suite_attrs["@failures"], suite_attrs["@skipped"]) == (4, 1, 1)
