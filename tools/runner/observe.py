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

from tcpcheck.tools.runner import sockdiag
from tcpcheck.tools.runner.sockdiag import KERNEL_NAMES, KERNEL_STATES
from tcpcheck.tools.runner.stack import FourTuple, Observation

__all__ = ["KERNEL_NAMES", "KERNEL_STATES", "FourTuple", "Observation", "SockDiag", "diagnose", "tcp_info_state"]

TCP_INFO = 11


def tcp_info_state(sock: socket.socket) -> int:
    """The kernel state number of a live descriptor (``tcpi_state``)."""
    return sock.getsockopt(socket.IPPROTO_TCP, TCP_INFO, 8)[0]


class SockDiag:
    """Exact 4-tuple lookups with inet_diag (create it inside the namespace)."""

    def __init__(self) -> None:
        self.nl = sockdiag.open_sock_diag()

    def close(self) -> None:
        """Release the netlink socket."""
        self.nl.close()

    def lookup(self, flow: FourTuple) -> int | None:
        """The kernel state of the socket holding exactly ``flow``, or None."""
        found = sockdiag.lookup(self.nl, socket.AF_INET, flow.local, flow.lport, flow.remote, flow.rport)
        return None if found is None else found.state


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
