"""Test-facing handles: the stack (socket calls, observed state) and the
peer (segments in, segments expected out), so a test reads like the
sequence diagram it checks::

    tcp_stack.connect();       tcp_peer.expect("SYN");  assert tcp_stack.state == "SYN_SENT"
    tcp_peer.send("SYN_ACK");  tcp_peer.expect("ACK");  assert tcp_stack.state == "ESTABLISHED"
"""

from __future__ import annotations

from tcpcheck.tools.runner.harness import Conversation
from tcpcheck.tools.runner.packets import Packet
from tcpcheck.tools.runner.stack import Observation


class StackHandle:
    """The stack under test, seen through its socket API and observer."""

    def __init__(self, conv: Conversation) -> None:
        self._conv = conv

    def listen(self) -> None:
        """Passive OPEN."""
        self._conv.call("listen")

    def connect(self, syn_timeout_ms: int = 0) -> None:
        """Active OPEN (``syn_timeout_ms`` non-zero: SYN_SENT gives up as soon
        as the stack allows; on Linux after ~1 s)."""
        if syn_timeout_ms:
            self._conv.endpoint.prepare_timer("timeout_syn")
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
        return self._conv.endpoint.received

    @property
    def observation(self) -> Observation:
        """The state now, with the method that saw it."""
        return self._conv.observe()

    @property
    def state(self) -> str:
        """The RFC state of the stack's endpoint now."""
        return self._conv.observe().state

    def wait_for_timer(self, timer: str) -> Observation:
        """Let a model timer fire (bounded wait on a real stack) and return
        the observation after."""
        return self._conv.elapse(timer)


class PeerHandle:
    """The remote peer, played by the runner."""

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
