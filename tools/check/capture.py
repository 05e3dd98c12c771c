"""Reading a capture file into TCP segments.

The file formats (pcap, pcapng) are read by dpkt; the link, IP and TCP
headers of each record are read here with ``struct`` because that is the
hot loop (a quarter of the time dpkt's packet objects take), and only the
fields the checker needs are kept. Anything that is not a capture, or is
cut short, is an ``InputError`` naming the file.
"""

from __future__ import annotations

import os
import socket
import struct
from collections import Counter
from dataclasses import dataclass, field
from typing import BinaryIO, NamedTuple

import dpkt

from tcpcheck.model.errors import InputError

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10

# Link types (tcpdump.org/linktypes.html) and where the IP header starts.
_ETHERNET, _NULL, _LOOP = 1, 0, 108
_RAW = (101, 12, 14, 228, 229)  # LINKTYPE_RAW, DLT_RAW variants, IPV4, IPV6
_SLL, _SLL2 = 113, 276
LINKTYPES = {0: "BSD loopback", 1: "Ethernet", 101: "raw IP", 12: "raw IP", 14: "raw IP", 108: "OpenBSD loopback",
             113: "Linux cooked", 228: "raw IPv4", 229: "raw IPv6", 276: "Linux cooked v2"}

_TCP = struct.Struct("!HHIIBBH")
_PCAP_MAGICS = {b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d"}
_PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"


class Segment(NamedTuple):
    """One TCP segment of the capture (``number``: its packet number, from 1)."""

    number: int
    time: float
    src: str
    sport: int
    dst: str
    dport: int
    seq: int
    ack: int
    flags: int
    length: int  # payload bytes (from the IP length, so a short snaplen does not hide data)


@dataclass
class Capture:
    """A capture file's TCP segments, and what else it held."""

    path: str
    format: str
    linktype: str
    packets: int
    segments: list[Segment]
    skipped: Counter[str] = field(default_factory=Counter)


def read_capture(path: str) -> Capture:
    """Read ``path`` (pcap or pcapng); InputError for anything else."""
    try:
        size = os.path.getsize(path)
        handle = open(path, "rb")  # closed by the with below
    except FileNotFoundError:
        raise InputError(path, "no such file; pass a pcap or pcapng capture") from None
    except (IsADirectoryError, PermissionError, OSError) as exc:
        raise InputError(path, f"cannot read it ({getattr(exc, 'strerror', exc)})") from None
    with handle:
        if size == 0:
            raise InputError(path, "empty file; capture with 'tcpdump -w FILE' and pass that")
        magic = handle.read(4)
        handle.seek(0)
        if magic in _PCAP_MAGICS:
            kind = "pcap"
        elif magic == _PCAPNG_MAGIC:
            kind = "pcapng"
        else:
            raise InputError(path, "not a pcap or pcapng capture (unknown magic number); pass what"
                                   " 'tcpdump -w' or Wireshark writes")
        reads = _Reads(handle)
        try:
            reader: dpkt.pcap.Reader | dpkt.pcapng.Reader = (
                dpkt.pcap.Reader(reads) if kind == "pcap" else dpkt.pcapng.Reader(reads))
        except (ValueError, dpkt.dpkt.NeedData, dpkt.dpkt.UnpackError, struct.error) as exc:
            raise InputError(path, f"truncated or damaged {kind} header ({exc})") from None
        linktype = reader.datalink()
        capture = Capture(path, kind, LINKTYPES.get(linktype, f"link type {linktype}"), 0, [])
        try:
            _read_records(reader, linktype, capture)
        except (dpkt.dpkt.NeedData, dpkt.dpkt.UnpackError, struct.error, ValueError) as exc:
            raise InputError(path, f"truncated or damaged after packet {capture.packets} ({exc})") from None
        if reads.short:
            raise InputError(path, f"truncated: the file ends inside packet {capture.packets}; capture again"
                                   " (or stop tcpdump before copying its file)")
    if capture.packets == 0:
        raise InputError(path, f"the {kind} file holds no packets")
    if not capture.segments:
        what = ", ".join(f"{n} {k}" for k, n in capture.skipped.most_common(3))
        raise InputError(path, f"no TCP segments among its {capture.packets} packets ({what}); capture TCP traffic")
    return capture


def _read_records(reader: dpkt.pcap.Reader | dpkt.pcapng.Reader, linktype: int, capture: Capture) -> None:
    segments = capture.segments
    skipped = capture.skipped
    unpack = _TCP.unpack_from
    ntoa4 = socket.inet_ntoa
    names: dict[bytes, str] = {}  # addresses repeat: convert each once
    if linktype not in (_ETHERNET, _NULL, _LOOP, _SLL, _SLL2, *_RAW):
        raise InputError(capture.path, f"unsupported link type {linktype}; capture on an Ethernet, loopback or"
                                       " 'any' interface")
    number = 0
    for ts, buf in reader:
        number += 1
        offset = _ip_offset(linktype, buf)
        if offset < 0 or len(buf) < offset + 20:
            skipped["not IP"] += 1
            continue
        version = buf[offset] >> 4
        if version == 4:
            ihl = (buf[offset] & 0x0F) * 4
            if buf[offset + 9] != 6:
                skipped["not TCP"] += 1
                continue
            if buf[offset + 6] & 0x3F or buf[offset + 7]:  # more fragments, or a fragment offset
                skipped["IP fragments"] += 1
                continue
            total = (buf[offset + 2] << 8) | buf[offset + 3]
            raw_src, raw_dst = buf[offset + 12: offset + 16], buf[offset + 16: offset + 20]
            tcp = offset + ihl
            tcp_bytes = total - ihl
            src = names.get(raw_src) or names.setdefault(raw_src, ntoa4(raw_src))
            dst = names.get(raw_dst) or names.setdefault(raw_dst, ntoa4(raw_dst))
        elif version == 6 and len(buf) >= offset + 40:
            nxt = buf[offset + 6]
            tcp = offset + 40
            while nxt in (0, 43, 60) and len(buf) >= tcp + 8:  # hop-by-hop, routing, destination options
                nxt, tcp = buf[tcp], tcp + 8 + buf[tcp + 1] * 8
            if nxt != 6:
                skipped["IP fragments" if nxt == 44 else "not TCP"] += 1
                continue
            tcp_bytes = ((buf[offset + 4] << 8) | buf[offset + 5]) - (tcp - offset - 40)
            raw_src, raw_dst = buf[offset + 8: offset + 24], buf[offset + 24: offset + 40]
            src = names.get(raw_src) or names.setdefault(raw_src, socket.inet_ntop(socket.AF_INET6, raw_src))
            dst = names.get(raw_dst) or names.setdefault(raw_dst, socket.inet_ntop(socket.AF_INET6, raw_dst))
        else:
            skipped["not IP"] += 1
            continue
        if len(buf) < tcp + 14:
            skipped["TCP header cut by the snapshot length"] += 1
            continue
        sport, dport, seq, ack, off, flags, _ = unpack(buf, tcp)
        length = tcp_bytes - (off >> 4) * 4
        if length < 0:
            skipped["malformed TCP header"] += 1
            continue
        segments.append(Segment(number, ts, src, sport, dst, dport, seq, ack, flags, length))
    capture.packets = number


class _Reads:
    """A file whose reads remember coming up short: dpkt hands over a cut
    last record as it is (pcap) or stops quietly (pcapng block header), so
    the cut is noticed here."""

    def __init__(self, handle: BinaryIO) -> None:
        self.handle = handle
        self.name = getattr(handle, "name", "")
        self.short = False

    def read(self, n: int = -1) -> bytes:
        data = self.handle.read(n)
        # End of file exactly at a record header (16 bytes pcap, 8 pcapng) is the clean end.
        if 0 <= n != len(data) and (data or n not in (8, 16)):
            self.short = True
        return data


def _ip_offset(linktype: int, buf: bytes) -> int:
    """Where the IP header starts, or -1 when the frame is not IP."""
    if linktype == _ETHERNET:
        if len(buf) < 14:
            return -1
        kind, offset = (buf[12] << 8) | buf[13], 14
        while kind in (0x8100, 0x88A8) and len(buf) >= offset + 4:  # VLAN tags
            kind, offset = (buf[offset + 2] << 8) | buf[offset + 3], offset + 4
        return offset if kind in (0x0800, 0x86DD) else -1
    if linktype in _RAW:
        return 0
    if linktype == _SLL:
        return 16 if len(buf) >= 16 and ((buf[14] << 8) | buf[15]) in (0x0800, 0x86DD) else -1
    if linktype == _SLL2:
        return 20 if len(buf) >= 20 and ((buf[0] << 8) | buf[1]) in (0x0800, 0x86DD) else -1
    if linktype in (_NULL, _LOOP):
        return 4 if len(buf) >= 4 else -1
    return -1
