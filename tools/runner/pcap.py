"""pcap files of a test's packets (Wireshark and tcpdump read them)."""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Protocol

from tcpcheck.tools.runner.packets import Captured

LINKTYPE_RAW = 101  # raw IPv4/IPv6, no link-layer header: what a TUN carries


def pcap_bytes(packets: Iterable[Captured]) -> bytes:
    """A classic little-endian pcap (microsecond timestamps)."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, LINKTYPE_RAW)]
    for item in packets:
        seconds = int(item.time)
        micros = int((item.time - seconds) * 1_000_000)
        out.append(struct.pack("<IIII", seconds, micros, len(item.raw), len(item.raw)))
        out.append(item.raw)
    return b"".join(out)


def write_pcap(path: str | Path, packets: Iterable[Captured]) -> Path:
    """Write ``packets`` to ``path`` (parent directories made); return it."""
    from tcpcheck.tools.outputs import write_file

    return write_file(path, pcap_bytes(packets))


def pcap_name(name: str) -> str:
    """The pcap file of a scenario or test called ``name``: letters, digits,
    '_', '.' and '-' only, so it names a file inside the folder given, never
    a path or a hidden file (the one rule for every runner)."""
    from tcpcheck.tools.outputs import safe_name

    return safe_name(name, ".pcap")


class _HasPackets(Protocol):
    @property
    def scenario(self) -> str: ...

    @property
    def packets(self) -> Sequence[Captured]: ...


def write_pcaps(directory: str | Path, results: Iterable[_HasPackets]) -> None:
    """One pcap per result in ``directory``, named by ``pcap_name``."""
    for result in results:
        write_pcap(Path(directory) / pcap_name(result.scenario), result.packets)


def read_pcap(path: str | Path) -> list[bytes]:
    """The raw packets of a pcap written by ``write_pcap`` (for tests)."""
    data = Path(path).read_bytes()
    magic, _, _, _, _, _, linktype = struct.unpack_from("<IHHiIII", data)
    if magic != 0xA1B2C3D4 or linktype != LINKTYPE_RAW:
        raise ValueError(f"{path}: not a raw-IP pcap written by tcpcheck")
    offset, packets = 24, []
    while offset + 16 <= len(data):
        _, _, caplen, _ = struct.unpack_from("<IIII", data, offset)
        packets.append(data[offset + 16: offset + 16 + caplen])
        offset += 16 + caplen
    return packets
