"""The loopback suite derived from the composed model: what it must cover,
and that every scenario is a schedule the model itself takes."""

from __future__ import annotations

import pytest

from tcpcheck.model.spec import Spec
from tcpcheck.tools.generate.drivable import DriveModel
from tcpcheck.tools.generate.emit_pytest import emit_pytest
from tcpcheck.tools.generate.loopback import LoopbackModel, loopback_suite, search
from tcpcheck.tools.generate.suite import Suite
from tcpcheck.tools.scenario import Call, Deliver, Scenario

SYNCHRONIZED_WITH_ABORT = ("SYN_RCVD", "ESTABLISHED", "FIN_WAIT_1", "FIN_WAIT_2", "CLOSE_WAIT", "CLOSING", "LAST_ACK")


@pytest.fixture(scope="module")
def suite(linux: DriveModel) -> Suite:
    return loopback_suite(linux)


def _by_name(suite: Suite) -> dict[str, Scenario]:
    return {s.name: s for s in suite.scenarios}


def test_one_scenario_per_reachable_pair(suite: Suite, linux: DriveModel) -> None:
    model = LoopbackModel(linux)
    order, _ = search(model)
    pairs = {(model.value(n.state, "A"), model.value(n.state, "B")) for n in order} - {("CLOSED", "CLOSED")}
    names = _by_name(suite)
    assert suite.extra["pairs"] == len(pairs)
    for a, b in pairs:
        assert f"pair_{a.lower()}__{b.lower()}" in names
    # Both ways round: open, close, half-close; and the two races.
    for a, b in [("ESTABLISHED", "ESTABLISHED"), ("FIN_WAIT_2", "CLOSE_WAIT"), ("CLOSE_WAIT", "FIN_WAIT_2"),
                 ("TIME_WAIT", "CLOSED"), ("CLOSED", "TIME_WAIT"), ("SYN_RCVD", "SYN_RCVD"), ("CLOSING", "CLOSING")]:
        assert (a, b) in pairs


def test_races_are_scheduled_by_holding_both_segments(suite: Suite) -> None:
    close = _by_name(suite)["pair_closing__closing"].steps
    fins = [n for n, s in enumerate(close) if isinstance(s, Deliver) and s.segment == "FIN"]
    calls = [n for n, s in enumerate(close) if isinstance(s, Call) and s.op in ("close", "shutdown_wr")]
    assert len(fins) == 2 and len(calls) == 2 and max(calls) < min(fins)  # both close before either FIN arrives
    opening = _by_name(suite)["pair_syn_rcvd__syn_rcvd"].steps
    connects = [n for n, s in enumerate(opening) if isinstance(s, Call) and s.op == "connect"]
    syns = [n for n, s in enumerate(opening) if isinstance(s, Deliver) and s.segment == "SYN"]
    assert len(connects) == 2 and max(connects) < min(syns)


def test_abort_on_each_side_in_each_synchronized_state(suite: Suite) -> None:
    covered = set(suite.covered)
    for side in ("A", "B"):
        for state in SYNCHRONIZED_WITH_ABORT:
            assert f"{side} {state}--abort-->CLOSED" in covered, (side, state)
    # Linux keeps TIME_WAIT on an abort: the documented deviation has its scenario.
    assert "deviation time_wait_outlives_the_descriptor" in covered


def test_deviations_socket_calls_can_provoke(suite: Suite) -> None:
    names = _by_name(suite)
    unread = names["deviation_close_with_unread_data_sends_rst"].steps
    send = next(n for n, s in enumerate(unread) if isinstance(s, Call) and s.op == "send")
    assert isinstance(unread[send + 1], Deliver) and unread[send + 1].segment == "DATA"
    assert not any(isinstance(s, Call) and s.op == "recv" for s in unread)
    for listener_race in ("deviation_passive_syn_rcvd_is_a_request_socket",
                          "deviation_listener_close_resets_unaccepted"):
        steps = names[listener_race].steps
        assert not any(isinstance(s, Call) and s.op == "accept" for s in steps)
    assert "deviation rfc1337_ignores_rst_in_time_wait" not in suite.covered
    assert any("rfc1337_ignores_rst_in_time_wait cannot be provoked" in n for n in suite.notes)


def test_scenarios_round_trip_and_emit_deterministically(suite: Suite, linux: DriveModel, spec: Spec) -> None:
    for s in suite.scenarios:
        assert s.loopback and Scenario.from_json(s.to_json()) == s
    assert loopback_suite(linux).scenarios == suite.scenarios
    text = emit_pytest(suite, spec, "tcpcheck generate --criterion loopback --profile linux")
    assert "def test_pair_closing__closing(tcpcheck_play_loopback: Player) -> None:" in text
    assert 'Deliver("A", "FIN"),' in text and 'Call("close", side="A"),' in text and 'Hold("B"),' in text
    compile(text, "test_generated_loopback.py", "exec")


def test_the_command_offers_every_criterion_and_only_one_sided_ones_reach_other_stacks() -> None:
    import importlib

    cli = importlib.import_module("tcpcheck.tools.cli.generate")  # the package's `generate` is the command
    from tcpcheck.tools.generate import ALL_CRITERIA, CRITERIA, TWO_SIDED_CRITERIA

    assert cli.CRITERIA == ALL_CRITERIA and cli.TWO_SIDED == TWO_SIDED_CRITERIA
    # Suites that run on any stack (the model stack, mutants) play one endpoint.
    assert "loopback" not in CRITERIA and "loopback" in TWO_SIDED_CRITERIA
