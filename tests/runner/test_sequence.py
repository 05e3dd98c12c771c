"""Sequence-aware segments on the real kernel (issue 15, item 4): what
TIME_WAIT does with a retransmitted FIN, measured on its timer."""

from __future__ import annotations

import dataclasses
import re
import socket
import time

import pytest

from tcpcheck.tools.runner import sockdiag
from tcpcheck.tools.runner.harness import Conversation
from tcpcheck.tools.runner.stack import Stack
from tcpcheck.tools.runner.stacks.linux import LinuxEndpoint

TIME_WAIT_MS = 60_000  # Linux TCP_TIMEWAIT_LEN


def _expires_ms(conv: Conversation) -> int:
    """The TIME_WAIT timer's remaining time, as sock_diag reports it (idiag_expires)."""
    endpoint = conv.endpoint
    assert isinstance(endpoint, LinuxEndpoint)
    f = endpoint.flow
    found = sockdiag.lookup(endpoint.stack.diag.nl, socket.AF_INET, f.local, f.lport, f.remote, f.rport)
    assert found is not None and found.rfc_state == "TIME_WAIT" and sockdiag.TIMERS[found.timer] == "timewait"
    return found.expires_ms


def _expect(conv: Conversation, segment: str) -> None:
    match = conv.expect(segment)
    assert match.ok, (segment, match.observed, match.detail)


def test_retransmitted_fin_restarts_the_time_wait_timer(tcp_harness: Stack) -> None:
    """RFC 9293 §3.10.7.4 (eighth, TIME-WAIT): a retransmitted FIN is
    acknowledged and the 2 MSL timeout restarted. Measured: the timer's
    remaining time is let fall by at least 100 ms (a bounded wait on the
    kernel's own clock, no fixed sleep), then the FIN comes again and the
    remaining time is back near the full 60 s."""
    if tcp_harness.name != "linux":
        pytest.skip("reads the Linux timewait socket's timer with sock_diag")
    with tcp_harness.conversation() as conv:
        conv.call("connect")
        _expect(conv, "SYN")
        conv.inject("SYN_ACK")
        _expect(conv, "ACK")
        conv.call("close")
        _expect(conv, "FIN")
        conv.inject("FIN_ACK_OF_FIN")
        _expect(conv, "ACK")
        first = _expires_ms(conv)
        assert TIME_WAIT_MS - 1000 < first <= TIME_WAIT_MS
        deadline = time.monotonic() + 2.0
        before = first
        while before > first - 100 and time.monotonic() < deadline:
            conv.next_packet(0.02)  # a bounded wait on the TUN: nothing is expected, the timer runs
            before = _expires_ms(conv)
        assert before <= first - 100, "the TIME_WAIT timer did not run"
        conv.inject("FIN")  # the peer's FIN again (same sequence number): our ACK was lost
        _expect(conv, "ACK")
        after = _expires_ms(conv)
        assert conv.observe().state == "TIME_WAIT"
        print(f"TIME_WAIT timer: {first} ms at entry, {before} ms before the FIN again, {after} ms after it")
        assert after > before + 50 and after > TIME_WAIT_MS - 100, (first, before, after)


def test_the_timer_restart_is_a_step_of_every_scenario_that_takes_it(tcp_harness: Stack) -> None:
    """specs/timed.toml says a FIN restarts the TIME_WAIT timer: the runner
    checks it after TIME_WAIT--FIN-->TIME_WAIT in any scenario (the timer let
    run first, bounded, no fixed sleep), and a stack that does not restart
    it fails there."""
    if tcp_harness.name != "linux":
        pytest.skip("reads the Linux timewait socket's timer with sock_diag")
    from tcpcheck.model.spec import load_spec
    from tcpcheck.tools.runner.execute import execute
    from tcpcheck.tools.runner.profile import load_profile
    from tcpcheck.tools.runner.suite import default_suite

    profile = load_profile(known_transitions={t.id for t in load_spec().transitions})
    scenario = next(s for s in default_suite() if s.name == "time_wait_fin_again")
    result = execute(tcp_harness, scenario, profile)
    check = [s for s in result.steps if s.step == "timer time_wait restarted"]
    assert result.verdict == "pass" and [(s.verdict, s.transition) for s in check] == \
        [("pass", "TIME_WAIT--FIN-->TIME_WAIT")]
    before, after = (int(x) for x in re.findall(r"(\d+) ms", check[0].note))
    assert after > before and after > TIME_WAIT_MS - 100, check[0].note

    seen: list[tuple[int, float]] = []
    real = LinuxEndpoint.timer_left

    def never_restarted(self: LinuxEndpoint, timer: str) -> int | None:
        """The timer as the kernel showed it first, then running down on
        the clock in whole jiffies: the FIN restarts nothing."""
        if not seen:
            left = real(self, timer)
            if left is not None:
                seen.append((left, time.monotonic()))
            return left
        tick = self.timer_tick_ms()
        ran = (time.monotonic() - seen[0][1]) * 1000
        return int(seen[0][0] - ran // tick * tick)

    # judged against both predictions (the profile's full length), and by
    # the timer's own movement (without it)
    for judged in (profile, dataclasses.replace(profile, timer_lengths={})):
        seen.clear()
        mp = pytest.MonkeyPatch()
        mp.setattr(LinuxEndpoint, "timer_left", never_restarted)
        try:
            stuck = execute(tcp_harness, dataclasses.replace(scenario), judged)
        finally:
            mp.undo()
        failed = [(s.step, s.expected) for s in stuck.steps if s.verdict == "fail"]
        assert stuck.verdict == "fail" and failed == [("timer time_wait restarted", "timer time_wait restarted")]


def test_old_duplicate_fin_in_time_wait(tcp_harness: Stack) -> None:
    """The previous incarnation's FIN, replayed as sent, reaches the new
    incarnation's TIME_WAIT: acknowledged with the new RCV.NXT (not the old
    FIN's), ignored, TIME_WAIT stays. The model drops it (its case is
    older_unacceptable), so its timer must be kept; Linux restarts it (as
    for any segment with ACK in TIME_WAIT), which the profile documents,
    and without that entry the step fails."""
    if tcp_harness.name != "linux":
        pytest.skip("reads the Linux timewait socket's timer with sock_diag")
    from tcpcheck.model.spec import load_spec
    from tcpcheck.tools.runner.execute import execute
    from tcpcheck.tools.runner.profile import load_profile
    from tcpcheck.tools.runner.suite import default_suite

    profile = load_profile(known_transitions={t.id for t in load_spec().transitions})
    scenario = next(s for s in default_suite() if s.name == "old_fin_in_time_wait")
    result = execute(tcp_harness, scenario, profile)
    assert result.verdict == "deviation" and result.deviations == ["time_wait_timer_restarted_by_any_ack"]
    old = next(s for s in result.steps if s.step == "inject FIN (old)")
    answer = result.steps[result.steps.index(old) + 1]
    fins = [s for s in result.steps if s.step == "inject FIN_ACK_OF_FIN"]
    new_fin_seq = int(re.findall(r"\] seq (\d+)", fins[-1].note)[-1])
    old_fin_seq = int(re.findall(r"\] seq (\d+)", old.note)[-1])
    answer_ack = int(re.findall(r" ack (\d+)", answer.note)[-1])
    assert answer.verdict == "pass" and answer_ack == new_fin_seq + 1 != old_fin_seq + 1
    assert result.steps[-1].step == "timer time_wait kept" and result.steps[-1].state.startswith("TIME_WAIT")
    bare = dataclasses.replace(profile, deviations=tuple(
        d for d in profile.deviations if d.id != "time_wait_timer_restarted_by_any_ack"))
    strict = execute(tcp_harness, scenario, bare)
    assert [(s.step, s.observed) for s in strict.steps if s.verdict == "fail"] == \
        [("timer time_wait kept", "timer time_wait restarted")]


@pytest.mark.parametrize("tick", [1.0, 10 / 3, 4.0, 10.0])  # HZ 1000, 300, 250, 100
def test_kept_and_restarted_predictions_are_apart_once_the_timer_ran_enough(tick: float) -> None:
    """The check after the step judges the time left against both
    predictions. Whatever the step took and wherever the jiffy boundaries
    fall, a kept timer stays at or under the first and a restarted one at
    or over the second, once the timer has run needs() since it was armed;
    a reading is then never judged wrongly (the midpoint splits them)."""
    from tcpcheck.tools.runner.execute import READ_SLACK_MS, TimerBefore

    length = 60000
    probe = TimerBefore(0, 0.0, length, tick)
    for ran in (probe.needs(), probe.needs() + 3, 250.0):
        # the reading before the step: a whole number of ticks run, as the kernel shows it
        jiffies = -(-ran // tick)
        left = int(length - jiffies * tick)
        for took_ms in (0.2, 0.9, tick, 2.5 * tick, 37.0):
            for phase in (0.0, 0.3, 0.99):  # where in its tick the before-reading fell
                for lag in (-READ_SLACK_MS, 0.0, READ_SLACK_MS):  # one read's latency against the other's
                    before = TimerBefore(left, 1.0, length, tick)
                    between = max(0.0, took_ms + lag)  # the reads' true distance
                    passed = int((phase * tick + between) // tick)  # jiffy boundaries between the reads
                    kept = left - passed * tick
                    restarted = length - passed * tick  # the least: restarted in the before-reading's jiffy
                    predicted = before.predictions(1.0 + took_ms / 1000)
                    assert predicted is not None
                    hi, lo = predicted
                    assert kept <= hi < (hi + lo) / 2 < lo <= restarted, (tick, ran, took_ms, phase, lag)


def test_without_the_full_length_the_timer_is_judged_by_its_own_movement() -> None:
    from tcpcheck.tools.runner.execute import TimerBefore

    assert TimerBefore(59000, 0.0).predictions(1.0) is None
    assert TimerBefore(59000, 0.0, 60000, 0.0).predictions(1.0) is not None
