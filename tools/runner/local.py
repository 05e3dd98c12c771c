"""The local side: ordinary socket calls on the stack under test.

Sockets are created inside the private namespace (``NetNamespace.call``);
once made, they are used from any thread like any descriptor.
"""

from __future__ import annotations

import errno
import select
import socket
import struct
from collections.abc import Callable

from tcpcheck.tools.runner.netns import LOCAL_ADDR, PEER_ADDR, NetNamespace
from tcpcheck.tools.runner.stack import CallError

__all__ = ["CallError", "LocalSide"]

TCP_SYNCNT = 7
TCP_USER_TIMEOUT = 18


class LocalSide:
    """The application on the stack: at most one listener and one connection."""

    def __init__(self, ns: NetNamespace, lport: int, rport: int, local_addr: str = LOCAL_ADDR,
                 peer_addr: str = PEER_ADDR, factory: Callable[[], socket.socket] | None = None) -> None:
        self.ns = ns
        self.factory = factory  # makes a TCP socket in the namespace (default: one ns.call each)
        self.lport = lport
        self.rport = rport
        self.local_addr = local_addr
        self.peer_addr = peer_addr
        self.listener: socket.socket | None = None
        self.conn: socket.socket | None = None
        self.received = b""
        self.last_error = ""  # errno text of the last call that failed at the API

    def _socket(self) -> socket.socket:
        sock = self.factory() if self.factory else self.ns.call(socket.socket, socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        return sock

    def listen(self) -> None:
        """Passive OPEN: bind the local port and listen."""
        sock = self._socket()
        sock.bind((self.local_addr, self.lport))
        sock.listen(8)
        self.listener = sock

    def connect(self, syn_timeout_ms: int = 0) -> None:
        """Active OPEN, non-blocking: the SYN leaves before this returns.

        ``syn_timeout_ms`` makes SYN_SENT give up quickly: one retransmission
        (TCP_SYNCNT) and TCP_USER_TIMEOUT, which Linux checks when the first
        retransmission timer (1 s, TCP_TIMEOUT_INIT) fires.
        """
        sock = self._socket()
        if syn_timeout_ms:
            sock.setsockopt(socket.IPPROTO_TCP, TCP_SYNCNT, 1)
            sock.setsockopt(socket.IPPROTO_TCP, TCP_USER_TIMEOUT, syn_timeout_ms)
        sock.bind((self.local_addr, self.lport))
        self.conn = sock
        err = sock.connect_ex((self.peer_addr, self.rport))
        if err not in (0, errno.EINPROGRESS):  # EINPROGRESS is the normal answer
            raise CallError(f"connect failed: {errno.errorcode.get(err, str(err))}")

    def accept(self) -> None:
        """Take the established connection from the listener's queue."""
        if self.listener is None:
            raise CallError("accept without listen")
        try:
            conn, _ = self.listener.accept()
        except BlockingIOError:
            raise CallError("accept: no established connection is queued") from None
        conn.setblocking(False)
        self.conn = conn

    def _endpoint(self) -> socket.socket:
        sock = self.conn or self.listener
        if sock is None:
            raise CallError("no socket to act on: listen or connect first")
        return sock

    def close(self) -> None:
        """CLOSE: close() on the connection, else on the listener."""
        sock = self._endpoint()
        sock.close()
        self._forget(sock)

    def shutdown_wr(self) -> None:
        """CLOSE as a half-close: shutdown(SHUT_WR), keeping the descriptor."""
        if self.conn is None:
            raise CallError("shutdown_wr without a connection")
        conn = self.conn
        self._guard(lambda: conn.shutdown(socket.SHUT_WR))

    def abort(self) -> None:
        """ABORT: SO_LINGER {on, 0} then close() (Linux then sends a RST from
        the synchronized states, tcp_disconnect())."""
        sock = self._endpoint()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
        self._forget(sock)

    def send(self, data: bytes) -> None:
        """SEND some bytes on the connection."""
        if self.conn is None:
            raise CallError("send without a connection")
        conn = self.conn
        self._guard(lambda: conn.send(data))

    def recv(self) -> None:
        """RECEIVE whatever is queued (non-blocking)."""
        if self.conn is None:
            raise CallError("recv without a connection")
        try:
            self.received += self.conn.recv(65536)
        except BlockingIOError:
            pass
        except OSError as exc:
            self.last_error = errno.errorcode.get(exc.errno or 0, str(exc))

    def told(self, call: str) -> str | None:
        """What socket call ``call`` (``recv``, ``connect``, ``send``,
        ``shutdown_wr``) tells the application now, without blocking: an
        errno name (``ECONNRESET``), ``EOF`` (recv returns 0: the peer's
        FIN), ``EAGAIN`` (nothing to say yet), ``connected``, or ``ok`` (send
        and shutdown succeeded); None when there is no descriptor to ask
        (after close() the connection is an orphan: nobody to tell).

        A pending error is reported once, as the kernel does (sock_error()
        clears it); data already queued is peeked at, never consumed, so a
        later close() still sees it unread."""
        conn = self.conn
        if conn is None or conn.fileno() < 0:
            return None
        if call in ("send", "shutdown_wr"):
            return _probe(conn, call)
        if call == "connect":
            err = conn.connect_ex((self.peer_addr, self.rport))
            return "connected" if err == errno.EISCONN else errno.errorcode.get(err, str(err))
        try:
            data = conn.recv(65536, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except BlockingIOError:
            return "EAGAIN"
        except OSError as exc:
            return errno.errorcode.get(exc.errno or 0, str(exc))
        if not data:
            return "EOF"
        # Data is queued ahead of what the call would say next: recv returns
        # it first, then 0 if the peer's FIN came after it (POLLRDHUP).
        poller = select.poll()
        poller.register(conn, select.POLLRDHUP)
        return "EOF" if any(ev & select.POLLRDHUP for _, ev in poller.poll(0)) else "EAGAIN"

    def _guard(self, action: Callable[[], object]) -> None:
        # ECONNRESET, EPIPE...: the call was made; what it says is a
        # symptom of the state, which the observation after the step judges.
        try:
            action()
        except OSError as exc:
            self.last_error = errno.errorcode.get(exc.errno or 0, str(exc))

    def _forget(self, sock: socket.socket) -> None:
        if sock is self.conn:
            self.conn = None
        elif sock is self.listener:
            self.listener = None

    def close_all(self) -> None:
        """Teardown: abort whatever is still open."""
        for sock in (self.conn, self.listener):
            if sock is not None and sock.fileno() >= 0:
                try:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                except OSError:
                    pass
                sock.close()
        self.conn = self.listener = None


def _probe(conn: socket.socket, call: str) -> str:
    """A SEND or CLOSE that changes nothing: send() of no bytes (Linux
    checks sk_err and SEND_SHUTDOWN before it looks at the length, and
    queues nothing), or shutdown(SHUT_WR) again (tcp_shutdown() acts only in
    ESTABLISHED, SYN_SENT, SYN_RCVD and CLOSE_WAIT); ``ok`` or the errno."""
    try:
        if call == "send":
            conn.send(b"", socket.MSG_DONTWAIT | socket.MSG_NOSIGNAL)
        else:
            conn.shutdown(socket.SHUT_WR)
    except OSError as exc:
        return errno.errorcode.get(exc.errno or 0, str(exc))
    return "ok"
