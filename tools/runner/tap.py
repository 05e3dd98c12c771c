"""An Ethernet TAP as a wire, for a user-space stack that owns the TAP.

The stack under test (lwIP) holds the TAP descriptor: it reads the frames
the kernel transmits on the TAP interface and writes the frames it sends.
The runner's peer sits on the kernel's side of that interface, on a packet
socket (``AF_PACKET``) bound to it inside the private namespace: a frame
sent there comes out of the descriptor, a frame the stack writes arrives
there. The interface has no address, so the kernel's own IP and TCP never
answer anything on it.

The peer speaks Ethernet: it wraps its IPv4 packets, answers the stack's
ARP requests for the peer address, and ignores everything that is not
IPv4/TCP (gratuitous ARP, IPv6). Waiting is ``poll`` with a bound.
"""

from __future__ import annotations

import os
import select
import socket
import struct
from collections.abc import Callable

from tcpcheck.tools.runner.netns import TUN_NAME, NetNamespace
from tcpcheck.tools.runner.packets import Packet, PacketError, parse
from tcpcheck.tools.runner.wire import FlowQueues

ETH_P_ALL, ETH_P_IP, ETH_P_ARP = 0x0003, 0x0800, 0x0806
PACKET_OUTGOING = 4
STACK_MAC = bytes.fromhex("020000000001")  # locally administered
PEER_MAC = bytes.fromhex("020000000002")
BROADCAST = b"\xff" * 6
_ARP = struct.Struct("!HHBBH6s4s6s4s")


def ethernet(dst: bytes, src: bytes, kind: int, payload: bytes) -> bytes:
    """An Ethernet II frame."""
    return dst + src + struct.pack("!H", kind) + payload


def arp_reply_for(frame: bytes, addr: str, mac: bytes) -> bytes | None:
    """The ARP reply ``mac`` owes ``frame`` when it asks who has ``addr``."""
    if len(frame) < 14 + _ARP.size or struct.unpack_from("!H", frame, 12)[0] != ETH_P_ARP:
        return None
    htype, ptype, hlen, plen, op, sha, spa, _tha, tpa = _ARP.unpack_from(frame, 14)
    if (htype, ptype, hlen, plen, op) != (1, ETH_P_IP, 6, 4, 1) or tpa != socket.inet_aton(addr):
        return None
    body = _ARP.pack(1, ETH_P_IP, 6, 4, 2, mac, tpa, sha, spa)
    return ethernet(sha, mac, ETH_P_ARP, body)


class TapWire(FlowQueues):
    """The peer's side of a TAP: a packet socket on the kernel's interface,
    per-flow queues and captures (IPv4 bytes, as the TUN wire keeps them)."""

    def __init__(self, ns: NetNamespace, peer_addr: str, feed: Callable[[bytes], None]) -> None:
        """``feed`` hands one frame read from the TAP descriptor to the stack."""
        super().__init__()
        self.ns = ns
        self.peer_addr = peer_addr
        self.feed = feed
        self.tap_fd = ns.tun_fd
        self.sock: socket.socket = ns.call(self._open)
        self._poll = select.poll()
        self._poll.register(self.sock.fileno(), select.POLLIN)
        self._tap_poll = select.poll()
        self._tap_poll.register(self.tap_fd, select.POLLIN)
        # Bytes of every frame the stack has sent that the peer has read:
        # a stack that counts what it sends can wait for exactly that.
        self.bytes_from_stack = 0

    @staticmethod
    def _open() -> socket.socket:
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        sock.bind((TUN_NAME, ETH_P_ALL))
        sock.setblocking(False)
        return sock

    def send(self, packet: Packet) -> None:
        """Transmit the peer's packet on the TAP and hand it to the stack."""
        raw = packet.to_bytes()
        self.capture_sent(packet, raw)
        self._transmit(ethernet(STACK_MAC, PEER_MAC, ETH_P_IP, raw))

    def _transmit(self, frame: bytes) -> None:
        self.sock.send(frame)
        # The kernel queues a frame sent on a TAP for its descriptor before
        # send() returns; the bound only guards against a slow machine.
        self.deliver_to_stack(0.5)

    def deliver_to_stack(self, timeout: float) -> None:
        """Hand every frame waiting on the TAP descriptor to the stack
        (waiting at most ``timeout`` s for the first)."""
        if not self._tap_poll.poll(max(0, int(timeout * 1000))):
            return
        while True:
            try:
                frame = os.read(self.tap_fd, 65536)
            except BlockingIOError:
                return
            self.feed(frame)

    def pump(self, timeout: float) -> None:
        """Read what the stack sent (waiting at most ``timeout`` s): ARP
        requests are answered, TCP goes to its flow's queue."""
        if not self._poll.poll(max(0, int(timeout * 1000))):
            return
        while True:
            try:
                frame, address = self.sock.recvfrom(65536)
            except BlockingIOError:
                return
            if address[2] == PACKET_OUTGOING:
                continue  # our own transmissions
            self.bytes_from_stack += len(frame)
            reply = arp_reply_for(frame, self.peer_addr, PEER_MAC)
            if reply is not None:
                self._transmit(reply)
                continue
            if len(frame) < 14 or struct.unpack_from("!H", frame, 12)[0] != ETH_P_IP:
                continue
            try:
                packet = parse(frame[14:])
            except PacketError:
                continue
            # Without the Ethernet padding (frames are at least 60 bytes).
            self.queue_received(packet, frame[14:14 + struct.unpack_from("!H", frame, 16)[0]])

    def close(self) -> None:
        """Close the packet socket (the namespace owns the TAP)."""
        self.sock.close()
