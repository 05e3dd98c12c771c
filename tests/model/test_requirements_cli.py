"""`tcpcheck requirements`: writes the traceability document, --check compares, bad input is one line."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from tcpcheck.tools.cli import main

PROPS = """
[[configuration]]
name = "small"
description = "one segment per channel"
bound = 1

[[property]]
name = "rst_never_answers_rst"
rfc = "RFC 9293 §3.5.2"
kind = "invariant"
each = true
expr = "not self.can(rcvd.RST and sent.RST)"
expect = "holds"
description = "a RST is never answered with a RST"

[[requirement]]
id = "RST never answers RST"
rfc = "RFC 9293 §3.5.2"
text = "A reset is never sent in response to a reset"
properties = ["rst_never_answers_rst"]

[[requirement]]
id = "old duplicate SYN"
rfc = "RFC 9293 §3.5"
text = "An old duplicate SYN is refused"
reason = "the model has no sequence numbers"
"""


def test_writes_checks_and_refuses(tmp_path: Path) -> None:
    props = tmp_path / "p.toml"
    props.write_text(PROPS)
    doc = tmp_path / "req.md"
    runner = CliRunner()
    wrote = runner.invoke(main, ["requirements", "--properties", str(props), "-o", str(doc)])
    assert wrote.exit_code == 0, wrote.output
    text = doc.read_text()
    assert "| `rst_never_answers_rst` | holds |" in text and "the model has no sequence numbers" in text
    assert runner.invoke(main, ["requirements", "--properties", str(props), "--check", "-o", str(doc)]).exit_code == 0
    doc.write_text(text + "edited\n")
    stale = runner.invoke(main, ["requirements", "--properties", str(props), "--check", "-o", str(doc)])
    assert stale.exit_code == 1 and "out of date" in stale.output
    mutant = Path(__file__).resolve().parents[1] / "mutants" / "rst_answered_with_rst.toml"
    broken = runner.invoke(main, ["requirements", "--properties", str(props), "--spec", str(mutant)])
    assert broken.exit_code == 1 and "violated" in broken.output
    bad = runner.invoke(main, ["requirements", "--check"])
    assert bad.exit_code == 2 and len(bad.output.strip().splitlines()) == 1 and "--check" in bad.output
