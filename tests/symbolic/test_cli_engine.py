"""`tcpcheck verify --engine`: z3 and both, the JSON fields, and the lazy Z3 import."""

from __future__ import annotations

import json
import subprocess
import sys

from click.testing import CliRunner

from tcpcheck.tools.cli import main
from tests.symbolic.conftest import ROOT

PROPS = ["--property", "time_wait_naive", "--property", "time_wait_active_closer", "--property", "reach_LAST_ACK"]


def test_both_engines_agree_and_say_how() -> None:
    result = CliRunner().invoke(main, ["verify", "--bound", "1", "--engine", "both", "--json", *PROPS])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["engine"] == "both" and "disagreements" not in data
    by_name = {p["name"]: p for p in data["properties"]}
    proved = by_name["time_wait_active_closer"]["engines"]["z3"]
    assert proved["verdict"] == "holds" and proved["method"] in ("inductive invariant", "k-induction")
    assert proved["bound"] is not None  # k
    naive = by_name["time_wait_naive"]["engines"]
    assert naive["explicit"]["verdict"] == naive["z3"]["verdict"] == "violated"
    # the top-level row is the explicit engine's: BMC's counterexample is as short as BFS's
    shortest = len(by_name["time_wait_naive"]["counterexample"]) - 1
    assert naive["z3"]["method"] == "BMC" and naive["z3"]["bound"] == shortest


def test_disagreement_exits_3(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import tcpcheck.model.symbolic as symbolic

    real = symbolic.check_all

    def lying(*args, **kwargs):  # type: ignore[no-untyped-def]
        out = real(*args, **kwargs)
        out[0].verdict = "holds" if out[0].verdict == "violated" else "violated"
        return out

    monkeypatch.setattr(symbolic, "check_all", lying)
    result = CliRunner().invoke(main, ["verify", "--bound", "1", "--engine", "both", *PROPS])
    assert result.exit_code == 3
    assert "reach_LAST_ACK: explicit says holds" in result.stderr and "z3 says violated" in result.stderr


def test_explicit_default_does_not_import_z3() -> None:
    code = ("import sys\nfrom tcpcheck.tools.cli import main\nsys.argv=['tcpcheck','verify','--bound','1']\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\nprint('z3' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.stdout.strip().endswith("False"), out.stdout[-500:] + out.stderr[-500:]


def test_every_bound_proves_the_headline_invariants_and_not_a_broken_one() -> None:
    """--every-bound: both headline invariants proved for every K; on a mutant that breaks one, not proved."""
    headline = ["--property", "time_wait_active_closer", "--property", "closing_only_simultaneous"]
    result = CliRunner().invoke(main, ["verify", "-k", "1", "--reorder", "--every-bound", "--json", *headline])
    assert result.exit_code == 0, result.output
    every = json.loads(result.stdout)["every_bound"]
    assert "every channel bound" in every["abstraction"]
    assert {(p["name"], p["verdict"]) for p in every["properties"]} == {
        ("time_wait_active_closer", "holds"), ("closing_only_simultaneous", "holds")}
    mutant = str(ROOT / "tests/mutants/close_wait_close_to_time_wait.toml")
    result = CliRunner().invoke(main, ["verify", "-k", "1", "--reorder", "--every-bound", "--spec", mutant,
                                       "--property", "time_wait_active_closer"])
    assert result.exit_code == 1
    assert "time_wait_active_closer  not proved" in result.stdout


def test_every_bound_needs_reordering() -> None:
    result = CliRunner().invoke(main, ["verify", "--every-bound"])
    assert result.exit_code == 2
    assert result.stderr.strip() == ("tcpcheck: --every-bound: the counter abstraction is of reordering channels: "
                                     "add --reorder")
