"""The loopback wire: every segment between the run's two addresses is
held by an nftables rule inside the namespace and delivered by the runner.

How the two calls of a race are made to race for real: an nftables rule in
the private namespace (``table ip tcpcheck_loopback``, hook prerouting,
priority raw) drops every IPv4 segment between the run's two addresses
that does not carry the runner's packet mark. A segment a socket sends
still crosses ``lo`` (a packet socket on ``lo`` sees it leave: that is the
capture), but it reaches nobody until the runner delivers it: it writes
the same bytes through a raw IP socket marked ``MARK``, which the rule
lets through, so the receiver's TCP processes the very segment the sender
built (its checksum filled in: on ``lo`` Linux leaves it to the device).
Holding A's FIN and B's FIN until both sides are in FIN_WAIT_1, then
delivering them, is a simultaneous close on the real stack; the same for
two SYNs is a simultaneous open. A delivery is processed synchronously in
the runner's write (``lo`` hands the packet to the receiving softirq before
the write returns), so a reply is already captured when the write returns.

The capture is a packet socket on ``lo`` with a classic BPF filter: only
packets leaving (PACKET_OUTGOING) without the runner's mark, IPv4, TCP:
each segment a socket sent, once, and none of the runner's deliveries.
"""

from __future__ import annotations

import os
import select
import shutil
import socket
import struct
import subprocess
from dataclasses import dataclass

from tcpcheck.tools.runner.netlink import NLM_F_ACK, NLM_F_CREATE, NLM_F_REPLACE, Netlink, attr
from tcpcheck.tools.runner.netns import NetNamespace
from tcpcheck.tools.runner.packets import IPPROTO_TCP, Packet, PacketError, checksum, parse

MARK = 0x74637063  # "tcpc": the runner's deliveries
TABLE = "tcpcheck_loopback"
ETH_P_ALL, ETH_P_IP = 0x0003, 0x0800
ETH_HEADER = 14  # lo's link layer is an all-zero Ethernet header
SO_TIMESTAMPNS = 35
PACKET_OUTGOING = 4
SO_ATTACH_FILTER = 26
SKF_AD_OFF, SKF_AD_PKTTYPE, SKF_AD_MARK = -0x1000, 4, 20
RTM_NEWROUTE = 24
RTA_DST, RTA_OIF, RTA_PREFSRC, RTA_METRICS = 1, 4, 7, 8
RTAX_QUICKACK = 15
RT_TABLE_LOCAL, RTPROT_STATIC, RT_SCOPE_HOST, RTN_LOCAL = 255, 4, 254, 2
NETLINK_ROUTE = 0


def nft_path() -> str | None:
    """The ``nft`` executable (Debian package nftables), if installed."""
    return shutil.which("nft") or next((p for p in ("/usr/sbin/nft", "/sbin/nft") if os.path.exists(p)), None)


def ruleset(addresses: tuple[str, str]) -> str:
    """The namespace's nftables rules: hold the run's segments."""
    pair = ", ".join(addresses)
    return (f"table ip {TABLE} {{\n"
            "  chain hold {\n"
            "    type filter hook prerouting priority raw; policy accept;\n"
            f"    meta mark != {MARK:#x} ip saddr {{ {pair} }} ip daddr {{ {pair} }} ip protocol tcp drop\n"
            "  }\n"
            "}\n")


def _bpf(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k & 0xFFFFFFFF)


def capture_filter() -> bytes:
    """Classic BPF: outgoing, not marked by the runner, IPv4, TCP."""
    ld_w, ld_h, ld_b, jeq, ret = 0x20, 0x28, 0x30, 0x15, 0x06
    prog = [
        _bpf(ld_w, 0, 0, SKF_AD_OFF + SKF_AD_PKTTYPE),
        _bpf(jeq, 0, 7, PACKET_OUTGOING),
        _bpf(ld_w, 0, 0, SKF_AD_OFF + SKF_AD_MARK),
        _bpf(jeq, 5, 0, MARK),
        _bpf(ld_h, 0, 0, 12),
        _bpf(jeq, 0, 3, ETH_P_IP),
        _bpf(ld_b, 0, 0, ETH_HEADER + 9),
        _bpf(jeq, 0, 1, IPPROTO_TCP),
        _bpf(ret, 0, 0, 0xFFFF),
        _bpf(ret, 0, 0, 0),
    ]
    return b"".join(prog)


def with_checksum(raw: bytes) -> bytes:
    """An IPv4/TCP packet with its TCP checksum computed (on ``lo`` the
    captured bytes hold only the pseudo-header sum: CHECKSUM_PARTIAL)."""
    ihl = (raw[0] & 0x0F) * 4
    total = struct.unpack_from("!H", raw, 2)[0]
    tcp = bytearray(raw[ihl:total])
    tcp[16:18] = b"\0\0"
    pseudo = raw[12:20] + struct.pack("!BBH", 0, IPPROTO_TCP, len(tcp))
    tcp[16:18] = struct.pack("!H", checksum(pseudo + bytes(tcp)))
    return raw[:ihl] + bytes(tcp)


@dataclass(frozen=True)
class Sent:
    """A segment a socket sent on ``lo``, as captured."""

    ns: int  # CLOCK_REALTIME of the capture, nanoseconds
    raw: bytes  # the IPv4 packet, TCP checksum filled in
    packet: Packet


class LoWire:
    """The capture, the deliveries and the rule, in one namespace."""

    def __init__(self, ns: NetNamespace, addresses: tuple[str, str]) -> None:
        nft = nft_path()
        if nft is None:
            raise OSError("the loopback runner needs nft (Debian package nftables) to hold segments")
        self.ns = ns
        self.addresses = addresses
        result = ns.call(lambda: subprocess.run([nft, "-f", "-"], input=ruleset(addresses), text=True,
                                                capture_output=True))
        if result.returncode:
            raise OSError(f"nft refused the hold rule: {result.stderr.strip()}")
        for addr in addresses:
            ns.call(_quickack_local_route, addr, ns.ifindex)
        self.capture = ns.call(socket.socket, socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        self.capture.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, _fprog(capture_filter()))
        self.capture.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.capture.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.capture.bind(("lo", 0))
        self.capture.setblocking(False)
        self.inject = ns.call(socket.socket, socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
        self.inject.setsockopt(socket.SOL_SOCKET, socket.SO_MARK, MARK)
        self._poll = select.poll()
        self._poll.register(self.capture.fileno(), select.POLLIN)

    def read(self, timeout: float = 0.0) -> list[Sent]:
        """What the sockets sent since the last read (waits up to
        ``timeout`` seconds for the first packet)."""
        if timeout > 0 and not self._poll.poll(int(timeout * 1000) or 1):
            return []
        out: list[Sent] = []
        while True:
            try:
                data, ancillary, _, _ = self.capture.recvmsg(1 << 16, 64)
            except BlockingIOError:
                return out
            ns = 0
            for level, kind, payload in ancillary:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                    seconds, nanos = struct.unpack("=qq", payload[:16])
                    ns = seconds * 1_000_000_000 + nanos
            raw = data[ETH_HEADER:]
            try:
                raw = with_checksum(raw)
                packet = parse(raw)
            except (PacketError, struct.error):
                continue
            out.append(Sent(ns, raw, packet))

    def deliver(self, sent: Sent) -> None:
        """Hand the segment to its receiver (through ``lo``, past the rule)."""
        self.inject.sendto(sent.raw, (sent.packet.dst, 0))

    def close(self) -> None:
        """Close the sockets (the rule goes with the namespace)."""
        self.capture.close()
        self.inject.close()


def _fprog(program: bytes) -> bytes:
    import ctypes

    buffer = ctypes.create_string_buffer(program)
    # Keep the buffer alive as long as the struct is used: setsockopt copies it.
    _fprog.keep = buffer  # type: ignore[attr-defined]
    return struct.pack("HL", len(program) // 8, ctypes.addressof(buffer))


def _quickack_local_route(address: str, ifindex: int) -> None:
    # A /32 local route with the quickack metric for each of the run's
    # addresses: Linux then ACKs a FIN at once instead of entering delayed
    # ACK (pingpong) mode, so the ACK the model sends in the same step is
    # on lo when the delivery returns.
    rtmsg = struct.pack("=BBBBBBBBI", socket.AF_INET, 32, 0, 0, RT_TABLE_LOCAL, RTPROT_STATIC, RT_SCOPE_HOST,
                        RTN_LOCAL, 0)
    body = rtmsg + attr(RTA_DST, socket.inet_aton(address)) + attr(RTA_OIF, struct.pack("=i", ifindex))
    body += attr(RTA_PREFSRC, socket.inet_aton(address))
    body += attr(RTA_METRICS, attr(RTAX_QUICKACK, struct.pack("=I", 1)))
    nl = Netlink(NETLINK_ROUTE)
    try:
        nl.request(RTM_NEWROUTE, NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE, body)
    finally:
        nl.close()
