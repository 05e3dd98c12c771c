"""The conversation: one test's connection, the same for every stack.

A ``Conversation`` puts the runner's remote peer (``PeerFlow``) in front of
a stack's fresh ``Endpoint`` and applies the runner's waiting rules:
expecting a segment waits for a packet with the stack's bound; a timer is
the stack's to fire or wait for, with a bound; nothing sleeps.

``Harness`` (the Linux stack) and the Linux timer constants are re-exported
here for the code and tests written before the stack interface.
"""

from __future__ import annotations

from tcpcheck.tools.runner.judge import Match, match_segment
from tcpcheck.tools.runner.packets import Captured, Packet
from tcpcheck.tools.runner.peer import PeerFlow
from tcpcheck.tools.runner.stack import Endpoint, FourTuple, Observation, Stack, StackInfo
from tcpcheck.tools.runner.stacks.linux import SYN_TIMEOUT_MS, TIMER_BOUNDS
from tcpcheck.tools.runner.stacks.linux import LinuxStack as Harness

__all__ = ["Conversation", "Harness", "StackInfo", "SYN_TIMEOUT_MS", "TIMER_BOUNDS", "peer_iss"]


def peer_iss(flow: FourTuple) -> int:
    """The peer's initial sequence number on ``flow``: distinct per port,
    far from the stack's, deterministic."""
    return 1_000_000 * (1 + flow.lport % 3000)


class Conversation:
    """One test's connection: drive the stack, play the peer, observe."""

    def __init__(self, stack: Stack, endpoint: Endpoint) -> None:
        self.stack = stack
        self.endpoint = endpoint
        self.flow = endpoint.flow
        f = endpoint.flow
        self.peer = PeerFlow(f.local, f.lport, f.remote, f.rport, peer_iss(f))

    @property
    def packets(self) -> list[Captured]:
        """Every packet of this flow so far, both directions."""
        return self.endpoint.packets

    @property
    def settings(self) -> dict[str, str]:
        """The settings in force: the stack's pinned ones and the scenario's."""
        return {**self.stack.base_settings, **self.endpoint.settings}

    @property
    def sysctls(self) -> dict[str, str]:
        """The scenario's own settings (on Linux, full sysctl names)."""
        return self.endpoint.settings

    # -- local side ------------------------------------------------------------

    def call(self, op: str, arg: str = "") -> None:
        """A socket call by name (the scenario vocabulary)."""
        self.endpoint.call(op, arg)

    # -- peer ----------------------------------------------------------------------

    def inject(self, segment: str, variant: str = "") -> Packet:
        """The peer sends ``segment`` (numbers filled in from the flow)."""
        packet = self.peer.build(segment, variant)
        self.endpoint.deliver(packet)
        return packet

    def next_packet(self, timeout: float) -> Packet | None:
        """The next new segment from the stack (a retransmission is skipped
        when the stack retransmits on its own timers)."""
        skip = self.stack.spontaneous_retransmissions
        while True:
            packet = self.endpoint.receive(timeout)
            if packet is None or not (skip and self.peer.is_retransmission(packet)):
                return packet

    def expect(self, segment: str) -> Match:
        """Wait for the segment the scenario expects (NONE: listen for a
        short quiet window) and judge it against the peer's view."""
        bound = self.stack.quiet_window if segment == "NONE" else self.stack.expect_bound
        packet = self.next_packet(bound)
        match = match_segment(segment, packet, self.peer)
        if packet is not None:
            self.peer.absorb(packet)
        return match

    # -- observation and timers -----------------------------------------------------

    def observe(self) -> Observation:
        """The state of the endpoint now, and how it was seen."""
        return self.endpoint.observe()

    def elapse(self, timer: str) -> Observation:
        """Let ``timer`` fire (the stack's way, bounded); the state after."""
        return self.endpoint.elapse(timer)

    # -- teardown -----------------------------------------------------------------------

    def close(self) -> None:
        """Tear the endpoint down (with a RST the peer can send, should the
        stack still hold the flow)."""
        self.endpoint.close(self.peer.build("RST"))

    def __enter__(self) -> Conversation:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
