"""The harness: one namespace per process, one conversation per test.

A ``Conversation`` is one fresh 4-tuple: the local side (socket calls),
the peer (packets through the TUN) and the observer, with the waiting
rules of the runner: expecting a segment waits for a packet with a bound;
a timer waits for the state to change with a bound; nothing sleeps.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from tcpcheck.tools.runner import local as _local
from tcpcheck.tools.runner.judge import Match, match_segment
from tcpcheck.tools.runner.netns import LOCAL_ADDR, PEER_ADDR, NetNamespace, kernel_release
from tcpcheck.tools.runner.observe import FourTuple, Observation, SockDiag, diagnose
from tcpcheck.tools.runner.packets import Captured, Packet
from tcpcheck.tools.runner.peer import DEFAULT_PAYLOAD, PeerFlow
from tcpcheck.tools.runner.wire import Wire

# Linux answers a TUN write before the write returns, so an expected
# segment is normally already queued; the bound only guards a broken stack.
EXPECT_BOUND = 0.1
# How long "the stack must send nothing" listens. Replies are synchronous
# (see Wire.send); timers (RTO >= 200 ms) are far longer.
QUIET_WINDOW = 0.001
SYN_TIMEOUT_MS = 100
TIMER_BOUNDS = {"timeout_syn": 5.0, "timeout_fin_wait_2": 5.0, "timeout_2msl": 75.0}
_PORTS = 20000


@dataclass(frozen=True)
class StackInfo:
    """What every result records about the stack under test."""

    kernel: str
    sysctls: dict[str, str]


class Harness:
    """A private namespace with its TUN wire and socket observer."""

    def __init__(self) -> None:
        self.ns = NetNamespace()
        try:
            self.wire = Wire(self.ns.tun_fd)
            self.diag = self.ns.call(SockDiag)
        except BaseException:
            self.ns.close()
            raise
        self._count = 0

    def info(self, extra: dict[str, str] | None = None) -> StackInfo:
        """Kernel release and the sysctls in force (the pinned set plus
        ``extra`` keys)."""
        keys = sorted(set(self.ns.base_sysctls) | {_full(k) for k in (extra or {})})
        return StackInfo(kernel_release(), self.ns.sysctls(keys))

    def conversation(self, sysctls: dict[str, str] | None = None) -> Conversation:
        """A fresh flow on new ports, with ``sysctls`` set for its duration."""
        self._count += 1
        n = self._count % _PORTS
        return Conversation(self, 20000 + n, 40000 + n, iss=1_000_000 * (1 + n % 3000), sysctls=sysctls or {})

    def close(self) -> None:
        """Release everything; the kernel removes the namespace."""
        self.diag.close()
        self.ns.close()

    def __enter__(self) -> Harness:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _full(key: str) -> str:
    return key if key.startswith("net/") else "net/ipv4/" + key.replace(".", "/")


class Conversation:
    """One test's connection: drive the stack, play the peer, observe."""

    def __init__(self, harness: Harness, lport: int, rport: int, iss: int, sysctls: dict[str, str]) -> None:
        self.harness = harness
        self.flow = FourTuple(LOCAL_ADDR, lport, PEER_ADDR, rport)
        self.peer = PeerFlow(LOCAL_ADDR, lport, PEER_ADDR, rport, iss)
        self.local = _local.LocalSide(harness.ns, lport, rport)
        self.sysctls = {_full(k): str(v) for k, v in sysctls.items()}
        self._restore = harness.ns.set_sysctls(self.sysctls) if self.sysctls else {}
        self.packets: list[Captured] = harness.wire.open_flow((lport, rport))
        self._synchronized = False
        self.syn_timeout_ms = 0

    # -- local side ------------------------------------------------------------

    def call(self, op: str, arg: str = "") -> None:
        """A socket call by name (the scenario vocabulary)."""
        if op == "connect":
            self.local.connect(self.syn_timeout_ms)
        elif op == "send":
            self.local.send(arg.encode() if arg else DEFAULT_PAYLOAD)
        else:
            getattr(self.local, op)()

    # -- peer ----------------------------------------------------------------------

    def inject(self, segment: str, variant: str = "") -> Packet:
        """The peer sends ``segment`` (numbers filled in from the flow)."""
        packet = self.peer.build(segment, variant)
        self.harness.wire.send(packet)
        return packet

    def next_packet(self, timeout: float) -> Packet | None:
        """The next new segment from the stack; retransmissions are skipped."""
        deadline = time.monotonic() + timeout
        while True:
            key = (self.flow.lport, self.flow.rport)
            item = self.harness.wire.receive(key, max(0.0, deadline - time.monotonic()))
            if item is None or item.packet is None:
                return None
            if not self.peer.is_retransmission(item.packet):
                return item.packet

    def expect(self, segment: str) -> Match:
        """Wait for the segment the scenario expects (NONE: listen for a
        short quiet window) and judge it against the peer's view."""
        bound = QUIET_WINDOW if segment == "NONE" else EXPECT_BOUND
        packet = self.next_packet(bound)
        match = match_segment(segment, packet, self.peer)
        if packet is not None:
            self.peer.absorb(packet)
        return match

    # -- observation --------------------------------------------------------------

    def observe(self) -> Observation:
        """The state of the endpoint now, and how it was seen."""
        seen = diagnose(self.harness.diag, self.flow, self.local.conn, self.local.listener, self._synchronized)
        if seen.state not in ("CLOSED", "LISTEN", "SYN_SENT", "SYN_RCVD"):
            self._synchronized = True
        return seen

    def wait_for_change(self, state: str, bound: float) -> Observation:
        """Wait (bounded) until the endpoint leaves ``state``: between looks
        the wait is a poll on the TUN, so packets wake it early."""
        deadline = time.monotonic() + bound
        key = (self.flow.lport, self.flow.rport)
        seen = self.observe()
        while seen.state == state and time.monotonic() < deadline:
            self.harness.wire.receive(key, min(0.01, max(0.0, deadline - time.monotonic())))
            seen = self.observe()
        return seen

    # -- teardown -----------------------------------------------------------------------

    def close(self) -> None:
        """Abort what is open, reset an orphan still retransmitting, restore
        the sysctls; TIME_WAIT sockets are left to expire (distinct ports)."""
        try:
            self.local.close_all()
            state = self.harness.diag.lookup(self.flow)
            if state is not None and state not in (6, 7, 10):  # TIME_WAIT, CLOSE, LISTEN
                self.harness.wire.send(self.peer.build("RST"))
        finally:
            if self._restore:
                self.harness.ns.set_sysctls(self._restore)
            self.harness.wire.close_flow((self.flow.lport, self.flow.rport))

    def __enter__(self) -> Conversation:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
