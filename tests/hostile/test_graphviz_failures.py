"""Graphviz is another program: missing, broken, killed, silent, foreign or
too slow, it costs one line and exit 2, within a bound, and nothing is
written (diagram -o, report -o)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from tcpcheck.tools.cli import main
from tcpcheck.tools.pictures import diagram
from tests.pictures.samples import sample_run

FAKE_DOTS = {
    "missing": None,
    "not executable": "\x7fELF garbage",  # exec fails (ENOEXEC)
    "fails": "#!/bin/sh\necho 'Error: something broke' >&2\nexit 1\n",
    "crashes": "#!/bin/sh\n/bin/cat >/dev/null\nkill -SEGV $$\n",
    "silent": "#!/bin/sh\n/bin/cat >/dev/null\nexit 0\n",
    "not json": "#!/bin/sh\n/bin/cat >/dev/null\necho 'digraph {'\n",
    "foreign json": "#!/bin/sh\n/bin/cat >/dev/null\necho '{\"objects\": 3}'\n",
    "hangs": "#!/bin/sh\nexec /bin/sleep 30\n",
}

SAYS = {"missing": "not installed", "not executable": "cannot run Graphviz", "fails": "something broke",
        "crashes": "killed by SIGSEGV", "silent": "no json output", "not json": "not what Graphviz writes",
        "foreign json": "not what Graphviz writes", "hangs": "took more than 1 s"}


# report goes through the same render(); three failures through it are enough
CASES = [(fake, "diagram") for fake in sorted(FAKE_DOTS)] + [(f, "report") for f in ("crashes", "hangs", "not json")]


@pytest.mark.parametrize("fake,command", CASES)
def test_a_broken_graphviz_is_one_line(fake: str, command: str, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = FAKE_DOTS[fake]
    if script is not None:
        (bin_dir / "dot").write_text(script)
        (bin_dir / "dot").chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setattr(diagram, "GRAPHVIZ_SECONDS", 1)
    out = tmp_path / "out" / "picture"
    out.parent.mkdir()
    if command == "diagram":
        args = ["diagram", "--format", "svg", "-o", str(out)]
    else:
        run = tmp_path / "run.json"
        run.write_text(json.dumps(sample_run()))
        args = ["report", str(run), "-o", str(out)]
    start = time.monotonic()
    result = CliRunner().invoke(main, args)
    assert time.monotonic() - start < 15
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tcpcheck: dot: "), result.stderr
    assert SAYS[fake] in lines[0], lines[0]
    assert os.listdir(out.parent) == []
