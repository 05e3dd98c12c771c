"""Sequence-aware segments on the real kernel (issue 15, item 4): what
TIME_WAIT does with a retransmitted FIN, measured on its timer."""

from __future__ import annotations

import bisect
import dataclasses
import re
import socket
import time

import pytest

from tcpcheck.tools.runner import sockdiag
from tcpcheck.tools.runner.harness import Conversation
from tcpcheck.tools.runner.stack import Stack
from tcpcheck.tools.runner.stacks.linux import CLOCK_MONOTONIC_COARSE, LinuxEndpoint

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
    before, after = (int(x) for x in re.findall(r"(\d+) ms", check[0].note)[:2])
    assert after > before and after > TIME_WAIT_MS - 100, check[0].note
    moved = int(re.findall(r"expiry moved (-?\d+) ticks", check[0].note)[0])
    tick = time.clock_getres(CLOCK_MONOTONIC_COARSE) * 1000  # a jiffy
    # it ran at least the 2 ticks the check needs
    assert moved >= 2 and before <= TIME_WAIT_MS - 2 * tick, check[0].note

    # a kernel whose jiffies cannot be read exactly (before 6.4): judged by the timer's own movement
    mp = pytest.MonkeyPatch()
    mp.setattr("tcpcheck.tools.runner.stacks.linux.ticks_aligned", lambda release="": False)
    try:
        old = execute(tcp_harness, scenario, profile)
    finally:
        mp.undo()
    check = [s for s in old.steps if s.step == "timer time_wait restarted"]
    assert old.verdict == "pass" and len(check) == 1 and "expiry moved" not in check[0].note, check

    seen: list[tuple[int, float]] = []
    real = LinuxEndpoint.timer_left

    def never_restarted(self: LinuxEndpoint, timer: str) -> int | None:
        """The timer as the kernel showed it first, then running down in
        whole jiffies as the kernel counts them (a tick boundary every
        multiple of the tick on CLOCK_MONOTONIC): the FIN restarts nothing."""
        tick = self.timer_tick_ms()
        if not seen:
            left = real(self, timer)
            if left is not None:
                seen.append((left, time.monotonic()))
            return left
        ran = time.monotonic() * 1000 // tick - seen[0][1] * 1000 // tick
        return int(seen[0][0] - ran * tick)

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


class _Kernel:
    """A model of Linux's clocks, to try the runner's timer check on every
    tick phase and delay, not only those this machine shows. Jiffies and
    CLOCK_MONOTONIC_COARSE move only in an update, which sets jiffies to
    floor(now / tick) and the coarse clock to the last boundary of its own
    accumulation (at ``phase`` within the tick). Updates come ``latency``
    after each tick boundary, none at the boundaries in ``missed`` (a
    jiffies update stalled behind a preempted CPU), and at the times in
    ``extra`` (a CPU leaving idle catches up mid-tick)."""

    def __init__(self, hz: int, phase: float, latency: float, missed: range, extra: tuple[int, ...]) -> None:
        self.hz, self.tick = hz, (1_000_000_000 + hz // 2) // hz  # TICK_NSEC
        self.phase = int(phase * self.tick)
        ticks = (k * self.tick + int(latency * self.tick) for k in range(1, 400) if k not in missed)
        self.updates = sorted((*ticks, *extra))
        self.now = 0  # ns, CLOCK_MONOTONIC

    def _last_update(self, t: int) -> int:
        at = bisect.bisect_right(self.updates, t)
        return self.updates[at - 1] if at else 0

    def jiffies(self, t: int) -> int:
        return self._last_update(t) // self.tick

    def coarse(self, t: int) -> int:
        u = self._last_update(t)
        return (u - self.phase) // self.tick * self.tick + self.phase

    def msecs(self, j: int) -> int:
        """jiffies_to_msecs (rounded up when the tick is not whole ms)."""
        return -(-j * 1000 // self.hz)


class _Endpoint:
    """LinuxEndpoint.timer_reading on the model: a sock_diag read takes
    20 us and samples jiffies in its middle; retried 0.2 ms later until
    jiffy_at can tell."""

    def __init__(self, kernel: _Kernel) -> None:
        self.kernel, self.expiry = kernel, 0

    def timer_tick_ms(self) -> float:
        return self.kernel.tick / 1e6

    def timer_reading(self, timer: str) -> tuple[int, int | None]:
        from tcpcheck.tools.runner.stacks.linux import jiffy_at

        k = self.kernel
        for _ in range(2000):
            m1 = k.now
            left = k.msecs(self.expiry - k.jiffies(m1 + 10_000))
            m2 = k.now = m1 + 20_000
            jiffy = jiffy_at(k.coarse(m1), m1, m2, k.coarse(m2), k.tick)
            if jiffy is not None:
                return left, jiffy
            k.now += 200_000
        return left, None


class _Conversation:
    def __init__(self, endpoint: _Endpoint) -> None:
        self.endpoint = endpoint

    def next_packet(self, timeout: float) -> None:
        self.endpoint.kernel.now += int(timeout * 1e9)  # nothing comes: the wait runs out


def _misjudged(first: bool = False) -> list[tuple[object, ...]]:
    """Every model case the runner's check judges wrongly: HZ 100, 250,
    300 and 1000; the coarse clock's phase in the tick; the update's
    latency; a stall of 1-6 ticks and a mid-tick catch-up just before it,
    placed around each reading; the timer armed at any phase, the runner's
    wait starting 0-3 ticks later, the step taking 0.1 ms to 2 ticks; the
    timer restarted by the step or kept. ``first``: stop at the first."""
    from tcpcheck.tools.runner.execute import _let_timer_run

    wrong: list[tuple[object, ...]] = []
    for hz in (100, 250, 300, 1000):
        tick = (1_000_000_000 + hz // 2) // hz
        length = 60 * hz  # TCP_TIMEWAIT_LEN in jiffies
        for phase in (0.0, 0.21, 0.9):
            for latency in (0.001, 0.1):
                for stall_at in (None, 4, 5, 6):
                    for stall in (1, 6):
                        for catch_up in (False, True):
                            if stall_at is None and (stall > 1 or catch_up):
                                continue
                            missed = range(stall_at, stall_at + stall) if stall_at else range(0)
                            # a CPU leaving idle catches up in the tick before the stall, past the phase
                            extra = ((stall_at - 1) * tick + int(0.95 * tick),) if stall_at and catch_up else ()
                            if stall_at and catch_up:
                                missed = range(stall_at - 1, stall_at + stall)
                            for arm in (0.3, 0.97):  # where in tick 3 the timer is armed
                                for enter in (0.0, 3.0):  # ticks from arming to the runner's wait
                                    for step in (0.0001, 2.0):  # ticks the step takes
                                        for restart in (True, False):
                                            kernel = _Kernel(hz, phase, latency, missed, extra)
                                            kernel.now = int((3 + arm) * tick)
                                            endpoint = _Endpoint(kernel)
                                            endpoint.expiry = kernel.jiffies(kernel.now) + length
                                            kernel.now += int(enter * tick)
                                            before, cut = _let_timer_run(
                                                _Conversation(endpoint),  # type: ignore[arg-type]
                                                "time_wait", kernel.msecs(length))
                                            assert before is not None and not cut
                                            if restart:
                                                endpoint.expiry = kernel.jiffies(kernel.now + 10_000) + length
                                            kernel.now += int(step * tick)
                                            after, clock = endpoint.timer_reading("time_wait")
                                            if before.restarted(after, clock) is not restart:
                                                wrong.append((hz, phase, latency, stall_at, stall, catch_up, arm,
                                                              enter, step, restart))
                                                if first:
                                                    return wrong
    return wrong


def test_the_timer_check_judges_every_tick_phase_and_delay_right(monkeypatch: pytest.MonkeyPatch) -> None:
    """On the model of the kernel's clocks (_Kernel), whatever the tick
    rate, phases, delays and stalls, the timer check after the step
    (stacks/linux.py: jiffy_at; execute.py: _let_timer_run and
    TimerBefore) tells a restarted timer from a kept one; and it does not
    when the wait is cut (the timer run fewer ticks before the step than
    RESTART_TICKS) or the expiry before the step is read in one tick."""
    from tcpcheck.tools.runner import execute

    assert _misjudged() == []
    monkeypatch.setattr(execute, "READ_IN_TICKS", 1)  # a reading one tick late hides a restart
    assert _misjudged(first=True)
    monkeypatch.setattr(execute, "READ_IN_TICKS", 2)
    monkeypatch.setattr(execute, "RESTART_TICKS", 1)  # a late reading after the step passes for a restart
    assert _misjudged(first=True)
    monkeypatch.setattr(execute, "RESTART_TICKS", 0)  # no wait: a restart in the arming tick moves nothing
    assert _misjudged(first=True)


def test_without_the_exact_clock_the_timer_is_judged_by_its_own_movement() -> None:
    from tcpcheck.tools.runner.execute import TimerBefore

    assert TimerBefore(59000).restarted(59500, None) is True
    assert TimerBefore(59000).restarted(58000, 7) is False
    assert TimerBefore(59000, 100, 4.0).restarted(59500, None) is None  # exact before, not after: cannot say


@pytest.mark.parametrize(("release", "aligned"), [
    ("6.18.44-fc-v1252", True), ("6.4.0", True), ("10.0.1", True), ("6.3.13-200.fc38.x86_64", False),
    ("5.15.0-91-generic", False), ("4.19.0", False), ("unknown", False)])
def test_jiffies_are_read_only_where_the_tick_is_aligned(release: str, aligned: bool) -> None:
    """jiffy_at takes jiffies to advance at multiples of the tick on
    CLOCK_MONOTONIC, as Linux does since 6.4; before, or when the release
    does not say, the runner judges the timer by its own movement."""
    from tcpcheck.tools.runner.stacks.linux import ticks_aligned

    assert ticks_aligned(release) is aligned
