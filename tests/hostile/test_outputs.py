"""Outputs go only where the user said, into files the tool owns."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from tcpcheck.model.errors import InputError
from tcpcheck.tools.cli import main
from tcpcheck.tools.outputs import safe_name, write_file, write_files
from tcpcheck.tools.runner.pcap import pcap_name


@pytest.mark.parametrize("name", ["../../etc/passwd", "/etc/passwd", ".hidden", "..", "", "a/b", "x\0y",
                                  "\udcff\udcfe", "é" * 300, "a" * 1000])
def test_a_safe_name_is_one_plain_file_name(name: str) -> None:
    for out in (safe_name(name, ".svg"), pcap_name(name)):
        assert "/" not in out and "\0" not in out and not out.startswith(".")
        assert len(out.encode()) <= 255
        assert out.isascii()


def test_write_file_replaces_a_symlink_and_never_follows_it(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("keep")
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "a.svg").symlink_to(victim)
    write_file(folder / "a.svg", "new")
    assert victim.read_text() == "keep"
    assert not (folder / "a.svg").is_symlink() and (folder / "a.svg").read_text() == "new"


def test_write_file_follows_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o077)
    try:
        write_file(tmp_path / "f", "x")
    finally:
        os.umask(old)
    assert (tmp_path / "f").stat().st_mode & 0o777 == 0o600


def test_write_files_keeps_everything_else_and_refuses_symlinked_folders(tmp_path: Path) -> None:
    folder = tmp_path / "out"
    (folder / "__pycache__").mkdir(parents=True)
    (folder / "__pycache__" / "x.pyc").write_bytes(b"x")
    (folder / "mine.txt").write_text("mine")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (folder / "packetdrill").symlink_to(elsewhere)
    inode = folder.stat().st_ino
    write_files(folder, {"a.py": "a"})
    assert folder.stat().st_ino == inode
    assert (folder / "mine.txt").read_text() == "mine" and (folder / "__pycache__" / "x.pyc").exists()
    with pytest.raises(InputError, match="symlink"):
        write_files(folder, {"packetdrill/x.pkt": "x"})
    assert list(elsewhere.iterdir()) == []
    with pytest.raises(InputError):
        write_files(folder, {"../escape.py": "x"})
    assert not (tmp_path / "escape.py").exists()


def test_generate_out_writes_into_the_folder_without_replacing_it(tmp_path: Path) -> None:
    out = tmp_path / "gen"
    (out / "__pycache__").mkdir(parents=True)
    (out / "notes.txt").write_text("# the user's\n")
    inode = out.stat().st_ino
    result = CliRunner().invoke(main, ["generate", "--criterion", "states", "--format", "pytest", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.stat().st_ino == inode
    assert (out / "__pycache__").is_dir() and (out / "notes.txt").read_text() == "# the user's\n"
    assert (out / "test_generated_states.py").is_file()
