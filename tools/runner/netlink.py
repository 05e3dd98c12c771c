"""A minimal netlink client: one request, its answers, errors as OSError.

Used for rtnetlink (a host route inside the namespace, with the quickack
metric) and for sock_diag (observing sockets that have no descriptor).
"""

from __future__ import annotations

import os
import socket
import struct

NLMSG_ERROR = 2
NLMSG_DONE = 3
NLM_F_REQUEST = 0x01
NLM_F_ACK = 0x04
NLM_F_REPLACE = 0x100
NLM_F_EXCL = 0x200
NLM_F_CREATE = 0x400
_HEADER = struct.Struct("=IHHII")


def attr(kind: int, payload: bytes) -> bytes:
    """One netlink attribute (rtattr / nlattr), padded to 4 bytes."""
    length = 4 + len(payload)
    return struct.pack("=HH", length, kind) + payload + b"\0" * (-length % 4)


class Netlink:
    """A netlink socket of one protocol, created in the caller's namespace."""

    def __init__(self, protocol: int) -> None:
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, protocol)
        self.sock.bind((0, 0))
        self._seq = 0

    def close(self) -> None:
        """Release the socket."""
        self.sock.close()

    def request(self, kind: int, flags: int, body: bytes) -> list[tuple[int, bytes]]:
        """Send one message; return the (type, payload) answers up to the ack,
        the error or DONE. A netlink error becomes OSError(errno)."""
        self._seq += 1
        seq = self._seq
        self.sock.send(_HEADER.pack(_HEADER.size + len(body), kind, flags | NLM_F_REQUEST, seq, 0) + body)
        answers: list[tuple[int, bytes]] = []
        while True:
            data = self.sock.recv(65536)
            offset = 0
            while offset + _HEADER.size <= len(data):
                length, mtype, _, mseq, _ = _HEADER.unpack_from(data, offset)
                payload = data[offset + _HEADER.size: offset + length]
                offset += (length + 3) & ~3
                if mseq != seq:
                    continue  # a stale answer to an earlier request
                if mtype == NLMSG_ERROR:
                    (error,) = struct.unpack_from("=i", payload)
                    if error:
                        raise OSError(-error, os.strerror(-error))
                    return answers
                if mtype == NLMSG_DONE:
                    return answers
                answers.append((mtype, payload))
                if not flags & NLM_F_ACK and not flags & 0x300:  # single answer, no dump
                    return answers
