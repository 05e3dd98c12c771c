"""The minimal inputs the fuzz harness found crashing (a traceback) or
printing more than one line, kept as regression tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tcpcheck.model.spec import default_spec_path
from tests.fuzz.formats import PROFILE, RUN, to_toml
from tests.fuzz.test_fuzz_cli import run_cli


def _run(**change: object) -> str:
    doc = json.loads(json.dumps(RUN))
    for dotted, value in change.items():
        *head, last = dotted.split("__")
        target = doc
        for key in head:
            target = target[int(key)] if key.isdigit() else target[key]
        target[int(last) if last.isdigit() else last] = value
    return json.dumps(doc)


def _profile(**deviation: object) -> str:
    doc = json.loads(json.dumps(PROFILE))
    doc["deviation"][0].update(deviation)
    return to_toml(doc)


def _spec(old: str, new: str) -> str:
    text = default_spec_path().read_text()
    assert old in text
    return text.replace(old, new, 1)


def _props(expr: str) -> str:
    """A properties file of one property, with ``expr``."""
    return (f'[[property]]\nname = "p"\nrfc = "RFC 9293 §3.5"\nkind = "invariant"\nexpect = "holds"\n'
            f"expr = {json.dumps(expr)}\n")


def _export(s: Path, o: Path) -> list[str]:
    return ["export", "--promela", str(o), "--properties", str(s), "--bound", "1"]


def _report(s: Path, o: Path) -> list[str]:
    return ["report", str(s), "-o", str(o)]


def _generate(s: Path, o: Path) -> list[str]:
    return ["generate", "--profile", str(s), "--criterion", "states", "--format", "json", "--out", str(o)]


def _diagram(s: Path, o: Path) -> list[str]:
    return ["diagram", "--spec", str(s), "--format", "dot", "-o", str(o)]


CORPUS = {
    "step is a number": ("run.json", _run(results__0__steps__0=1), _report),
    "step is a list": ("run.json", _run(results__0__steps__0=[]), _report),
    "step is a string": ("run.json", _run(results__0__steps__0="x"), _report),
    "summary seconds is a list": ("run.json", _run(summary={"seconds": []}), _report),
    "result seconds is text": ("run.json", _run(results__0__seconds="\U0006ec93\x1f"), _report),
    "lone surrogate in a sysctl": ("run.json", _run(results__1__sysctls={"\ud800": ""}), _report),
    "instead.sends is a number": ("profile.toml", _profile(instead={"to": "CLOSED", "sends": 1}), _generate),
    "instead.sends is a boolean": ("profile.toml", _profile(instead={"to": "CLOSED", "sends": True}), _generate),
    "initial is a list": ("spec.toml", _spec('initial = "CLOSED"', 'initial = ["CLOSED"]'), _diagram),
    "sends holds a table": ("spec.toml", _spec('sends = ["SYN"]', "sends = [{}]"), _diagram),
    # The expression language recursed once per bracket, 'not', function and chained operator
    # (RecursionError within the 4000-character limit) and passed any integer to Promela's int.
    "expr nested in brackets": ("props.toml", _props("(" * 400 + "A.state == CLOSED" + ")" * 400), _export),
    "expr nested in not": ("props.toml", _props("not " * 300 + "A.state == CLOSED"), _export),
    "expr nested in once": ("props.toml", _props("once(" * 200 + "A.state == CLOSED" + ")" * 200), _export),
    "expr chain of 700 sums": ("props.toml", _props(" + ".join(["1"] * 700) + " == 1"), _export),
    "expr huge number": ("props.toml", _props("A.state == CLOSED or 1" + "0" * 400 + " == 1"), _export),
    "unknown table named with a newline": ("spec.toml", '"a\\nb" = 1\n' + default_spec_path().read_text(), _diagram),
}


@pytest.mark.parametrize("case", sorted(CORPUS))
def test_corpus(case: str, tmp_path: Path) -> None:
    name, content, args = CORPUS[case]
    result = run_cli(tmp_path / "work", name, content, args)
    if case.startswith("expr"):
        assert result.exit_code == 2, result.output


def test_the_expr_cases_differ_from_a_valid_file_only_in_the_expression(tmp_path: Path) -> None:
    expr = "(" * 20 + "not " * 5 + "A.state == CLOSED or " + " + ".join(["1"] * 150) + " == 2147483647" + ")" * 20
    result = run_cli(tmp_path / "work", "props.toml", _props(expr), _export)
    assert result.exit_code == 0, result.output
