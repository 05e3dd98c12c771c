"""PyTCP 0.3.8 (pip pmd-pytcp) as a stack under test, against the real
stack over a TAP device in a private namespace: the adapter on its own,
its clock (virtual, moved by the runner only), the generated transition
suite with its verdicts pinned, its determinism, and the negative
controls that show the judge can still say ``fail``.

Needs root and the pytcp extra; skipped without them, a failure in CI
(TCPCHECK_REQUIRE_NETNS=1). The whole module takes a few seconds.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from tcpcheck.model.spec import load_spec
from tcpcheck.tools.cli import main
from tcpcheck.tools.generate import build_suite, load_drive_model
from tcpcheck.tools.generate.paths import Explorer
from tcpcheck.tools.runner.execute import ScenarioResult, execute
from tcpcheck.tools.runner.profile import Profile
from tcpcheck.tools.runner.stack import CallError
from tcpcheck.tools.runner.stacks import pytcp as pytcp_adapter
from tcpcheck.tools.runner.stacks.pytcp import PytcpStack
from tests.runner.user_space import (
    check_a_wrong_expected_state_fails,
    check_settings_it_lacks_are_not_drivable,
    expected_verdicts,
    module_stack,
    run_suite,
    transitions_suite,
)


@pytest.fixture(scope="module")
def pytcp(request: pytest.FixtureRequest) -> Iterator[PytcpStack]:
    for stack in module_stack(request, "pytcp"):
        assert isinstance(stack, PytcpStack)
        yield stack


def test_connect_and_read_the_state(pytcp: PytcpStack) -> None:
    with pytcp.conversation() as conv:
        seen = conv.observe()
        assert (seen.state, seen.method) == ("CLOSED", "TcpSession")
        conv.call("connect")
        assert conv.expect("SYN").ok
        assert conv.observe().state == "SYN_SENT"
        conv.inject("SYN_ACK")
        assert conv.expect("ACK").ok
        assert conv.observe().state == "ESTABLISHED"
        assert conv.endpoint.told("connect") == "connected"
        conv.call("close")
        assert conv.expect("FIN").ok and conv.observe().state == "FIN_WAIT_1"
        # Every packet went through the TAP: both directions captured, in order.
        assert [c.outbound for c in conv.packets] == [True, False, True, True]


def test_listen_accept_and_data(pytcp: PytcpStack) -> None:
    with pytcp.conversation() as conv:
        conv.call("listen")
        assert conv.observe().text() == "LISTEN (TcpSession: LISTEN (listener))"
        with pytest.raises(CallError, match="no established connection"):
            conv.call("accept")
        conv.inject("SYN")
        assert conv.expect("SYN_ACK").ok and conv.observe().state == "SYN_RCVD"
        conv.inject("ACK")
        assert conv.observe().state == "ESTABLISHED"
        conv.call("accept")
        conv.inject("DATA")
        assert conv.expect("ACK").ok  # PyTCP's delayed ACK, due once the runner moves its clock 100 ms
        conv.call("recv")
        assert conv.endpoint.received == b"tcpcheck"
        conv.call("close")
        assert conv.expect("FIN").ok and conv.observe().state == "FIN_WAIT_1"


def test_a_passive_flow_reset_in_syn_rcvd_is_the_listeners_again(pytcp: PytcpStack) -> None:
    with pytcp.conversation() as conv:
        with pytest.raises(CallError, match="listen or connect first"):
            conv.call("close")
        conv.call("listen")
        conv.inject("SYN")
        assert conv.expect("SYN_ACK").ok
        conv.inject("RST")
        assert conv.observe().text() == "LISTEN (TcpSession: LISTEN (the flow's session is gone; the listener's))"
        conv.call("close")
        assert conv.expect("NONE").ok and conv.observe().state == "CLOSED"


def test_time_is_pytcps_own_and_only_the_runner_moves_it(pytcp: PytcpStack) -> None:
    """TIME_WAIT lasts TCP__TIME_WAIT__DELAY_MS of PyTCP time: the runner's
    elapse moves the virtual clock by exactly that, in far less wall time.
    Observing does not move it; waiting for a segment that is not there
    moves it by the delayed-ACK delay and PyTCP's 1 ms tick, no more."""
    loop = pytcp.loop
    with pytcp.conversation() as conv:
        conv.call("connect")
        assert conv.expect("SYN").ok
        conv.inject("SYN_ACK")
        assert conv.expect("ACK").ok
        conv.call("close")
        assert conv.expect("FIN").ok
        conv.inject("FIN_ACK_OF_FIN")
        assert conv.expect("ACK").ok and conv.observe().state == "TIME_WAIT"
        start = loop.time()
        conv.observe()
        assert loop.time() == start
        assert conv.expect("NONE").ok
        assert loop.time() - start == pytest.approx((pytcp.constants.TCP__DELAYED_ACK__DELAY_MS + 1) / 1000)
        wall = time.perf_counter()
        assert conv.elapse("timeout_2msl").state == "CLOSED"
        assert time.perf_counter() - wall < 5
        assert loop.time() - start == pytest.approx(pytcp.constants.TCP__TIME_WAIT__DELAY_MS / 1000, abs=1e-6)


def test_the_syn_timeout_gives_up_after_one_retransmission(pytcp: PytcpStack) -> None:
    with pytcp.conversation() as conv:
        conv.endpoint.prepare_timer("timeout_syn")
        conv.call("connect")
        assert conv.expect("SYN").ok
        assert conv.endpoint.told("connect") == "EALREADY"
        assert conv.elapse("timeout_syn").state == "CLOSED"
        syns = [c for c in conv.packets if c.outbound]
        assert len(syns) == 2 and syns[0].packet.seq == syns[1].packet.seq
        assert conv.endpoint.told("connect") == "ETIMEDOUT"
        assert conv.endpoint.told("recv") is None  # PyTCP's recv cannot peek: not asked


# The generated transition suite on PyTCP 0.3.8: each scenario's verdict and
# the profile entries it departed by (specs/profiles/pytcp.toml, where each
# has its source reference; docs/findings.md explains them). A change in
# PyTCP, in the adapter or in the generator shows here.
DEVIATES = {
    "t09_syn_sent_rst_ack_of_syn_closed": "syn_sent_rst_needs_seq_zero",
    "t36_time_wait_rst_closed": "rst_ignored_in_time_wait",
    "t57_fin_wait_2_timeout_fin_wait_2_implementation_closed": "fin_wait_2_orphan_timeout",
    "t58_time_wait_syn_implementation_syn_rcvd": "syn_reopens_time_wait",
}
NOT_DRIVABLE: set[str] = set()


def _shape(result: ScenarioResult) -> tuple[tuple[object, ...], ...]:
    """The segments of a run, sequence numbers relative to each side's
    latest SYN (the ISS has a wall-clock component, RFC 6528: a TIME_WAIT
    reopen picks a new one)."""
    first: dict[bool, int] = {}
    out = []
    for c in result.packets:
        p = c.packet
        if p.flags & 0x02 or c.outbound not in first:
            first[c.outbound] = p.seq
        other = first.get(not c.outbound)
        ack = (p.ack - other) % 2**32 if p.flags & 0x10 and other is not None else None
        out.append((c.outbound, p.flags, (p.seq - first[c.outbound]) % 2**32, ack, p.payload, p.window))
    return tuple(out)


def test_generated_transition_suite_verdicts_are_pinned_and_repeat(pytcp: PytcpStack) -> None:
    """The pinned verdicts, twice over: the second run of the suite gives
    the same verdicts and the same segments (relative sequence numbers)."""
    suite = transitions_suite()
    runs = []
    for _ in range(2):
        results = run_suite(pytcp, suite)
        runs.append(({n: (r.verdict, tuple(r.deviations)) for n, r in results.items()},
                     {n: _shape(r) for n, r in results.items()}))
    got = runs[0][0]
    assert got == expected_verdicts(suite, DEVIATES, NOT_DRIVABLE)
    assert len(suite) == 52 and sum(v == "pass" for v, _ in got.values()) == 48
    assert runs[1][0] == runs[0][0]
    changed = [name for name in runs[0][1] if runs[0][1][name] != runs[1][1][name]]
    assert not changed, [(n, runs[0][1][n], runs[1][1][n]) for n in changed[:2]]


def test_negative_control_a_wrong_expected_state_fails(pytcp: PytcpStack) -> None:
    """The same scenario that passes, with ESTABLISHED replaced by CLOSE_WAIT
    in its last expectation, must fail at that step."""
    check_a_wrong_expected_state_fails(pytcp)


def test_negative_control_without_the_profile_a_deviation_fails(pytcp: PytcpStack) -> None:
    """A deviation is one only because the profile documents it: judged by
    the bare RFC machine, the same run fails at the same step."""
    scenario = next(s for s in transitions_suite() if s.name == "t09_syn_sent_rst_ack_of_syn_closed")
    result = execute(pytcp, scenario, Profile("rfc", "RFC 9293"))
    assert result.verdict == "fail"
    bad = next(s for s in result.steps if s.verdict == "fail")
    assert (bad.expected, bad.observed) == ("state CLOSED", "state SYN_SENT")


def test_a_missing_pytcp_is_one_line_and_exit_2(monkeypatch: pytest.MonkeyPatch) -> None:
    real = pytcp_adapter.importlib.util.find_spec
    monkeypatch.setattr(pytcp_adapter.importlib.util, "find_spec",
                        lambda name, *a: None if name == "pmd_pytcp" else real(name, *a))
    assert pytcp_adapter.pytcp_unavailable() == pytcp_adapter.INSTALL
    result = CliRunner().invoke(main, ["run", "--stack", "pytcp", "active_open"])
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0 and "pip install 'tcpcheck[pytcp]'" in result.output


def test_a_different_pytcp_release_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pytcp_adapter.metadata, "version", lambda name: "2.7.6")
    reason = pytcp_adapter.pytcp_unavailable()
    assert reason is not None
    assert reason.startswith("PyTCP 2.7.6 is installed, the adapter and its profile are for 0.3.8")


@pytest.mark.slow
def test_every_generated_scenario_passes_or_is_documented(pytcp: PytcpStack) -> None:
    """All criteria (about 600 scenarios, under a minute): no fail and
    nothing not drivable on PyTCP; the deviations are the four entries the
    transition suite shows."""
    from tcpcheck.tools.generate import CRITERIA

    model = load_drive_model(load_spec(), "linux")
    explorer = Explorer(model)
    verdicts: dict[str, int] = {}
    entries: set[str] = set()
    for criterion in CRITERIA:
        for scenario in build_suite(model, criterion, 1, explorer).scenarios:
            result = execute(pytcp, scenario, pytcp.profile())
            assert result.verdict in ("pass", "deviation"), result.to_json()
            verdicts[result.verdict] = verdicts.get(result.verdict, 0) + 1
            entries.update(result.deviations)
    assert entries == set(DEVIATES.values())
    assert verdicts["pass"] > verdicts["deviation"] > 0


def test_a_setting_it_lacks_makes_a_scenario_not_drivable(pytcp: PytcpStack) -> None:
    check_settings_it_lacks_are_not_drivable(pytcp)
