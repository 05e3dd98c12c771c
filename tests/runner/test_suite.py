"""The built-in suite run through the executor on the real kernel: every
verdict pass or a documented deviation, and undocumented differences fail."""

from __future__ import annotations

import pytest

from tcpcheck.model.spec import load_spec
from tcpcheck.tools.runner.execute import execute
from tcpcheck.tools.runner.harness import Harness
from tcpcheck.tools.runner.profile import Profile, load_profile
from tcpcheck.tools.runner.suite import default_suite
from tcpcheck.tools.scenario import Call, Expect, ExpectState, Inject, Scenario

# Timer scenarios are covered by test_kernel.py; here only the event-driven ones.
FAST = [s for s in default_suite() if not s.slow and not any(type(st).__name__ == "Elapse" for st in s.steps)]
EXPECTED_DEVIATIONS = {
    "close_with_unread_data": ["close_with_unread_data_sends_rst"],
    "rst_in_time_wait_rfc1337": ["rfc1337_ignores_rst_in_time_wait"],
    "abort_in_time_wait": ["time_wait_outlives_the_descriptor"],
    "passive_syn_rcvd_close": ["passive_syn_rcvd_is_a_request_socket"],
    "time_wait_syn_reopens": ["syn_reopens_time_wait"],
    "no_time_wait_fin_again": ["no_time_wait_retransmitted_fin_gets_rst"],
}


@pytest.fixture(scope="module")
def profile() -> Profile:
    return load_profile(known_transitions={t.id for t in load_spec().transitions})


@pytest.mark.parametrize("scenario", FAST, ids=[s.name for s in FAST])
def test_builtin_scenario(scenario: Scenario, tcp_harness: Harness, profile: Profile) -> None:
    result = execute(tcp_harness, scenario, profile)
    assert result.verdict in ("pass", "deviation"), [s.to_json() for s in result.steps]
    assert result.deviations == EXPECTED_DEVIATIONS.get(scenario.name, [])
    assert result.verdict == ("deviation" if scenario.name in EXPECTED_DEVIATIONS else "pass")
    # the state was observed after every step that ran
    assert all(s.state for s in result.steps if s.verdict != "skipped")


def test_why_time_wait_reason_1_on_linux(tcp_harness: Harness, profile: Profile) -> None:
    """The peer's final ACK from Linux is treated as lost and its FIN sent again: in TIME_WAIT
    Linux acknowledges it again; with tcp_max_tw_buckets=0 (no TIME_WAIT, in this namespace
    only) the FIN finds no socket and gets a RST (docs/time_wait.md, passive_closer_not_reset)."""
    suite = {s.name: s for s in default_suite()}
    kept = execute(tcp_harness, suite["time_wait_fin_again"], profile)
    assert kept.verdict == "pass" and kept.steps[-2].step == "expect ACK" and kept.steps[-1].state.startswith("TIME")
    skipped = execute(tcp_harness, suite["no_time_wait_fin_again"], profile)
    answer = next(s for s in reversed(skipped.steps) if s.step == "expect ACK" and s.verdict != "skipped")
    assert (answer.expected, answer.observed, answer.verdict) == ("ACK", "RST", "deviation")
    assert answer.state.startswith("CLOSED") and "no timewait socket" in answer.state
    assert skipped.sysctls == {"net/ipv4/tcp_max_tw_buckets": "0"}
    # the same difference without the profile entry is a failure
    assert execute(tcp_harness, suite["no_time_wait_fin_again"], Profile("empty", "none")).verdict == "fail"


def test_undocumented_difference_fails(tcp_harness: Harness) -> None:
    """Without the profile entry, Linux's RST on close with unread data is a failure."""
    scenario = next(s for s in default_suite() if s.name == "close_with_unread_data")
    result = execute(tcp_harness, scenario, Profile("empty", "none"))
    assert result.verdict == "fail"
    failed = [s for s in result.steps if s.verdict == "fail"]
    assert [(s.expected, s.observed) for s in failed] == [("FIN", "RST_ACK")]
    assert result.steps[-1].verdict == "skipped"


def test_condition_must_hold(tcp_harness: Harness, profile: Profile) -> None:
    """The rfc1337 deviation applies only with tcp_rfc1337=1: a scenario that
    wrongly expects TIME_WAIT to survive under 0 fails."""
    steps = next(s for s in default_suite() if s.name == "rst_in_time_wait").steps[:-1] + (ExpectState("TIME_WAIT"),)
    result = execute(tcp_harness, Scenario("wrong", steps, ("TIME_WAIT--RST-->CLOSED",),
                                           sysctls={"tcp_rfc1337": "0"}), profile)
    assert result.verdict == "fail"


def test_impossible_segment_is_a_failed_step(tcp_harness: Harness, profile: Profile) -> None:
    """Asking the peer to ACK a FIN the stack never sent fails the step, no crash."""
    steps = (Call("connect"), Expect("SYN"), Inject("ACK_OF_FIN"), ExpectState("SYN_SENT"))
    result = execute(tcp_harness, Scenario("bad", steps), profile)
    assert [s.verdict for s in result.steps] == ["pass", "pass", "fail", "skipped"]


def test_result_json_shape(tcp_harness: Harness, profile: Profile) -> None:
    scenario = next(s for s in default_suite() if s.name == "active_open")
    doc = execute(tcp_harness, scenario, profile).to_json()
    assert {"scenario", "transitions", "verdict", "steps", "seconds"} <= set(doc)
    assert doc["steps"][0] == {"index": 1, "step": "expect_state CLOSED", "verdict": "pass",
                               "state": "CLOSED (sock_diag: no socket)", "seconds": doc["steps"][0]["seconds"]}


def test_bad_sysctl_value_fails_the_scenario_and_changes_nothing(tcp_harness: Harness, profile: Profile) -> None:
    before = tcp_harness.ns.sysctls()
    scenario = Scenario("bad_value", (Call("listen"),), sysctls={"tcp_rfc1337": "1", "tcp_fin_timeout": "not-a-number"})
    result = execute(tcp_harness, scenario, profile)
    assert result.verdict == "fail" and "cannot set the scenario's sysctls" in result.note
    assert tcp_harness.ns.sysctls() == before


def test_socket_error_is_a_failed_step(tcp_harness: Harness, profile: Profile) -> None:
    """Two listens on one port: the second bind fails; a verdict, not a crash."""
    result = execute(tcp_harness, Scenario("twice", (Call("listen"), Call("connect"))), profile)
    assert [s.verdict for s in result.steps] == ["pass", "fail"]
