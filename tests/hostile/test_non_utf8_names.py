"""File names that are not UTF-8 (Python holds their bytes as lone
surrogates, as it does for sys.argv) reach outputs escaped, or cost one
line and exit 2; never a traceback (report --pcaps wrote the name into an
href and crashed encoding the page)."""

from __future__ import annotations

import ast
import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from tcpcheck.model.errors import InputError
from tcpcheck.model.spec import default_spec_path
from tcpcheck.tools.cli import main
from tcpcheck.tools.outputs import write_file
from tests.pictures.samples import sample_run

RAW = os.fsdecode(b"n\xff\xfe")  # what argv holds for such a name


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    if result.exit_code == 2:
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    return result.exit_code, result.output


def test_report_links_a_pcap_folder_that_is_not_utf8(tmp_path: Path) -> None:
    pcaps = tmp_path / RAW
    pcaps.mkdir()
    (pcaps / "passive_open.pcap").write_bytes(b"")
    (tmp_path / "run.json").write_text(json.dumps(sample_run()))
    out = tmp_path / (RAW + ".html")
    code, output = _run("report", str(tmp_path / "run.json"), "--pcaps", str(pcaps), "-o", str(out))
    assert code == 0, output
    page = out.read_bytes().decode("utf-8")
    assert 'href="n%FF%FE/passive_open.pcap"' in page


@pytest.mark.parametrize("fmt", ["pytest", "json", "packetdrill"])
def test_a_spec_named_in_bytes_generates_valid_files(tmp_path: Path, fmt: str) -> None:
    spec = tmp_path / (RAW + ".toml")
    spec.write_text(default_spec_path().read_text())
    code, output = _run("generate", "--spec", str(spec), "--criterion", "states", "--format", fmt,
                        "--out", str(tmp_path / "gen"))
    assert code == 0, output
    for f in (tmp_path / "gen").rglob("*"):
        if f.is_file():
            text = f.read_bytes().decode("utf-8")
            if f.suffix == ".py":
                ast.parse(text)


def test_export_and_verify_with_names_in_bytes(tmp_path: Path) -> None:
    spec = tmp_path / (RAW + ".toml")
    spec.write_text(default_spec_path().read_text())
    code, output = _run("export", "--spec", str(spec), "-k", "1", "--promela", str(tmp_path / (RAW + ".pml")))
    assert code == 0, output
    assert (tmp_path / (RAW + ".pml")).read_bytes().isascii()
    code, output = _run("verify", "--spec", str(spec), "-k", "1", "--property", "time_wait_naive", "--json",
                        "--draw", str(tmp_path / RAW))
    assert code == 0, output
    assert json.loads(output)["model"]["spec"] == str(spec)
    assert [p.name for p in (tmp_path / RAW).iterdir()] == ["time_wait_naive.svg"]


def test_a_bad_file_named_in_bytes_is_one_line(tmp_path: Path) -> None:
    spec = tmp_path / (RAW + ".toml")
    spec.write_text("x = \n")
    code, _ = _run("diagram", "--spec", str(spec), "--format", "dot", "-o", str(tmp_path / "o.dot"))
    assert code == 2
    assert not (tmp_path / "o.dot").exists()


def test_write_file_refuses_text_that_cannot_be_utf8(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not UTF-8"):
        write_file(tmp_path / "o.html", f"<a href='{RAW}'>")
    assert list(tmp_path.iterdir()) == []
