"""Every output option of every command writes nothing outside what it was given.

The options are read from the command line's own definitions (every
``click.Path`` parameter of every command): each is either listed in
``INPUTS`` (a file or folder the command reads) or is an output, and every
output must have a quick invocation in ``INVOCATIONS`` that reaches its
write, so a new output option fails ``test_every_output_option_is_attacked``
until it is attacked here too.

Attacks, with a victim file and a victim folder outside the sandbox:

- the output path is a symlink to the victim file (it must be replaced or
  refused, never written through);
- the output path is a dangling symlink to a new file outside (nothing may
  appear there);
- for a folder: a first run learns every file and folder the command writes
  into it; a second run into a fresh folder where each of those names is
  already a symlink to the victim file or folder (nothing outside changes);
- for a file: the folder it goes in holds nothing else afterwards (no
  temporary file left behind).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from tcpcheck.tools.cli import main
from tests.pictures.samples import sample_run

# (command, parameter): paths the command reads.
INPUTS = {
    ("verify", "spec_path"), ("verify", "props_path"), ("generate", "spec_path"), ("diagram", "spec_path"),
    ("diagram", "coverage_path"), ("report", "results"), ("report", "pcap_dir"), ("report", "spec_path"),
    ("run", "spec_path"), ("export", "spec_path"), ("export", "props_path"), ("check", "capture"),
    ("mutate", "spec_path"), ("mutate", "props_path"), ("requirements", "spec_path"),
    ("requirements", "props_path"),
}
NEEDS_NETNS = {"run", "check"}  # run plays a scenario; check reads the pcap such a run wrote

# (command, parameter) -> arguments that reach the write; "{OUT}" is the path under attack,
# "{RUN}" a run.json, "{PCAP}" a capture of one scenario, "{PROPS}" one requirement stated by one
# property (the embedded set takes half a minute).
INVOCATIONS: dict[tuple[str, str], list[str]] = {
    ("verify", "draw_dir"): ["verify", "-k", "1", "--property", "time_wait_naive", "--draw", "{OUT}"],
    ("generate", "out_dir"): ["generate", "--criterion", "states", "--format", "json", "--out", "{OUT}"],
    ("diagram", "output"): ["diagram", "--format", "dot", "-o", "{OUT}"],
    ("report", "output"): ["report", "{RUN}", "-o", "{OUT}"],
    ("run", "pcap_dir"): ["run", "passive_open", "--pcap", "{OUT}"],
    ("run", "junit_path"): ["run", "passive_open", "--junit-xml", "{OUT}"],
    ("export", "out_path"): ["export", "-k", "1", "--promela", "{OUT}"],
    ("check", "chart_path"): ["check", "{PCAP}", "--chart", "{OUT}"],
    ("mutate", "write_dir"): ["mutate", "--criterion", "states", "--operator", "drop_send", "--transition",
                              "CLOSED--ACK-->CLOSED", "--no-properties", "-j", "1", "--write", "{OUT}"],
    ("requirements", "out_path"): ["requirements", "--properties", "{PROPS}", "-o", "{OUT}"],
}

SMALL_PROPERTIES = """
[[configuration]]
name = "default"
bound = 1

[[property]]
name = "reach_CLOSED"
rfc = "RFC 9293 §3.3.2 (Figure 5)"
kind = "reachable"
each = true
expr = "self.state == CLOSED"
expect = "holds"

[[requirement]]
id = "Figure 5"
rfc = "RFC 9293 §3.3.2 (Figure 5)"
text = "A connection ends in CLOSED"
properties = ["reach_CLOSED"]
"""


def _path_parameters() -> Iterator[tuple[str, click.Parameter]]:
    def walk(command: click.Command, name: str) -> Iterator[tuple[str, click.Parameter]]:
        if isinstance(command, click.Group):
            for sub, cmd in command.commands.items():
                yield from walk(cmd, sub)
            return
        for param in command.params:
            if isinstance(param.type, click.Path | click.File):
                yield name, param

    yield from walk(main, "")


def _outputs() -> dict[tuple[str, str], bool]:
    """(command, parameter) -> whether the output is a folder."""
    return {(cmd, str(p.name)): not getattr(p.type, "file_okay", True)
            for cmd, p in _path_parameters() if (cmd, p.name) not in INPUTS}


def test_every_output_option_is_attacked() -> None:
    assert set(_outputs()) == set(INVOCATIONS), "list the new option in INPUTS or give it an invocation here"
    assert INPUTS <= {(cmd, p.name) for cmd, p in _path_parameters()}, "INPUTS names an option that is gone"


@pytest.fixture(scope="module")
def materials(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("materials")
    run = folder / "run.json"
    run.write_text(json.dumps(sample_run()))
    props = folder / "props.toml"
    props.write_text(SMALL_PROPERTIES)
    out = {"{RUN}": str(run), "{PROPS}": str(props)}
    from tcpcheck.tools.runner.netns import unavailable_reason

    if unavailable_reason() is None:
        done = CliRunner().invoke(main, ["run", "passive_open", "--pcap", str(folder / "pcaps")])
        assert done.exit_code == 0, done.output
        out["{PCAP}"] = str(folder / "pcaps" / "passive_open.pcap")
    return out


def _invoke(key: tuple[str, str], target: Path, materials: dict[str, str]) -> int:
    if key[0] in NEEDS_NETNS and "{PCAP}" not in materials:
        from tcpcheck.tools.runner.netns import unavailable_reason
        from tests.loopback.conftest import unavailable

        unavailable(unavailable_reason() or "no network namespace")
    args = [materials.get(a, str(target) if a == "{OUT}" else a) for a in INVOCATIONS[key]]
    result = CliRunner().invoke(main, args)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code in (0, 1, 2), result.output
    if result.exit_code == 2:
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    return result.exit_code


def _snapshot(root: Path) -> dict[str, bytes | str]:
    out: dict[str, bytes | str] = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        out[rel] = ("link:" + os.readlink(p)) if p.is_symlink() else p.read_bytes() if p.is_file() else "dir"
    return out


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[tuple[Path, Path, list[str]]]:
    """(box, outside, allowed): the command writes into box; outside holds the
    victims and must not change, except for new files under an ``allowed``
    prefix (a test appends one)."""
    box, outside = tmp_path / "box", tmp_path / "outside"
    box.mkdir()
    (outside / "folder").mkdir(parents=True)
    (outside / "victim").write_text("victim")
    (outside / "folder" / "kept").write_text("kept")
    before = _snapshot(outside)
    allowed: list[str] = []
    cwd = os.getcwd()
    os.chdir(box)  # a relative path written by mistake lands in the box, not outside
    try:
        yield box, outside, allowed
    finally:
        os.chdir(cwd)
    after = _snapshot(outside)
    assert {k: after.get(k) for k in before} == before, "something outside the output path changed"
    new = [k for k in after if k not in before and not any(k.startswith(a) for a in allowed)]
    assert not new, f"written outside the output path: {new}"


@pytest.mark.parametrize("key", sorted(INVOCATIONS), ids="-".join)
def test_output_is_a_symlink_to_a_victim(key: tuple[str, str], sandbox: tuple[Path, Path, list[str]],
                                         materials: dict[str, str]) -> None:
    """A file output replaces the link; a folder output given as a link to a
    folder is that folder (the user named it), where the command adds its
    files and changes nothing that was there."""
    box, outside, allowed = sandbox
    target = box / "out"
    folder = _outputs()[key]
    target.symlink_to(outside / ("folder" if folder else "victim"))
    code = _invoke(key, target, materials)
    if folder:
        allowed.append("folder/")
    elif code != 2:
        assert not target.is_symlink(), "the symlink was written through, not replaced"
    assert {p.name for p in box.iterdir()} == {"out"}


@pytest.mark.parametrize("key", sorted(INVOCATIONS), ids="-".join)
def test_output_is_a_dangling_symlink(key: tuple[str, str], sandbox: tuple[Path, Path, list[str]],
                                      materials: dict[str, str]) -> None:
    box, outside, _ = sandbox
    (box / "out").symlink_to(outside / "new")
    _invoke(key, box / "out", materials)
    assert not (outside / "new").exists() and not (outside / "new").is_symlink()


@pytest.mark.parametrize("key", sorted(k for k, folder in _outputs().items() if folder), ids="-".join)
def test_symlinks_planted_inside_an_output_folder(key: tuple[str, str], sandbox: tuple[Path, Path, list[str]],
                                                  materials: dict[str, str]) -> None:
    box, outside, _ = sandbox
    first = box / "first"
    assert _invoke(key, first, materials) in (0, 1)
    written = sorted(p.relative_to(first) for p in first.rglob("*"))
    assert written, "the invocation writes nothing: it attacks nothing"
    trap = box / "trap"
    trap.mkdir()
    for rel in written:  # each name the command writes, already a link to the victim file or folder
        if not any(parent.is_symlink() for parent in (trap / rel).parents):
            (trap / rel).symlink_to(outside / ("folder" if (first / rel).is_dir() else "victim"))
    _invoke(key, trap, materials)


@pytest.mark.parametrize("key", sorted(k for k, folder in _outputs().items() if not folder), ids="-".join)
def test_a_file_output_leaves_nothing_beside_it(key: tuple[str, str], sandbox: tuple[Path, Path, list[str]],
                                                materials: dict[str, str]) -> None:
    box, _, _ = sandbox
    assert _invoke(key, box / "out.file", materials) in (0, 1)
    assert [p.name for p in box.iterdir()] == ["out.file"]
    assert (box / "out.file").is_file() and not (box / "out.file").is_symlink()
