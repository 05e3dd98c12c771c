"""Integration tests on the real Linux stack: every step is followed by
the observed state, the way smoltcp's tests read (segment in, segment out,
state). Each test is one flow in the worker's private namespace."""

from __future__ import annotations

import pytest

from tcpcheck.tools.runner.drive import PeerHandle, StackHandle

ALL_STATES = {
    "CLOSED", "LISTEN", "SYN_SENT", "SYN_RCVD", "ESTABLISHED", "FIN_WAIT_1",
    "FIN_WAIT_2", "CLOSE_WAIT", "CLOSING", "LAST_ACK", "TIME_WAIT",
}


def active_open(stack: StackHandle, peer: PeerHandle) -> None:
    assert stack.state == "CLOSED"
    stack.connect()
    peer.expect("SYN")
    assert stack.state == "SYN_SENT"
    peer.send("SYN_ACK")
    peer.expect("ACK")
    assert stack.state == "ESTABLISHED"


def passive_open(stack: StackHandle, peer: PeerHandle) -> None:
    assert stack.state == "CLOSED"
    stack.listen()
    assert stack.state == "LISTEN"
    peer.send("SYN")
    peer.expect("SYN_ACK")
    assert stack.state == "SYN_RCVD"
    peer.send("ACK")
    peer.expect("NONE")
    assert stack.state == "ESTABLISHED"
    stack.accept()
    assert stack.state == "ESTABLISHED"


def simultaneous_open(stack: StackHandle, peer: PeerHandle) -> None:
    stack.connect()
    peer.expect("SYN")
    assert stack.state == "SYN_SENT"
    peer.send("SYN")
    peer.expect("SYN_ACK")
    assert stack.state == "SYN_RCVD"


def to_fin_wait_1(stack: StackHandle, peer: PeerHandle, keep_fd: bool = False) -> None:
    active_open(stack, peer)
    stack.shutdown_wr() if keep_fd else stack.close()
    peer.expect("FIN")
    assert stack.state == "FIN_WAIT_1"


def to_fin_wait_2(stack: StackHandle, peer: PeerHandle, keep_fd: bool = False) -> None:
    to_fin_wait_1(stack, peer, keep_fd)
    peer.send("ACK_OF_FIN")
    peer.expect("NONE")
    assert stack.state == "FIN_WAIT_2"


def to_time_wait(stack: StackHandle, peer: PeerHandle, keep_fd: bool = False) -> None:
    to_fin_wait_2(stack, peer, keep_fd)
    peer.send("FIN")
    peer.expect("ACK")
    assert stack.state == "TIME_WAIT"


def to_closing(stack: StackHandle, peer: PeerHandle, keep_fd: bool = False) -> None:
    to_fin_wait_1(stack, peer, keep_fd)
    peer.send("FIN")  # does not acknowledge the stack's FIN: the FINs cross
    peer.expect("ACK")
    assert stack.state == "CLOSING"


def to_close_wait(stack: StackHandle, peer: PeerHandle) -> None:
    passive_open(stack, peer)
    peer.send("FIN")
    peer.expect("ACK")
    assert stack.state == "CLOSE_WAIT"


def to_last_ack(stack: StackHandle, peer: PeerHandle, keep_fd: bool = False) -> None:
    to_close_wait(stack, peer)
    stack.shutdown_wr() if keep_fd else stack.close()
    peer.expect("FIN")
    assert stack.state == "LAST_ACK"


def test_passive_open(tcp_stack: StackHandle, tcp_peer: PeerHandle) -> None:
    """RFC 9293 Figure 5, server path: LISTEN -> SYN_RCVD -> ESTABLISHED."""
    passive_open(tcp_stack, tcp_peer)


def test_active_open(tcp_stack: StackHandle, tcp_peer: PeerHandle) -> None:
    """Client path: SYN_SENT -> ESTABLISHED on SYN,ACK."""
    active_open(tcp_stack, tcp_peer)


def test_simultaneous_open(tcp_stack: StackHandle, tcp_peer: PeerHandle) -> None:
    """SYN_SENT --rcv SYN--> SYN_RCVD (sending SYN,ACK), then ESTABLISHED."""
    simultaneous_open(tcp_stack, tcp_peer)
    assert tcp_stack.observation.method == "TCP_INFO"  # a full socket, unlike a passive SYN_RCVD
    tcp_peer.send("ACK")
    tcp_peer.expect("NONE")
    assert tcp_stack.state == "ESTABLISHED"


def test_retransmitted_syn_ack_is_acked_in_established(tcp_stack: StackHandle, tcp_peer: PeerHandle) -> None:
    """Our ACK of the SYN,ACK was lost: the peer sends it again."""
    active_open(tcp_stack, tcp_peer)
    tcp_peer.send("SYN_ACK")
    tcp_peer.expect("ACK")
    assert tcp_stack.state == "ESTABLISHED"


def test_active_close_through_fin_wait_2(tcp_stack: StackHandle, tcp_peer: PeerHandle) -> None:
    """ESTABLISHED -> FIN_WAIT_1 -> FIN_WAIT_2 -> TIME_WAIT."""
    to_time_wait(tcp_stack, tcp_peer)


def test_fin_wait_1_to_time_wait_on_fin_ack(tcp_stack: StackHandle, tcp_peer: PeerHandle) -> None:
    """A FIN that acknowledges ours goes straight to TIME_WAIT (Note 2)."""
    to_fin_wait_1(tcp_stack, tcp_peer)
    tcp_peer.send("FIN_ACK_OF_FIN")
    tcp_peer.expect("ACK")
    assert tcp_stack.state == "TIME_WAIT"


def test_simultaneous_close_through_closing(tcp_stack: StackHandle, tcp_peer: PeerHandle) -> None:
    """FIN_WAIT_1 -> CLOSING -> TIME_WAIT (RFC 9293 Figure 13)."""
    to_closing(tcp_stack, tcp_peer)
    tcp_peer.send("ACK_OF_FIN")
    tcp_peer.expect("NONE")
    assert tcp_stack.state == "TIME_WAIT"


def test_passive_close_through_last_ack(tcp_stack: StackHandle, tcp_peer: PeerHandle) -> None:
    """ESTABLISHED -> CLOSE_WAIT -> LAST_ACK -> CLOSED."""
    to_last_ack(tcp_stack, tcp_peer)
    tcp_peer.send("ACK_OF_FIN")
    tcp_peer.expect("NONE")
    assert tcp_stack.state == "CLOSED"


REACH = {
    "ESTABLISHED": active_open,
    "FIN_WAIT_1": to_fin_wait_1,
    "FIN_WAIT_2": to_fin_wait_2,
    "CLOSE_WAIT": to_close_wait,
    "CLOSING": to_closing,
    "LAST_ACK": to_last_ack,
    "TIME_WAIT": to_time_wait,
}


@pytest.mark.parametrize("state", sorted(REACH))
def test_rst_in_synchronized_state(state: str, tcp_stack: StackHandle, tcp_peer: PeerHandle) -> None:
    """An acceptable RST (SEQ = RCV.NXT) closes every synchronized state
    (RFC 9293 §3.10.7.4; TIME_WAIT with tcp_rfc1337=0, pinned)."""
    REACH[state](tcp_stack, tcp_peer)
    tcp_peer.send("RST")
    tcp_peer.expect("NONE")
    assert tcp_stack.state == "CLOSED"


def test_rst_in_listen_is_ignored(tcp_stack: StackHandle, tcp_peer: PeerHandle) -> None:
    """RFC 9293 §3.10.7.2: a RST cannot be valid in LISTEN."""
    tcp_stack.listen()
    tcp_peer.send("RST")
    tcp_peer.expect("NONE")
    assert tcp_stack.state == "LISTEN"


def test_rst_to_closed_port_is_discarded(tcp_stack: StackHandle, tcp_peer: PeerHandle) -> None:
    """RFC 9293 §3.10.7.1: no RST in answer to a RST."""
    tcp_peer.send("RST")
    tcp_peer.expect("NONE")
    assert tcp_stack.state == "CLOSED"


def test_rst_in_passive_syn_rcvd_returns_to_listen(tcp_stack: StackHandle, tcp_peer: PeerHandle) -> None:
    """RFC 9293 Figure 5 Note 1."""
    tcp_stack.listen()
    tcp_peer.send("SYN")
    tcp_peer.expect("SYN_ACK")
    assert tcp_stack.state == "SYN_RCVD"
    tcp_peer.send("RST")
    tcp_peer.expect("NONE")
    assert tcp_stack.state == "LISTEN"


def test_rst_in_active_syn_rcvd_closes(tcp_stack: StackHandle, tcp_peer: PeerHandle) -> None:
    """SYN_RCVD reached from an active OPEN: connection refused."""
    simultaneous_open(tcp_stack, tcp_peer)
    tcp_peer.send("RST")
    tcp_peer.expect("NONE")
    assert tcp_stack.state == "CLOSED"


def test_acceptable_rst_in_syn_sent(tcp_stack: StackHandle, tcp_peer: PeerHandle) -> None:
    """A RST whose ACK acknowledges our SYN closes (§3.10.7.3)."""
    tcp_stack.connect()
    tcp_peer.expect("SYN")
    assert tcp_stack.state == "SYN_SENT"
    tcp_peer.send("RST_ACK")
    tcp_peer.expect("NONE")
    assert tcp_stack.state == "CLOSED"


@pytest.mark.parametrize(("segment", "variant"), [("RST_ACK", "bad_ack"), ("RST", "")])
def test_unacceptable_rst_in_syn_sent(segment: str, variant: str, tcp_stack: StackHandle,
                                      tcp_peer: PeerHandle) -> None:
    """A RST with an ACK that misses our SYN, or with no ACK at all, is
    dropped in SYN_SENT (§3.10.7.3)."""
    tcp_stack.connect()
    tcp_peer.expect("SYN")
    tcp_peer.send(segment, variant)
    tcp_peer.expect("NONE")
    assert tcp_stack.state == "SYN_SENT"
    tcp_peer.send("SYN_ACK")  # and the connection still completes
    tcp_peer.expect("ACK")
    assert tcp_stack.state == "ESTABLISHED"


def test_out_of_window_rst_is_ignored(tcp_stack: StackHandle, tcp_peer: PeerHandle) -> None:
    active_open(tcp_stack, tcp_peer)
    tcp_peer.send("RST", "out_of_window")
    tcp_peer.expect("NONE")
    assert tcp_stack.state == "ESTABLISHED"


def test_in_window_rst_gets_challenge_ack(tcp_stack: StackHandle, tcp_peer: PeerHandle) -> None:
    """RFC 5961 §3.2, adopted by RFC 9293 §3.10.7.4."""
    active_open(tcp_stack, tcp_peer)
    tcp_peer.send("RST", "in_window")
    tcp_peer.expect("ACK")
    assert tcp_stack.state == "ESTABLISHED"


def test_syn_sent_timeout(tcp_stack: StackHandle, tcp_peer: PeerHandle) -> None:
    """SYN retransmissions exhausted: SYN_SENT -> CLOSED (TCP_SYNCNT=1 and
    TCP_USER_TIMEOUT, so about one second)."""
    tcp_stack.connect(syn_timeout_ms=100)
    tcp_peer.expect("SYN")
    assert tcp_stack.state == "SYN_SENT"
    seen = tcp_stack.wait_for_timer("timeout_syn")
    assert seen.state == "CLOSED"


@pytest.mark.tcpcheck_sysctls(tcp_fin_timeout="1")
def test_fin_wait_2_orphan_timeout(tcp_stack: StackHandle, tcp_peer: PeerHandle) -> None:
    """An orphan in FIN_WAIT_2 gives up after tcp_fin_timeout (Linux)."""
    to_fin_wait_2(tcp_stack, tcp_peer)
    assert tcp_stack.observation.kernel == "FIN_WAIT2"  # a timewait socket with sub-state FIN_WAIT2
    seen = tcp_stack.wait_for_timer("timeout_fin_wait_2")
    assert seen.state == "CLOSED"


def test_fin_wait_2_with_descriptor_does_not_time_out(tcp_stack: StackHandle, tcp_peer: PeerHandle) -> None:
    """After shutdown(SHUT_WR) the socket is not an orphan: still FIN_WAIT_2."""
    to_fin_wait_2(tcp_stack, tcp_peer, keep_fd=True)
    assert tcp_stack.observation.method == "TCP_INFO"


def test_retransmitted_fin_re_acked_in_time_wait(tcp_stack: StackHandle, tcp_peer: PeerHandle) -> None:
    to_time_wait(tcp_stack, tcp_peer)
    for _ in range(2):
        tcp_peer.send("FIN")  # the same FIN again: our ACK was "lost"
        tcp_peer.expect("ACK")
        assert tcp_stack.state == "TIME_WAIT"


@pytest.mark.tcpcheck_sysctls(tcp_rfc1337="0")
def test_rst_ends_time_wait_without_rfc1337(tcp_stack: StackHandle, tcp_peer: PeerHandle) -> None:
    to_time_wait(tcp_stack, tcp_peer)
    tcp_peer.send("RST")
    tcp_peer.expect("NONE")
    assert tcp_stack.state == "CLOSED"


@pytest.mark.tcpcheck_sysctls(tcp_rfc1337="1")
def test_rst_ignored_in_time_wait_with_rfc1337(tcp_stack: StackHandle, tcp_peer: PeerHandle) -> None:
    """RFC 1337 fix F1: a RST does not assassinate TIME_WAIT."""
    to_time_wait(tcp_stack, tcp_peer)
    tcp_peer.send("RST")
    tcp_peer.expect("NONE")
    assert tcp_stack.state == "TIME_WAIT"


ABORT = {
    # state: (how to reach it keeping the descriptor, what ABORT sends)
    "ESTABLISHED": (active_open, "RST"),
    "FIN_WAIT_1": (lambda s, p: to_fin_wait_1(s, p, keep_fd=True), "RST"),
    "FIN_WAIT_2": (lambda s, p: to_fin_wait_2(s, p, keep_fd=True), "RST"),
    "CLOSE_WAIT": (to_close_wait, "RST"),
    "CLOSING": (lambda s, p: to_closing(s, p, keep_fd=True), "NONE"),
    "LAST_ACK": (lambda s, p: to_last_ack(s, p, keep_fd=True), "NONE"),
    "SYN_RCVD": (simultaneous_open, "RST"),
}


@pytest.mark.parametrize("state", sorted(ABORT))
def test_abort(state: str, tcp_stack: StackHandle, tcp_peer: PeerHandle) -> None:
    """ABORT (SO_LINGER 0 + close): a RST from the states that have
    something to tell the peer, nothing from the others (§3.10.5)."""
    reach, sends = ABORT[state]
    reach(tcp_stack, tcp_peer)
    tcp_stack.abort()
    tcp_peer.expect(sends)
    assert tcp_stack.state == "CLOSED"


def test_abort_cannot_end_time_wait(tcp_stack: StackHandle, tcp_peer: PeerHandle) -> None:
    """Linux quirk (profile: time_wait_outlives_the_descriptor)."""
    to_time_wait(tcp_stack, tcp_peer, keep_fd=True)
    tcp_stack.abort()
    tcp_peer.expect("NONE")
    assert tcp_stack.state == "TIME_WAIT"


def test_close_with_unread_data_sends_rst(tcp_stack: StackHandle, tcp_peer: PeerHandle) -> None:
    """RFC 2525 §2.17: Linux resets instead of sending FIN."""
    active_open(tcp_stack, tcp_peer)
    tcp_peer.send("DATA")
    tcp_peer.expect("ACK")
    assert tcp_stack.state == "ESTABLISHED"
    tcp_stack.close()
    tcp_peer.expect("RST_ACK")
    assert tcp_stack.state == "CLOSED"


def test_close_after_reading_sends_fin(tcp_stack: StackHandle, tcp_peer: PeerHandle) -> None:
    active_open(tcp_stack, tcp_peer)
    tcp_peer.send("DATA")
    tcp_peer.expect("ACK")
    assert tcp_stack.recv() == b"tcpcheck"
    tcp_stack.close()
    tcp_peer.expect("FIN")
    assert tcp_stack.state == "FIN_WAIT_1"


def test_data_from_the_stack(tcp_stack: StackHandle, tcp_peer: PeerHandle) -> None:
    active_open(tcp_stack, tcp_peer)
    tcp_stack.send("hello")
    tcp_peer.expect("DATA")
    assert tcp_peer.packets[-1].payload == b"hello"
    tcp_peer.send("ACK")
    tcp_peer.expect("NONE")
    assert tcp_stack.state == "ESTABLISHED"


def test_syn_reopens_time_wait(tcp_stack: StackHandle, tcp_peer: PeerHandle) -> None:
    """Linux (RFC 6191): a higher SYN to a port with a listener ends TIME_WAIT."""
    passive_open(tcp_stack, tcp_peer)
    tcp_stack.close()
    tcp_peer.expect("FIN")
    tcp_peer.send("FIN_ACK_OF_FIN")
    tcp_peer.expect("ACK")
    assert tcp_stack.state == "TIME_WAIT"
    tcp_peer.send("SYN")
    tcp_peer.expect("SYN_ACK")
    assert tcp_stack.state == "SYN_RCVD"


def test_all_eleven_states_observed(tcp_harness: object) -> None:
    """Every RFC state reached on Linux, each seen by a method that can see
    it: TCP_INFO on a descriptor, or sock_diag by 4-tuple where there is
    none (request socket, orphan, timewait socket)."""
    from tcpcheck.tools.runner.harness import Harness

    assert isinstance(tcp_harness, Harness)
    seen: dict[str, set[str]] = {}

    def note(stack: StackHandle) -> None:
        o = stack.observation
        seen.setdefault(o.state, set()).add(o.method)

    walks = [
        # passive side: CLOSED, LISTEN, SYN_RCVD, ESTABLISHED, CLOSE_WAIT, LAST_ACK
        [lambda s, p: None, lambda s, p: s.listen(), lambda s, p: (p.send("SYN"), p.expect("SYN_ACK")),
         lambda s, p: p.send("ACK"), lambda s, p: s.accept(), lambda s, p: (p.send("FIN"), p.expect("ACK")),
         lambda s, p: (s.close(), p.expect("FIN"))],
        # active side: SYN_SENT, ESTABLISHED, FIN_WAIT_1, FIN_WAIT_2, TIME_WAIT
        [lambda s, p: (s.connect(), p.expect("SYN")), lambda s, p: (p.send("SYN_ACK"), p.expect("ACK")),
         lambda s, p: (s.shutdown_wr(), p.expect("FIN")), lambda s, p: p.send("ACK_OF_FIN"),
         lambda s, p: (p.send("FIN"), p.expect("ACK"))],
        # simultaneous close: CLOSING
        [lambda s, p: (s.connect(), p.expect("SYN"), p.send("SYN_ACK"), p.expect("ACK"), s.close(),
                       p.expect("FIN"), p.send("FIN"), p.expect("ACK"))],
    ]
    for walk in walks:
        with tcp_harness.conversation() as conv:
            stack, peer = StackHandle(conv), PeerHandle(conv)
            for action in walk:
                action(stack, peer)
                note(stack)
    assert set(seen) == ALL_STATES
    assert "sock_diag" in seen["SYN_RCVD"]  # a request socket has no descriptor
    assert "sock_diag" in seen["TIME_WAIT"]  # the descriptor's socket says CLOSE
    assert "TCP_INFO" in seen["SYN_SENT"] and "TCP_INFO listener" in seen["LISTEN"]


@pytest.mark.slow
def test_time_wait_expires(tcp_stack: StackHandle, tcp_peer: PeerHandle) -> None:
    """Linux TIME_WAIT is a fixed 60 s (TCP_TIMEWAIT_LEN): slow."""
    to_time_wait(tcp_stack, tcp_peer)
    seen = tcp_stack.wait_for_timer("timeout_2msl")
    assert seen.state == "CLOSED"
