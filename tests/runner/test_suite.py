"""The built-in suite run through the executor on the real kernel: every
verdict pass or a documented deviation, and undocumented differences fail."""

from __future__ import annotations

import dataclasses
import re

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
    "rst_in_time_wait_rfc1337_then_fin": ["rfc1337_ignores_rst_in_time_wait"],
    "close_with_unread_data_then_ack": ["close_with_unread_data_sends_rst"],
    "old_fin_in_time_wait": ["time_wait_timer_restarted_by_any_ack"],
    "ack_in_time_wait": ["time_wait_timer_restarted_by_any_ack"],
    "duplicate_data_in_time_wait": ["time_wait_timer_restarted_by_any_ack"],
    "abort_in_time_wait": ["time_wait_outlives_the_descriptor"],
    "time_wait_syn_reopens": ["syn_reopens_time_wait"],
    "no_time_wait_fin_again": ["no_time_wait_retransmitted_fin_gets_rst"],
    "time_wait_refuses_old_window_syn": ["time_wait_refuses_syn_in_old_window"],
    "time_wait_old_window_syn_newer_timestamp": ["syn_reopens_time_wait"],
    # what the user is told ([[signal]] in the profile)
    "syn_sent_rst_acceptable": ["syn_sent_rst_told_refused"],
    "simultaneous_open_rst": ["simultaneous_open_rst_told_reset"],
    "rst_in_close_wait": ["close_wait_rst_told_eof"],
    # a second CLOSE (shutdown) in CLOSING and LAST_ACK: 'ok' where the RFC says 'connection closing'
    "abort_in_closing": ["close_again_in_closing_told_ok"],
    "abort_in_last_ack": ["close_again_in_last_ack_told_ok"],
}


@pytest.fixture(scope="module")
def profile() -> Profile:
    return load_profile(known_transitions={t.id for t in load_spec().transitions})


# What the runner cannot drive (a limit of the runner, not of the stack).
NOT_DRIVABLE = {"passive_syn_rcvd_close"}


@pytest.mark.parametrize("scenario", FAST, ids=[s.name for s in FAST])
def test_builtin_scenario(scenario: Scenario, tcp_harness: Harness, profile: Profile) -> None:
    result = execute(tcp_harness, scenario, profile)
    if scenario.name in NOT_DRIVABLE:
        assert result.verdict == "not drivable" and "request socket" in result.note and not result.steps
        return
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
    assert kept.verdict == "pass" and kept.steps[-3].step == "expect ACK" and kept.steps[-1].state.startswith("TIME")
    assert (kept.steps[-1].step, kept.steps[-1].verdict) == ("timer time_wait restarted", "pass")
    skipped = execute(tcp_harness, suite["no_time_wait_fin_again"], profile)
    answer = next(s for s in reversed(skipped.steps) if s.step == "expect ACK" and s.verdict != "skipped")
    assert (answer.expected, answer.observed, answer.verdict) == ("ACK", "RST", "deviation")
    assert answer.state.startswith("CLOSED") and "no timewait socket" in answer.state
    assert skipped.sysctls == {"net/ipv4/tcp_max_tw_buckets": "0"}
    # the same difference without the profile entry is a failure
    assert execute(tcp_harness, suite["no_time_wait_fin_again"], Profile("empty", "none")).verdict == "fail"


def test_why_time_wait_reason_2_on_linux(tcp_harness: Harness, profile: Profile) -> None:
    """The peer reopens the 4-tuple with its old ISN, so the old incarnation's
    DATA and FIN fall exactly into the new window. In TIME_WAIT Linux refuses
    that SYN (an ACK of the old connection, RFC 6191); with
    tcp_max_tw_buckets=0 the new connection opens and takes the old data and
    FIN for its own: the model's no_old_segment_accepted counterexample."""
    suite = {s.name: s for s in default_suite()}
    kept = execute(tcp_harness, suite["time_wait_refuses_old_window_syn"], profile)
    syn = next(s for s in kept.steps if s.step == "inject SYN (old_window)")
    refused = kept.steps[kept.steps.index(syn) + 1]
    assert (refused.expected, refused.observed, refused.verdict) == ("SYN_ACK", "ACK", "deviation")
    after = kept.steps[kept.steps.index(refused) + 1]
    assert (after.step, after.verdict) == ("expect_state TIME_WAIT (profile)", "pass")
    old_fin = next(s for s in kept.steps if s.step == "inject FIN_ACK_OF_FIN")
    # the ACK acknowledges the OLD connection's FIN, not the new SYN
    assert _ack_of(refused.note) == _seq_of(old_fin.note) + 1 != _seq_of(syn.note) + 1
    assert kept.verdict == "deviation" and kept.deviations == ["time_wait_refuses_syn_in_old_window"]

    taken = execute(tcp_harness, suite["no_time_wait_old_segments_accepted"], profile)
    assert taken.verdict == "pass" and taken.sysctls == {"net/ipv4/tcp_max_tw_buckets": "0"}
    first_data = next(s for s in taken.steps if s.step == "inject DATA")
    old_data = next(s for s in taken.steps if s.step == "inject DATA (old_acceptable)")
    assert _seq_of(old_data.note) == _seq_of(first_data.note)  # the old incarnation's bytes, at the same place
    answer = taken.steps[taken.steps.index(old_data) + 1]
    assert answer.verdict == "pass" and _ack_of(answer.note) == _seq_of(old_data.note) + len("tcpcheck")
    assert taken.steps[-1].state.startswith("CLOSE_WAIT")  # the old FIN closed the new connection
    # Without the scenario's sysctl, the same steps meet TIME_WAIT and fail at the SYN.
    strict = dataclasses.replace(suite["no_time_wait_old_segments_accepted"], sysctls={})
    assert [s.step for s in execute(tcp_harness, strict, Profile("empty", "none")).steps
            if s.verdict == "fail"] == ["expect SYN_ACK"]


def test_timestamps_on_linux(tcp_harness: Harness, profile: Profile) -> None:
    """With the timestamp option negotiated (RFC 7323), the SYN that TIME_WAIT
    refuses without it (ISN inside the old window) carries a newer TSval and
    reopens the 4-tuple (RFC 6191 §2); Linux's new ISS is the old SND.NXT
    + 65537 (tcp_timewait_state_process(): tw_snd_nxt + 65535 + 2). In
    ESTABLISHED, new data at RCV.NXT with an old TSval is dropped by PAWS and
    answered with an ACK of RCV.NXT (RFC 7323 §5.3, tcp_validate_incoming())."""
    suite = {s.name: s for s in default_suite()}
    newer = suite["time_wait_old_window_syn_newer_timestamp"]
    reopened = execute(tcp_harness, newer, profile)
    assert reopened.verdict == "deviation" and reopened.deviations == ["syn_reopens_time_wait"]
    syn = next(s for s in reopened.steps if s.step == "inject SYN (old_window)")
    first = next(s for s in reopened.steps if s.step == "inject SYN")
    assert _seq_of(syn.note) == _seq_of(first.note)  # the same ISN: inside the old window
    answer = reopened.steps[reopened.steps.index(syn) + 1]
    assert (answer.step, answer.verdict) == ("expect SYN_ACK", "pass") and "[SA]" in answer.note
    last_ack = reopened.steps[reopened.steps.index(syn) - 2]
    assert last_ack.step == "expect ACK" and _seq_of(answer.note) == (_seq_of(last_ack.note) + 65537) & 0xFFFFFFFF
    assert reopened.steps[-1].state.startswith("SYN_RCVD")
    # Without timestamps the same steps meet the refusal (an ACK of the old FIN).
    plain = execute(tcp_harness, dataclasses.replace(newer, timestamps=False), profile)
    refused = plain.steps[[s.step for s in plain.steps].index("inject SYN (old_window)") + 1]
    assert (refused.observed, refused.verdict) == ("ACK", "deviation")
    assert "time_wait_refuses_syn_in_old_window" in plain.deviations

    paws = execute(tcp_harness, suite["paws_drops_stale_data_in_established"], profile)
    assert paws.verdict == "pass"
    stale = next(s for s in paws.steps if s.step == "inject DATA (stale_timestamp)")
    dup = paws.steps[paws.steps.index(stale) + 1]
    assert (dup.step, dup.verdict) == ("expect ACK", "pass") and "[A]" in dup.note
    assert _ack_of(dup.note) == _seq_of(stale.note)  # RCV.NXT still at the stale data: not taken


def test_old_segment_replayed_as_sent_is_dropped(tcp_harness: Harness, profile: Profile) -> None:
    """The old DATA replayed with its own ACK field (which acknowledges the
    old connection's bytes): the reopened connection has acknowledged none of
    its own yet, so Linux drops it with a challenge ACK and stays ESTABLISHED
    (RFC 5961 §5.2, tcp_ack(); profile note old_ack_of_bytes_never_sent_dropped)."""
    base = next(s for s in default_suite() if s.name == "no_time_wait_old_segments_accepted")
    cut = base.steps.index(Inject("DATA", "old_acceptable"))
    replay = (Inject("DATA", "old"), Expect("ACK"), ExpectState("ESTABLISHED"))
    scenario = Scenario("replayed", base.steps[:cut] + replay, sysctls=base.sysctls)
    result = execute(tcp_harness, scenario, profile)
    assert profile.entry("old_ack_of_bytes_never_sent_dropped") is not None
    sent = next(s for s in result.steps if s.step == "inject DATA (old)")
    challenge = result.steps[result.steps.index(sent) + 1]
    assert challenge.verdict == "fail" and challenge.observed == "ACK"
    # its ACK still asks for the old data's first byte: not taken
    assert f"acknowledges {_seq_of(sent.note)}," in challenge.note
    assert challenge.state.startswith("ESTABLISHED")


def _seq_of(summary: str) -> int:
    """The sequence number of the packet a step's note summarises."""
    return int(re.findall(r"\] seq (\d+)", summary)[-1])


def _ack_of(summary: str) -> int:
    """Its acknowledgment number."""
    return int(re.findall(r" ack (\d+)", summary)[-1])


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


def _with_entry(profile: Profile, ident: str, **changes: object) -> Profile:
    """``profile`` with entry ``ident`` changed (a profile that documents the
    deviation wrongly)."""
    entries = tuple(dataclasses.replace(d, **changes) if d.id == ident else d  # type: ignore[arg-type]
                    for d in profile.deviations)
    return dataclasses.replace(profile, deviations=entries)


UNREAD = "close_with_unread_data_sends_rst"


def test_a_deviation_whose_precondition_does_not_hold_fails(tcp_harness: Harness, profile: Profile) -> None:
    """RST on close with unread data is documented after the peer's DATA, with
    no recv: the same profile entry, but scoped to a sysctl not in force, to
    a call the scenario did not make, to a segment the peer did not send, to
    a history the model does not have (a passive open) or to model option
    values the profile does not run under (note3 on), turns the step into a
    failure."""
    scenario = next(s for s in default_suite() if s.name == "close_with_unread_data")
    assert execute(tcp_harness, scenario, profile).deviations == [UNREAD]
    # the precondition in the model's terms holds (an active open), and so do model options it names
    for changes in ({"when": "not self.passive"}, {"options": {"note3": False, "implementation": True}}):
        assert execute(tcp_harness, scenario, _with_entry(profile, UNREAD, **changes)).deviations == [UNREAD]
    for changes in ({"condition": {"tcp_rfc1337": "1"}}, {"after_calls": ("listen",)},
                    {"after_injects": ("DATA", "FIN")}, {"unless_calls": ("connect",)},
                    {"when": "self.passive"}, {"options": {"note3": True}}):
        result = execute(tcp_harness, scenario, _with_entry(profile, UNREAD, **changes))
        assert result.verdict == "fail", changes
        assert [(s.expected, s.observed) for s in result.steps if s.verdict == "fail"] == [("FIN", "RST_ACK")]


def test_a_deviation_documents_the_transition_of_its_step(tcp_harness: Harness, profile: Profile) -> None:
    """An entry for another transition of the same scenario does not excuse
    the step: the RST comes in ESTABLISHED--close-->FIN_WAIT_1, not in the
    handshake the scenario also walks."""
    scenario = next(s for s in default_suite() if s.name == "close_with_unread_data")
    handshake = "SYN_SENT--SYN_ACK-->ESTABLISHED"
    claims = dataclasses.replace(scenario, transitions=(handshake, *scenario.transitions))
    assert execute(tcp_harness, claims, profile).verdict == "deviation"
    result = execute(tcp_harness, claims, _with_entry(profile, UNREAD, transition=handshake))
    assert result.verdict == "fail"


def test_what_the_profile_says_comes_next_is_checked(tcp_harness: Harness, profile: Profile) -> None:
    """After the deviation the stack must be where the entry's ``instead``
    says (CLOSED after the RST); an entry that says TIME_WAIT fails there."""
    scenario = next(s for s in default_suite() if s.name == "close_with_unread_data")
    right = execute(tcp_harness, scenario, profile)
    after = next(s for s in right.steps if s.step.endswith("(profile)"))
    assert (after.step, after.verdict) == ("expect_state CLOSED (profile)", "pass")
    wrong = execute(tcp_harness, scenario, _with_entry(profile, UNREAD, instead_to="TIME_WAIT"))
    failed = [s for s in wrong.steps if s.verdict == "fail"]
    assert wrong.verdict == "fail" and [(s.step, s.observed) for s in failed] == \
        [("expect_state TIME_WAIT (profile)", "state CLOSED")]


def test_not_drivable_after_calls_is_scoped(profile: Profile) -> None:
    """Close in SYN_RCVD is not drivable after listen (a request socket) and
    drivable after connect (simultaneous open); unscoped questions (the
    generator's) see only the entries that hold everywhere."""
    close = "SYN_RCVD--close-->FIN_WAIT_1"
    assert profile.reason_not_drivable(close) is None
    assert "request socket" in (profile.reason_not_drivable(close, ("listen",)) or "")
    assert profile.reason_not_drivable(close, ("connect",)) is None


def test_the_orphan_fin_wait_2_goes_in_a_fraction_of_a_second(tcp_harness: Harness, profile: Profile) -> None:
    """tcp_fin_timeout=0 leaves 3.5 RTO (0.7 s at Linux's default 200 ms
    floor); with tcp_rto_min_us the floor is 20 ms for that scenario only,
    and put back after it."""
    from tcpcheck.tools.runner.netns import sysctl_exists

    scenario = next(s for s in default_suite() if s.name == "fin_wait_2_orphan_timeout")
    fast = sysctl_exists("tcp_rto_min_us")
    before = tcp_harness.ns.sysctls(["net/ipv4/tcp_rto_min_us"]) if fast else {}
    result = execute(tcp_harness, scenario, profile)
    assert result.verdict == "deviation" and result.deviations == ["fin_wait_2_orphan_timeout"]
    waited = next(s for s in result.steps if s.step == "elapse timeout_fin_wait_2")
    assert waited.verdict == "pass" and waited.seconds < (0.5 if fast else 1.0), waited
    if fast:
        assert result.sysctls["net/ipv4/tcp_rto_min_us"] == "20000"
        assert tcp_harness.ns.sysctls(["net/ipv4/tcp_rto_min_us"]) == before


def test_steps_after_a_deviation_are_walked_from_the_deviated_state(tcp_harness: Harness, profile: Profile) -> None:
    """The scenario's steps after the deviation follow the RFC path (CLOSED
    answers the FIN with RST); the runner replays their acting steps on the
    model from where the profile says the stack is: TIME_WAIT acknowledges
    the retransmitted FIN. None is skipped, each is judged."""
    scenario = next(s for s in default_suite() if s.name == "rst_in_time_wait_rfc1337_then_fin")
    result = execute(tcp_harness, scenario, profile)
    assert result.verdict == "deviation", [s.to_json() for s in result.steps]
    replayed = [(s.step, s.verdict, s.transition) for s in result.steps if s.step.endswith("(after deviation)")]
    fin_again = "TIME_WAIT--FIN-->TIME_WAIT"
    assert replayed == [("inject FIN (after deviation)", "pass", fin_again),
                        ("expect ACK (after deviation)", "pass", fin_again),
                        ("expect_state TIME_WAIT (after deviation)", "pass", fin_again)]
    assert not [s for s in result.steps if s.verdict == "skipped"]
    # the scenario's own expectation for the FIN (a RST from CLOSED) is not judged
    assert "expect RST" not in [s.step for s in result.steps]
    # the RST of a reset connection: the peer's later ACK finds none and draws a RST
    unread = execute(tcp_harness, next(s for s in default_suite() if s.name == "close_with_unread_data_then_ack"),
                     profile)
    assert [(s.step, s.verdict) for s in unread.steps if s.step.endswith("(after deviation)")] == [
        ("inject ACK (after deviation)", "pass"), ("expect RST (after deviation)", "pass"),
        ("expect_state CLOSED (after deviation)", "pass")], [s.to_json() for s in unread.steps]


def test_a_wrong_walk_after_a_deviation_fails(tcp_harness: Harness, profile: Profile,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The replayed steps are judged like any other: on a mutant spec where
    TIME_WAIT answers a retransmitted FIN with RST, the replayed expectation
    fails (the stack acknowledges it); an entry whose ``instead`` names the
    wrong state fails at the profile's own check, before any replay."""
    from tcpcheck.tools.runner import replay

    scenario = next(s for s in default_suite() if s.name == "rst_in_time_wait_rfc1337_then_fin")
    spec = load_spec()
    fin_again = "TIME_WAIT--FIN-->TIME_WAIT"
    mutant = dataclasses.replace(spec, transitions=tuple(
        dataclasses.replace(t, sends=("RST",)) if t.id == fin_again else t for t in spec.transitions))
    monkeypatch.setattr(replay, "_spec", lambda: mutant)
    fresh = dataclasses.replace(profile)  # not the cached drive model of the shipped profile
    bad = execute(tcp_harness, scenario, fresh)
    failed = [(s.step, s.expected, s.observed) for s in bad.steps if s.verdict == "fail"]
    assert bad.verdict == "fail" and failed == [("expect RST (after deviation)", "RST", "ACK")]
    monkeypatch.undo()
    wrong = execute(tcp_harness, scenario, _with_entry(profile, "rfc1337_ignores_rst_in_time_wait",
                                                       instead_to="CLOSED"))
    assert wrong.verdict == "fail"
    assert [s.step for s in wrong.steps if s.verdict == "fail"] == ["expect_state CLOSED (profile)"]
    assert not [s for s in wrong.steps if s.step.endswith("(after deviation)")]
