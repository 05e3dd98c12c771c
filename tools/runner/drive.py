"""Test-facing handles: the stack (socket calls, observed state) and the
peer (segments in, segments expected out), so a test reads like the
sequence diagram it checks::

    tcp_stack.connect();       tcp_peer.expect("SYN");  assert tcp_stack.state == "SYN_SENT"
    tcp_peer.send("SYN_ACK");  tcp_peer.expect("ACK");  assert tcp_stack.state == "ESTABLISHED"
"""

from __future__ import annotations

from tcpcheck.tools.runner.harness import TIMER_BOUNDS, Conversation
from tcpcheck.tools.runner.observe import Observation
from tcpcheck.tools.runner.packets import Packet


class StackHandle:
    """The stack under test, seen through its socket API and observer."""

    def __init__(self, conv: Conversation) -> None:
        self._conv = conv

    def listen(self) -> None:
        """Passive OPEN."""
        self._conv.call("listen")

    def connect(self, syn_timeout_ms: int = 0) -> None:
        """Active OPEN (``syn_timeout_ms``: give up SYN_SENT after ~1 s)."""
        self._conv.syn_timeout_ms = syn_timeout_ms
        self._conv.call("connect")

    def accept(self) -> None:
        """Take the queued connection."""
        self._conv.call("accept")

    def close(self) -> None:
        """CLOSE via close()."""
        self._conv.call("close")

    def shutdown_wr(self) -> None:
        """CLOSE via shutdown(SHUT_WR), keeping the descriptor."""
        self._conv.call("shutdown_wr")

    def abort(self) -> None:
        """ABORT: SO_LINGER 0 + close()."""
        self._conv.call("abort")

    def send(self, data: str = "") -> None:
        """SEND data."""
        self._conv.call("send", data)

    def recv(self) -> bytes:
        """RECEIVE what is queued; returns everything received so far."""
        self._conv.call("recv")
        return self._conv.local.received

    @property
    def observation(self) -> Observation:
        """The state now, with the method that saw it."""
        return self._conv.observe()

    @property
    def state(self) -> str:
        """The RFC state of the stack's endpoint now."""
        return self._conv.observe().state

    def wait_for_timer(self, timer: str) -> Observation:
        """Wait (bounded) for a model timer to move the endpoint on."""
        return self._conv.wait_for_change(self.state, TIMER_BOUNDS[timer])


class PeerHandle:
    """The remote peer, played through the TUN."""

    def __init__(self, conv: Conversation) -> None:
        self._conv = conv

    def send(self, segment: str, variant: str = "") -> Packet:
        """Inject a segment of the model's vocabulary."""
        return self._conv.inject(segment, variant)

    def expect(self, segment: str) -> None:
        """Assert the stack sends ``segment`` next (``NONE``: nothing)."""
        match = self._conv.expect(segment)
        if not match.ok:
            raise AssertionError(f"expected {segment} from the stack, got {match.observed}: {match.detail}")

    @property
    def packets(self) -> list[Packet]:
        """Every packet of this flow so far, both directions."""
        return [c.packet for c in self._conv.packets if c.packet is not None]
