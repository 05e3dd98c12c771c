"""The TUN device as a wire: write the peer's packets, read the stack's.

Reading is event-driven: ``poll`` on the TUN descriptor with a bound,
never a fixed sleep. Packets are handed to the flow (stack port, peer
port) they belong to; packets of other flows (e.g. a retransmission from a
socket a previous scenario left in LAST_ACK) are not this flow's business
and are dropped.
"""

from __future__ import annotations

import os
import select
import time
from collections import deque

from tcpcheck.tools.runner.packets import Captured, Packet, PacketError, parse

FlowKey = tuple[int, int]  # (stack port, peer port)


class FlowQueues:
    """What a stack sent, queued per flow (stack port, peer port) with a
    capture of both directions; ``pump`` (the link's) fills the queues."""

    def __init__(self) -> None:
        self._queues: dict[FlowKey, deque[Captured]] = {}
        self._captures: dict[FlowKey, list[Captured]] = {}

    def open_flow(self, key: FlowKey) -> list[Captured]:
        """Start collecting packets of ``key``; returns its capture list."""
        self._queues[key] = deque()
        self._captures[key] = []
        return self._captures[key]

    def close_flow(self, key: FlowKey) -> None:
        """Stop collecting packets of ``key``."""
        self._queues.pop(key, None)
        self._captures.pop(key, None)

    def pump(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for what the stack sent; queue it."""
        raise NotImplementedError

    def capture_sent(self, packet: Packet, raw: bytes) -> None:
        """Record a packet the peer sends, in its flow's capture."""
        capture = self._captures.get((packet.dport, packet.sport))
        if capture is not None:
            capture.append(Captured(time.time(), raw, outbound=False, packet=packet))

    def queue_received(self, packet: Packet, raw: bytes) -> None:
        """Queue and capture a packet the stack sent (other flows' are dropped)."""
        key = (packet.sport, packet.dport)
        queue = self._queues.get(key)
        if queue is None:
            return
        item = Captured(time.time(), raw, outbound=True, packet=packet)
        queue.append(item)
        self._captures[key].append(item)

    def receive(self, key: FlowKey, timeout: float) -> Captured | None:
        """The next packet the stack sent on flow ``key``, waiting at most
        ``timeout`` seconds; None if none came."""
        queue = self._queues[key]
        if not queue:
            self.pump(0)
        deadline = time.monotonic() + timeout
        while not queue:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self.pump(remaining)
        return queue.popleft()


class Wire(FlowQueues):
    """Packet I/O on a TUN descriptor, with per-flow queues and captures."""

    def __init__(self, tun_fd: int) -> None:
        super().__init__()
        self.fd = tun_fd
        self._poll = select.poll()
        self._poll.register(tun_fd, select.POLLIN)

    def send(self, packet: Packet) -> Captured:
        """Write one packet into the stack. Linux processes a TUN write
        synchronously (tun_get_user -> netif_receive_skb), so whatever the
        stack answers is queued on the TUN before this returns."""
        raw = packet.to_bytes()
        os.write(self.fd, raw)
        item = Captured(time.time(), raw, outbound=False, packet=packet)
        capture = self._captures.get((packet.dport, packet.sport))
        if capture is not None:
            capture.append(item)
        return item

    def pump(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for packets; read all that are there."""
        if not self._poll.poll(max(0, int(timeout * 1000))):
            return
        while True:
            try:
                raw = os.read(self.fd, 65536)
            except BlockingIOError:
                return
            try:
                packet = parse(raw)
            except PacketError:
                continue  # not IPv4/TCP: nothing a TCP test waits for
            self.queue_received(packet, raw)
