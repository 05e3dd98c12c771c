"""Partial-order reduction against the unreduced search: the same verdicts, counterexamples and
witnesses of the same length that replay, the same reachable endpoint-state pairs and, without the
mirror, the same deadlocks (states with no successor: stubborn sets keep them all).

The reduction depends on the properties checked (only the variables they read are visible), so each
case runs it for every property at once and for single properties of each kind: a violated
invariant (its trace is recomputed by a bounded unreduced search), a reachability property (its
witness likewise), and a recoverable one (singleton ample sets, trace from the whole unreduced
space). With every property nothing is invisible and the reduction changes nothing; the single
properties are where it prunes.

The default run covers the embedded spec at K = 1 with reordering and loss for one property (where
it prunes most) and the command line; ``pytest -m heavy`` runs every spec (embedded +
tests/mutants/) at K = 1 and 2 with every combination of reorder and loss, and the embedded spec
with duplication.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tcpcheck.model import ModelOptions, build_system, gcl, load_properties, load_spec
from tcpcheck.model.explicit import check, explore
from tcpcheck.model.por import partial_order
from tcpcheck.model.symmetry import find_mirror
from tcpcheck.tools.cli import main
from tests.model.test_reductions import assert_same_verdict
from tests.symbolic.conftest import SPECS, spec_id

# (K, reorder, loss, duplicate)
Config = tuple[int, bool, bool, bool]
CONFIGS: list[Config] = [(k, r, lo, False) for k in (1, 2) for r in (False, True) for lo in (False, True)]
DUPLICATE: list[Config] = [(1, False, False, True), (1, True, True, True), (2, False, False, True)]
# one property of each kind the reduction treats differently; None: every property
SELECTIONS: list[str | None] = [None, "time_wait_naive", "reach_TIME_WAIT", "no_deadlock"]
FAST = {(None, (1, True, True, False))}


def _config_id(cfg: Config) -> str:
    k, reorder, loss, dup = cfg
    return f"K{k}" + ("-reorder" if reorder else "") + ("-loss" if loss else "") + ("-dup" if dup else "")


def _cases() -> list[Any]:
    cases: list[tuple[Path | None, Config]] = [(s, c) for c in CONFIGS for s in SPECS]  # K = 1 first
    cases += [(None, c) for c in DUPLICATE]
    quick = [pytest.param(s, c, True, id=f"{spec_id(s)}-{_config_id(c)}-quick") for s, c in FAST]
    return quick + [pytest.param(s, c, False, marks=[pytest.mark.heavy], id=f"{spec_id(s)}-{_config_id(c)}")
                    for s, c in cases]


@functools.lru_cache(maxsize=2)
def _unreduced(spec: Path | None, cfg: Config) -> tuple[object, object, list]:
    k, reorder, loss, dup = cfg
    system = build_system(load_spec(spec), ModelOptions(bound=k, reorder=reorder, loss=loss, duplicate=dup),
                          _properties())
    space = explore(system, record_edges=True)
    return system, space, [check(space, p) for p in _properties()]


@functools.lru_cache(maxsize=1)
def _properties() -> list[Any]:
    return load_properties()


def _pair(system: object) -> list[gcl.Expr]:
    return [gcl.Ref(system.endpoints[e]["state"]) for e in ("A", "B")]  # type: ignore[attr-defined]


def _compare(spec: Path | None, cfg: Config, selection: str | None, mirrored: bool) -> dict[str, int]:
    """Explore with the reduction for ``selection`` and compare with the unreduced search; its counts."""
    system, full, expected = _unreduced(spec, cfg)
    every = _properties()
    props = [p for p in every if selection is None or p.name == selection]
    mirror = find_mirror(system)[0] if mirrored else None  # type: ignore[arg-type]
    assert mirror is not None or not mirrored
    reduced = explore(system, mirror=mirror, reduction=partial_order(system, props, mirror))  # type: ignore[arg-type]
    assert reduced.distinct(_pair(system)) == full.distinct(_pair(system))  # type: ignore[attr-defined]
    if mirror is None:
        assert reduced.terminal_count == full.terminal_count  # type: ignore[attr-defined]
    assert reduced.count <= (full.count if mirror is None else full.count // 1.8 + 1)  # type: ignore[attr-defined]
    for prop in props:
        assert_same_verdict(system, prop, check(reduced, prop), expected[every.index(prop)])
    return reduced.reduction_stats()


@pytest.mark.parametrize(("spec", "cfg", "quick"), _cases())
def test_partial_order_reduction_changes_no_verdict_nor_length(spec: Path | None, cfg: Config, quick: bool) -> None:
    pruned = 0
    for selection in SELECTIONS[1:2] if quick else SELECTIONS:  # quick: the one that prunes most
        for mirrored in (True, False) if selection == "time_wait_naive" else (True,):
            pruned += _compare(spec, cfg, selection, mirrored)["pruned_transitions"]
    if quick:
        assert pruned > 0  # the comparison above exercised a reduction, not a no-op


def test_every_property_at_once_leaves_nothing_invisible_here() -> None:
    # every move of this model writes an endpoint's state, a channel or a monitor some property reads
    system = build_system(load_spec(), ModelOptions(bound=1, reorder=True, loss=True), load_properties())
    reduction = partial_order(system, load_properties())
    assert not any(reduction.invisible) and reduction.singleton
    single = partial_order(system, [p for p in load_properties() if p.name == "time_wait_naive"])
    assert any(single.invisible) and not single.singleton


def test_the_static_relation_sees_reordering_channels_commute() -> None:
    # A appending to AB and B removing another segment from it commute on a reordering channel;
    # B receiving a SYN and the network losing it do not (the loss may take the last one)
    system = build_system(load_spec(), ModelOptions(bound=1, reorder=True, loss=True), load_properties())
    dep = partial_order(system, []).dep
    cmds = system.commands
    send = next(i for i, c in enumerate(cmds) if c.action.actor == "A" and c.action.sends == ("SYN",))
    take = next(i for i, c in enumerate(cmds) if c.action.actor == "B" and c.action.received == "ACK")
    syn = next(i for i, c in enumerate(cmds) if c.action.actor == "B" and c.action.received == "SYN")
    lose = next(i for i, c in enumerate(cmds) if c.action.kind == "lose" and c.action.channel == "AB"
                and c.action.received == "SYN")
    assert take not in dep[send] and send not in dep[take]
    assert lose in dep[syn] and syn in dep[lose]


def test_cli_reports_the_partial_order_reduction() -> None:
    args = ["verify", "--bound", "1", "--property", "time_wait_naive", "--json"]
    plain = json.loads(CliRunner().invoke(main, args).stdout)
    assert plain["reductions"]["partial_order"] == {"applied": False, "reason": "--no-por"}
    data = json.loads(CliRunner().invoke(main, [*args, "--por"]).stdout)
    por = data["reductions"]["partial_order"]
    assert por["applied"] and por["pruned_transitions"] > 0 and por["stored"] == data["stats"]["states"]
    assert [(p["verdict"], p.get("instance"), len(p.get("counterexample") or [])) for p in data["properties"]] == [
        (p["verdict"], p.get("instance"), len(p.get("counterexample") or [])) for p in plain["properties"]]
    text = CliRunner().invoke(main, args[:-1] + ["--por"]).stdout
    assert "partial-order reduction: stubborn sets, 4 of " in text
    refused = CliRunner().invoke(main, ["verify", "--bound", "1", "--por", "--bitstate"])
    assert refused.exit_code == 2 and "--por" in refused.output and "Traceback" not in refused.output
