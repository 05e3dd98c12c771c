"""Text from a spec or a properties file cannot become code in what tcpcheck generates.

Free text (RFC references, notes, the machine's name, the spec's path) is
written into Promela comments, which SPIN's pipeline compiles as C, and
into docstrings and comments of generated pytest files, which run when the
suite runs. Names are refused unless they are identifiers.
"""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from tcpcheck.model.errors import InputError
from tcpcheck.model.spec import default_spec_path, load_spec
from tcpcheck.tools.cli import main

MARK = "PWNED_BY_SPEC"
# Closes a C comment, a Python docstring and a line, then runs something.
PAYLOAD = f'*/ int {MARK}; /* """\nimport os; open("{MARK}", "w")  # \\\n"""\r\x0b\u2028*/ {MARK}'


def hostile_spec(folder: Path) -> Path:
    """The embedded spec with the payload in every free-text field of every table."""
    text = default_spec_path().read_text()
    for key in ("rfc", "note", "meaning", "arrival", "text", "rfc_call"):
        text = re.sub(rf'^({key} = )"(.*)"$', lambda m: f'{m[1]}"{m[2]}" ', text, flags=re.M)
        text = re.sub(rf'^({key} = )"(.*)" $', lambda m: m[1] + json.dumps(m[2] + PAYLOAD), text, flags=re.M)
    text = re.sub(r'^(name = )"TCP.*"$', lambda m: m[1] + json.dumps("TCP" + PAYLOAD), text, count=1, flags=re.M)
    path = folder / "a*" / MARK / "spec.toml"  # the spec's path, which the export names, holds '*/' too
    path.parent.mkdir(parents=True)
    path.write_text(text)
    assert PAYLOAD in load_spec(path).transitions[0].rfc
    return path


def _code_outside_comments(promela: str) -> str:
    return re.sub(r"/\*.*?\*/", " ", promela, flags=re.S)


def test_hostile_text_stays_inside_promela_comments(tmp_path: Path) -> None:
    spec = hostile_spec(tmp_path)
    out = tmp_path / "m.pml"
    result = CliRunner().invoke(main, ["export", "--promela", str(out), "--spec", str(spec), "--bound", "1"])
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert MARK in text, "the text is kept, as a comment"
    assert MARK not in _code_outside_comments(text)
    assert text.isascii()
    if shutil.which("spin"):  # SPIN itself agrees: the comments are comments
        done = subprocess.run(["spin", "-a", "-o2", "m.pml"], cwd=tmp_path, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr
        assert MARK not in _code_outside_comments((tmp_path / "pan.c").read_text())
        if shutil.which("gcc"):  # and the C compiler: pan builds, and nothing of the payload is in it
            built = subprocess.run(["gcc", "-O0", "-w", "-DSAFETY", "-o", "pan", "pan.c"], cwd=tmp_path,
                                   capture_output=True, text=True, timeout=300)
            assert built.returncode == 0, built.stderr[-2000:]
            assert MARK.encode() not in (tmp_path / "pan").read_bytes()
            # Running it searches the model (the first reachability "violation" ends it) and nothing else.
            ran = subprocess.run(["./pan", "-m100"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
            assert "State-vector" in ran.stdout, ran.stdout[-2000:] + ran.stderr[-2000:]
            assert sorted(p.name for p in tmp_path.iterdir()) == ["a*", "m.pml", "m.pml.trail", "pan", "pan.b",
                                                                  "pan.c", "pan.h", "pan.m", "pan.p", "pan.t"]


def test_hostile_text_stays_inside_generated_docstrings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = hostile_spec(tmp_path)
    out = tmp_path / "gen"
    result = CliRunner().invoke(main, ["generate", "--spec", str(spec), "--criterion", "transitions",
                                       "--format", "pytest", "--out", str(out)])
    assert result.exit_code == 0, result.output
    source = (out / "test_generated_transitions.py").read_text()
    assert MARK in source
    tree = ast.parse(source)  # it compiles
    allowed = (ast.Expr, ast.ImportFrom, ast.Import, ast.Assign, ast.FunctionDef)
    assert all(isinstance(node, allowed) for node in tree.body)
    assert not [n for n in tree.body if isinstance(n, ast.Expr) and n is not tree.body[0]]
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            assert node.id != "os" and node.id != "open"
    # And importing it runs nothing of the payload.
    monkeypatch.chdir(tmp_path)
    code = compile(source, str(out / "test_generated_transitions.py"), "exec")
    exec(code, {"__name__": "generated"})
    assert not (tmp_path / MARK).exists()


@pytest.mark.parametrize("table,field", [("state", "name"), ("event", "name"), ("segment", "name"),
                                         ("signal", "name")])
def test_names_must_be_identifiers(tmp_path: Path, table: str, field: str) -> None:
    text = default_spec_path().read_text()
    head = f"[[{table}]]\n{field} = "
    at = text.index(head) + len(head)
    end = text.index("\n", at)
    path = tmp_path / "spec.toml"
    path.write_text(text[:at] + json.dumps("x */ y") + text[end:])
    with pytest.raises(InputError, match="must be an identifier") as caught:
        load_spec(path)
    assert re.match(rf"{re.escape(str(path))}:\d+: ", str(caught.value))


def test_property_names_must_be_identifiers(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text('[[property]]\nname = "../../x"\nkind = "invariant"\nexpr = "true"\nexpect = "holds"\n'
                    'rfc = "RFC 9293"\n')
    result = CliRunner().invoke(main, ["verify", "--properties", str(path)])
    assert result.exit_code == 2 and "must be an identifier" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
