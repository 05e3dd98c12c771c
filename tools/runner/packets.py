"""IPv4/TCP packets: build and parse, with real checksums.

The kernel drops a segment with a wrong checksum silently, so every packet
the peer writes into the TUN carries a correct IPv4 header checksum and a
correct TCP checksum over the pseudo-header (RFC 9293 §3.1).
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass, field

FIN, SYN, RST, PSH, ACK, URG = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20
_FLAG_NAMES = ((SYN, "S"), (FIN, "F"), (RST, "R"), (PSH, "P"), (ACK, "A"), (URG, "U"))

IPPROTO_TCP = 6
_IP_HEADER = struct.Struct("!BBHHHBBH4s4s")
_TCP_HEADER = struct.Struct("!HHIIBBHHH")
MASK32 = 0xFFFFFFFF


class PacketError(ValueError):
    """A buffer read from the TUN is not a well-formed IPv4/TCP packet."""


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071): one's complement of the one's
    complement sum of 16-bit words."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def flag_text(flags: int) -> str:
    """``S``, ``SA``, ``FA``, ``R``, ``RA``, ``PA``... in tcpdump's order."""
    return "".join(name for bit, name in _FLAG_NAMES if flags & bit) or "."


@dataclass(frozen=True)
class Packet:
    """One IPv4/TCP segment (no IP options, no fragments)."""

    src: str
    dst: str
    sport: int
    dport: int
    seq: int
    ack: int
    flags: int
    window: int = 65535
    payload: bytes = b""
    options: bytes = b""
    checksum_ok: bool = True
    ip_id: int = 0
    ttl: int = 64

    @property
    def seg_len(self) -> int:
        """Sequence space the segment occupies: data plus one for SYN and FIN."""
        return len(self.payload) + (1 if self.flags & SYN else 0) + (1 if self.flags & FIN else 0)

    def has(self, bits: int) -> bool:
        """True when every flag in ``bits`` is set."""
        return self.flags & bits == bits

    def summary(self) -> str:
        """A tcpdump-like one-liner."""
        text = f"{self.src}:{self.sport} > {self.dst}:{self.dport} [{flag_text(self.flags)}] seq {self.seq}"
        if self.flags & ACK:
            text += f" ack {self.ack}"
        if self.payload:
            text += f" len {len(self.payload)}"
        return text

    def to_bytes(self) -> bytes:
        """The wire form, checksums filled in."""
        options = self.options + b"\0" * (-len(self.options) % 4)
        offset = (20 + len(options)) // 4
        tcp = _TCP_HEADER.pack(
            self.sport, self.dport, self.seq & MASK32, self.ack & MASK32,
            offset << 4, self.flags, self.window, 0, 0,
        ) + options + self.payload
        src, dst = socket.inet_aton(self.src), socket.inet_aton(self.dst)
        pseudo = src + dst + struct.pack("!BBH", 0, IPPROTO_TCP, len(tcp))
        tcp = tcp[:16] + struct.pack("!H", checksum(pseudo + tcp)) + tcp[18:]
        total = 20 + len(tcp)
        header = _IP_HEADER.pack(0x45, 0, total, self.ip_id, 0x4000, self.ttl, IPPROTO_TCP, 0, src, dst)
        header = header[:10] + struct.pack("!H", checksum(header)) + header[12:]
        return header + tcp


def mss_option(mss: int = 1460) -> bytes:
    """The MSS option (kind 2). By default the peer offers nothing else, so
    the stack runs without timestamps, SACK or window scaling: no PAWS surprises."""
    return struct.pack("!BBH", 2, 4, mss)


def timestamp_option(tsval: int, tsecr: int) -> bytes:
    """The timestamp option (RFC 7323 §3.2, kind 8), behind two NOPs so it
    stays 32-bit aligned, as Linux lays it out."""
    return struct.pack("!BBBBII", 1, 1, 8, 10, tsval & MASK32, tsecr & MASK32)


def timestamps_of(options: bytes) -> tuple[int, int] | None:
    """(TSval, TSecr) of a segment's timestamp option; None without one
    (or with malformed options: the walk stops where they stop making sense)."""
    i = 0
    while i < len(options):
        kind = options[i]
        if kind == 0:
            return None
        if kind == 1:
            i += 1
            continue
        if i + 1 >= len(options) or options[i + 1] < 2:
            return None
        size = options[i + 1]
        if kind == 8 and size == 10 and i + size <= len(options):
            tsval, tsecr = struct.unpack_from("!II", options, i + 2)
            return tsval, tsecr
        i += size
    return None


def parse(data: bytes) -> Packet:
    """Parse an IPv4/TCP packet; PacketError for anything else."""
    if len(data) < 40 or data[0] >> 4 != 4:
        raise PacketError("not an IPv4 packet")
    ihl = (data[0] & 0x0F) * 4
    _, _, total, ip_id, _, ttl, proto, _, src, dst = _IP_HEADER.unpack_from(data)
    if proto != IPPROTO_TCP:
        raise PacketError(f"IP protocol {proto}, not TCP")
    if total > len(data) or ihl < 20:
        raise PacketError("truncated IPv4 packet")
    tcp = data[ihl:total]
    if len(tcp) < 20:
        raise PacketError("truncated TCP header")
    sport, dport, seq, ack, off, flags, window, _, _ = _TCP_HEADER.unpack_from(tcp)
    doff = (off >> 4) * 4
    if doff < 20 or doff > len(tcp):
        raise PacketError("bad TCP data offset")
    pseudo = src + dst + struct.pack("!BBH", 0, IPPROTO_TCP, len(tcp))
    return Packet(
        src=socket.inet_ntoa(src), dst=socket.inet_ntoa(dst), sport=sport, dport=dport,
        seq=seq, ack=ack, flags=flags & 0x3F, window=window, payload=bytes(tcp[doff:]),
        options=bytes(tcp[20:doff]), checksum_ok=checksum(pseudo + tcp) == 0, ip_id=ip_id, ttl=ttl,
    )


@dataclass
class Captured:
    """A packet as it crossed the TUN, for pcaps and reports."""

    time: float
    raw: bytes
    outbound: bool  # True: sent by the stack under test
    packet: Packet | None = field(default=None)
