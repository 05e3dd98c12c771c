"""SPIN on the Promela export: its verdicts equal the explicit engine's.

``spin -a -o2`` + ``gcc -O2 -DSAFETY`` + ``./pan -c0`` (exhaustive, full state
storage) on the export of the embedded spec and of every mutant. Default
run: the embedded spec in every configuration of K = 1 (FIFO/reorder x
loss) and at K = 3 fault-free, and at K = 2 FIFO the mutants of ``FAST``: one
for each form of property (state invariant, reachability, a forbidden step
``not X.can(c)`` about what is received, sent, entered). The rest of the
matrix (the other mutants, the other configurations, K = 3 with faults) is
under ``slow``: each case costs a gcc run (~4 s of CPU for the 60
properties) plus, for K = 3 with reordering, a 1.3M-state explicit search.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tcpcheck.model import load_properties
from tcpcheck.tools.export import promela
from tests.symbolic.conftest import SPECS, config_id, explicit_verdicts, require_spin, spec_id

CONFIGS = [(k, r, loss) for k in (1, 2, 3) for r in (False, True) for loss in (False, True)]
FAST = {"close_wait_close_to_time_wait", "rst_answered_to_time_wait", "simultaneous_open_unsupported",
        "rst_answered_with_rst", "listen_syn_to_established"}


def _fast(spec: Path | None, cfg: tuple[int, bool, bool]) -> bool:
    if spec is None:
        return cfg[0] == 1 or cfg == (3, False, False)
    return cfg == (2, False, False) and spec.stem in FAST


def _cases() -> list[object]:
    return [pytest.param(spec, cfg, marks=[] if _fast(spec, cfg) else [pytest.mark.slow],
                         id=f"{spec_id(spec)}-{config_id(cfg)}")
            for spec in SPECS for cfg in CONFIGS]


@pytest.mark.parametrize(("spec", "cfg"), _cases())
def test_spin_agrees_with_explicit(spec: Path | None, cfg: tuple[int, bool, bool], tmp_path: Path) -> None:
    require_spin()
    system, space, expected = explicit_verdicts(spec, cfg)
    props = load_properties()
    text, checks = promela.export(system, props)
    report = promela.run_spin(text, tmp_path)
    got = promela.verdicts(checks, promela.read_pan(report, checks))
    compared = 0
    for e in expected:
        if e.verdict == "skipped" or e.kind == "recoverable":
            assert e.name not in got
            continue
        want = (e.verdict, e.instance if e.verdict == "violated" else "")
        assert got[e.name] == want, (e.name, want, got[e.name])
        compared += 1
    assert compared >= 15


@pytest.mark.parametrize("cfg", [(1, False, False), pytest.param((2, True, True), marks=pytest.mark.slow)],
                         ids=config_id)
def test_spin_explores_the_same_states(cfg: tuple[int, bool, bool], tmp_path: Path) -> None:
    """Without assertions, pan stores exactly the states the explicit engine finds."""
    require_spin()
    system, space, _ = explicit_verdicts(None, cfg)
    report = promela.run_spin(promela.export(system, [])[0], tmp_path)
    assert promela.stored_states(report) == space.count


def test_export_cli_writes_readable_promela(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from tcpcheck.tools.cli import main

    out = tmp_path / "m.pml"
    result = CliRunner().invoke(main, ["export", "--promela", str(out), "--bound", "1", "--reorder", "--loss"])
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert "mtype:state = { CLOSED, LISTEN" in text and "d_step" in text
    assert "[CLOSED--listen-->LISTEN]" in text  # comments name the spec transitions
    assert "not checked: no_deadlock (recoverable)" in text
    assert not list(tmp_path.glob(".m.pml.*"))  # no temporary left behind
    bad = CliRunner().invoke(main, ["export", "--promela", str(tmp_path / "x.pml"), "--property", "nope"])
    assert bad.exit_code == 2 and len(bad.stderr.strip().splitlines()) == 1 and "nope" in bad.stderr
    missing = CliRunner().invoke(main, ["export", "--promela", str(tmp_path / "no" / "x.pml")])
    assert missing.exit_code == 2 and not (tmp_path / "no").exists()


def test_a_failing_stage_is_named(tmp_path: Path) -> None:
    require_spin()
    with pytest.raises(RuntimeError, match=r"^spin -a -o2 model.pml failed"):
        promela.run_spin("active proctype p() { this is not promela }", tmp_path)
