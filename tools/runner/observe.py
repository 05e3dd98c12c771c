"""Observing the state of the stack's socket: TCP_INFO and sock_diag.

Two methods, because no single one sees every state on Linux:

* ``TCP_INFO`` (getsockopt) on a descriptor: LISTEN, SYN_SENT, and every
  state of a full socket while the application holds it.
* netlink sock_diag (inet_diag, exact lookup by 4-tuple) for what has no
  descriptor: an orphan after close(), a request socket of a passive open
  (SYN_RCVD, kernel state NEW_SYN_RECV), and timewait sockets. Once Linux
  enters TIME_WAIT the socket behind the descriptor reports CLOSE while a
  separate timewait socket holds the 4-tuple (``tcp_time_wait()``); an
  orphan whose FIN was acknowledged becomes a timewait socket too, with
  sub-state FIN_WAIT2.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

from tcpcheck.tools.runner.netlink import Netlink

# include/net/tcp_states.h
KERNEL_STATES: dict[int, str] = {
    1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RCVD", 4: "FIN_WAIT_1", 5: "FIN_WAIT_2",
    6: "TIME_WAIT", 7: "CLOSED", 8: "CLOSE_WAIT", 9: "LAST_ACK", 10: "LISTEN",
    11: "CLOSING", 12: "SYN_RCVD",  # TCP_NEW_SYN_RECV: a request socket
}
KERNEL_NAMES: dict[int, str] = {
    1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", 4: "FIN_WAIT1", 5: "FIN_WAIT2", 6: "TIME_WAIT",
    7: "CLOSE", 8: "CLOSE_WAIT", 9: "LAST_ACK", 10: "LISTEN", 11: "CLOSING", 12: "NEW_SYN_RECV",
}

NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
TCP_INFO = 11
_NOCOOKIE = 0xFFFFFFFF


@dataclass(frozen=True)
class Observation:
    """A state seen, how it was seen, and the kernel's own name for it."""

    state: str
    method: str  # "TCP_INFO", "sock_diag", "sock_diag: no socket", ...
    kernel: str = ""

    def text(self) -> str:
        """``TIME_WAIT (sock_diag: TIME_WAIT)``."""
        detail = f"{self.method}: {self.kernel}" if self.kernel else self.method
        return f"{self.state} ({detail})"


@dataclass(frozen=True)
class FourTuple:
    """A connection seen from the stack: its address and port, the peer's."""

    local: str
    lport: int
    remote: str
    rport: int


def tcp_info_state(sock: socket.socket) -> int:
    """The kernel state number of a live descriptor (``tcpi_state``)."""
    return sock.getsockopt(socket.IPPROTO_TCP, TCP_INFO, 8)[0]


class SockDiag:
    """Exact 4-tuple lookups with inet_diag (create it inside the namespace)."""

    def __init__(self) -> None:
        self.nl = Netlink(NETLINK_SOCK_DIAG)

    def close(self) -> None:
        """Release the netlink socket."""
        self.nl.close()

    def lookup(self, flow: FourTuple) -> int | None:
        """The kernel state of the socket holding exactly ``flow``, or None.

        The kernel's exact lookup falls back to a listener on the local port
        when no connection matches (``inet_lookup``), so an answer is only
        taken when its remote port is the one asked for.
        """
        sockid = struct.pack(
            "!HH16s16s", flow.lport, flow.rport,
            socket.inet_aton(flow.local) + b"\0" * 12, socket.inet_aton(flow.remote) + b"\0" * 12,
        ) + struct.pack("=III", 0, _NOCOOKIE, _NOCOOKIE)
        # struct inet_diag_req_v2: family, protocol, ext, pad, states, id
        body = struct.pack("=BBBBI", socket.AF_INET, socket.IPPROTO_TCP, 0, 0, 0xFFFFFFFF) + sockid
        try:
            answers = self.nl.request(SOCK_DIAG_BY_FAMILY, 0, body)
        except FileNotFoundError:
            return None  # ENOENT: nothing holds this 4-tuple
        for _, payload in answers:
            state = payload[1]
            rport = struct.unpack_from("!H", payload, 6)[0]
            if rport == flow.rport:
                return state
        return None


def diagnose(
    diag: SockDiag,
    flow: FourTuple | None,
    conn: socket.socket | None,
    listener: socket.socket | None,
    synchronized_before: bool,
) -> Observation:
    """The state of the endpoint the scenario drives.

    The endpoint is the connection once a 4-tuple exists, else the listener.
    A passive connection whose request socket vanished before it was ever
    synchronized (a RST in SYN_RCVD) is back in LISTEN (RFC 9293 Note 1),
    which the listener shows.
    """
    if conn is not None and conn.fileno() >= 0:
        number = tcp_info_state(conn)
        if number != 7:  # CLOSE may hide a TIME_WAIT or FIN_WAIT2 timewait socket
            return Observation(KERNEL_STATES[number], "TCP_INFO", KERNEL_NAMES[number])
    if flow is not None:
        number_or_none = diag.lookup(flow)
        if number_or_none is not None:
            return Observation(KERNEL_STATES[number_or_none], "sock_diag", KERNEL_NAMES[number_or_none])
    if listener is not None and listener.fileno() >= 0 and not synchronized_before:
        number = tcp_info_state(listener)
        return Observation(KERNEL_STATES[number], "TCP_INFO listener", KERNEL_NAMES[number])
    if conn is not None and conn.fileno() >= 0:
        return Observation("CLOSED", "TCP_INFO + sock_diag", "CLOSE, no timewait socket")
    return Observation("CLOSED", "sock_diag", "no socket")
