"""Sequence-aware segments on the real kernel (issue 15, item 4): what
TIME_WAIT does with a retransmitted FIN, measured on its timer."""

from __future__ import annotations

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
