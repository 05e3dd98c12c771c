"""sock_diag (inet_diag) for TCP: the kernel's view of every socket.

One netlink request dumps all TCP sockets of the caller's network
namespace in every state, including those that have no descriptor: request
sockets of a passive open (reported as SYN_RECV), timewait sockets
(TIME_WAIT, and orphans in FIN_WAIT2), orphans after close(). The exact
4-tuple lookup of ``observe`` and the census's dump share the message
layout defined here.

Create the ``Netlink`` socket inside the namespace to observe: a netlink
socket answers for the namespace it was created in.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterable
from typing import NamedTuple

from tcpcheck.tools.runner.netlink import Netlink

NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
NLM_F_DUMP = 0x300
INET_DIAG_INFO = 2
NO_COOKIE = 0xFFFFFFFF
ALL_STATES = 0xFFFFFFFF

# include/net/tcp_states.h, as the RFC names the states.
KERNEL_STATES: dict[int, str] = {
    1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RCVD", 4: "FIN_WAIT_1", 5: "FIN_WAIT_2",
    6: "TIME_WAIT", 7: "CLOSED", 8: "CLOSE_WAIT", 9: "LAST_ACK", 10: "LISTEN",
    11: "CLOSING", 12: "SYN_RCVD",  # TCP_NEW_SYN_RECV: a request socket
}
# The kernel's own names (what ss prints).
KERNEL_NAMES: dict[int, str] = {
    1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", 4: "FIN_WAIT1", 5: "FIN_WAIT2", 6: "TIME_WAIT",
    7: "CLOSE", 8: "CLOSE_WAIT", 9: "LAST_ACK", 10: "LISTEN", 11: "CLOSING", 12: "NEW_SYN_RECV",
}
# idiag_timer: which timer is pending (net/ipv4/inet_diag.c).
TIMERS = {0: "", 1: "retransmit", 2: "keepalive", 3: "timewait", 4: "zero-window probe"}

# struct inet_diag_msg: family, state, timer, retrans; inet_diag_sockid
# (sport, dport big-endian; src, dst 16 bytes each; interface; cookie);
# expires, rqueue, wqueue, uid, inode.
_MSG = struct.Struct("=BBBB2s2s16s16sIQIIIII")
_PORT = struct.Struct("!H")
_ATTR = struct.Struct("=HH")
# struct tcp_info: u8 state ... retransmits at offset 2; the last_* times
# (milliseconds ago) at 44..60.
_INFO_LAST = struct.Struct("=IIII")


class DiagSocket(NamedTuple):
    """One TCP socket as inet_diag reports it.

    ``state`` is the kernel's number (``KERNEL_STATES`` names it the RFC's
    way). ``inode`` is 0 for sockets no descriptor refers to. Times are in
    milliseconds; the ``last_*`` ones come from tcp_info and are -1 for
    sockets that have none (request and timewait sockets).
    """

    family: int
    state: int
    timer: int
    retrans: int
    src: str
    sport: int
    dst: str
    dport: int
    expires_ms: int
    rqueue: int
    wqueue: int
    uid: int
    inode: int
    cookie: int
    retransmits: int = -1  # tcpi_retransmits: consecutive unanswered retransmissions
    last_data_sent_ms: int = -1
    last_data_recv_ms: int = -1
    last_ack_recv_ms: int = -1

    @property
    def rfc_state(self) -> str:
        """The RFC name of the state (request sockets are SYN_RCVD)."""
        return KERNEL_STATES.get(self.state, f"state {self.state}")

    @property
    def kernel_state(self) -> str:
        """The kernel's name (``FIN_WAIT2``, ``NEW_SYN_RECV``...)."""
        return KERNEL_NAMES.get(self.state, str(self.state))


_NAMES: dict[tuple[int, bytes], str] = {}


def _address(family: int, raw: bytes) -> str:
    # Thousands of sockets share a few addresses: convert each once.
    key = (family, raw)
    found = _NAMES.get(key)
    if found is None:
        if len(_NAMES) > 65536:
            _NAMES.clear()
        text = socket.inet_ntop(socket.AF_INET, raw[:4]) if family == socket.AF_INET else \
            socket.inet_ntop(socket.AF_INET6, raw)
        found = _NAMES[key] = text
    return found


def parse_message(payload: bytes) -> DiagSocket:
    """One inet_diag_msg (and its tcp_info attribute, when present)."""
    (family, state, timer, retrans, sport, dport, src, dst, _ifindex, cookie,
     expires, rqueue, wqueue, uid, inode) = _MSG.unpack_from(payload)
    retransmits = sent = recv = ack = -1
    offset = _MSG.size
    while offset + _ATTR.size <= len(payload):
        length, kind = _ATTR.unpack_from(payload, offset)
        if length < _ATTR.size:
            break
        if kind == INET_DIAG_INFO and length >= _ATTR.size + 60:
            base = offset + _ATTR.size
            retransmits = payload[base + 2]
            sent, _, recv, ack = _INFO_LAST.unpack_from(payload, base + 44)
        offset += (length + 3) & ~3
    return DiagSocket(
        family, state, timer, retrans, _address(family, src), _PORT.unpack(sport)[0], _address(family, dst),
        _PORT.unpack(dport)[0], expires, rqueue, wqueue, uid, inode, cookie, retransmits, sent, recv, ack,
    )


def sock_id(family: int, src: str, sport: int, dst: str, dport: int) -> bytes:
    """A struct inet_diag_sockid for an exact lookup (no interface, no cookie)."""
    raw_src = socket.inet_pton(family, src).ljust(16, b"\0")
    raw_dst = socket.inet_pton(family, dst).ljust(16, b"\0")
    return struct.pack("!HH16s16s", sport, dport, raw_src, raw_dst) + struct.pack("=III", 0, NO_COOKIE, NO_COOKIE)


def request(family: int, states: int, sockid: bytes = b"", ext: int = 0) -> bytes:
    """A struct inet_diag_req_v2 for TCP."""
    return struct.pack("=BBBBI", family, socket.IPPROTO_TCP, ext, 0, states) + (sockid or b"\0" * 56)


def open_sock_diag() -> Netlink:
    """A sock_diag netlink socket for the caller's (thread's) namespace."""
    return Netlink(NETLINK_SOCK_DIAG)


def dump(nl: Netlink, families: Iterable[int] = (socket.AF_INET, socket.AF_INET6), states: int = ALL_STATES,
         info: bool = True) -> list[DiagSocket]:
    """Every TCP socket of ``nl``'s namespace in ``states`` (a bit mask of
    kernel state numbers), IPv4 then IPv6. With ``info`` the full sockets
    carry their tcp_info times."""
    ext = 1 << (INET_DIAG_INFO - 1) if info else 0
    out: list[DiagSocket] = []
    for family in families:
        for _, payload in nl.request(SOCK_DIAG_BY_FAMILY, NLM_F_DUMP, request(family, states, ext=ext)):
            out.append(parse_message(payload))
    return out


def lookup(nl: Netlink, family: int, src: str, sport: int, dst: str, dport: int) -> DiagSocket | None:
    """The socket holding exactly this 4-tuple, or None.

    The kernel's exact lookup falls back to a listener on the local port
    when no connection matches (``inet_lookup``), so an answer is only
    taken when its remote port is the one asked for.
    """
    try:
        answers = nl.request(SOCK_DIAG_BY_FAMILY, 0, request(family, ALL_STATES, sock_id(family, src, sport, dst,
                                                                                         dport)))
    except FileNotFoundError:
        return None  # ENOENT: nothing holds this 4-tuple
    for _, payload in answers:
        found = parse_message(payload)
        if found.dport == dport:
            return found
    return None
