"""A private network namespace with a TUN device, owned by one thread.

Safety: the namespace is created with unshare(CLONE_NEWNET) by a dedicated
thread, so the process itself (pytest, the CLI) stays on the host. Network
namespaces are per task on Linux: sockets, the TUN device and /proc/sys/net
writes made from that thread live in the private namespace; everything else
in the process is untouched. Nothing is bind-mounted and the TUN is not
persistent, so when the process dies (even by SIGKILL) the last reference
goes and the kernel removes the namespace and its interfaces by itself.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import platform
import queue
import socket
import struct
import threading
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from tcpcheck.tools.runner.netlink import NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, Netlink, attr

T = TypeVar("T")

CLONE_NEWNET = 0x40000000
TUNSETIFF = 0x400454CA
IFF_TUN, IFF_TAP, IFF_NO_PI = 0x0001, 0x0002, 0x1000
SIOCGIFFLAGS, SIOCSIFFLAGS = 0x8913, 0x8914
SIOCSIFADDR, SIOCSIFNETMASK, SIOCGIFINDEX = 0x8916, 0x891C, 0x8933
IFF_UP = 0x1

# RFC 2544's benchmarking range, configured only inside the private
# namespace. Not TEST-NET-1: some hosts (this project's CI machines among
# them) number their own interfaces from 192.0.2.0/24, and a pcap that
# names the host's address would confuse whoever reads it.
LOCAL_ADDR = "198.18.0.1"
PEER_ADDR = "198.18.0.2"
NETMASK = "255.255.255.0"
TUN_NAME = "tcpcheck0"

RTM_NEWROUTE = 24
RTA_DST, RTA_OIF, RTA_PREFSRC, RTA_METRICS = 1, 4, 7, 8
RTAX_QUICKACK = 15
RT_TABLE_MAIN, RTPROT_STATIC, RT_SCOPE_LINK, RTN_UNICAST = 254, 4, 253, 1
NETLINK_ROUTE = 0

# Settings pinned in every namespace, for speed and determinism. Scenarios
# may override some (e.g. tcp_rfc1337, tcp_fin_timeout) for their duration.
BASE_SYSCTLS: dict[str, str] = {
    # Linux rate-limits the ACKs it sends for out-of-window segments
    # (RFC 5961 challenge ACKs, re-ACKs in TIME_WAIT): 0 means every one.
    "net/ipv4/tcp_invalid_ratelimit": "0",
    "net/ipv4/tcp_challenge_ack_limit": "2147483647",
    "net/ipv4/tcp_fin_timeout": "60",
    "net/ipv4/tcp_tw_reuse": "0",
    "net/ipv4/tcp_max_tw_buckets": "262144",
    "net/ipv4/tcp_rfc1337": "0",
    "net/ipv4/tcp_syn_retries": "6",
    "net/ipv4/tcp_synack_retries": "5",
    "net/ipv4/tcp_syncookies": "1",
    "net/ipv4/tcp_ecn": "0",
    "net/ipv4/tcp_orphan_retries": "0",
}


class NamespaceUnavailable(RuntimeError):
    """This process cannot make a network namespace with a TUN device."""


def unavailable_reason() -> str | None:
    """A one-line reason when the runner cannot work here, else None
    (cheap: no namespace is created)."""
    if os.geteuid() != 0:
        return "tcpcheck runner needs root (to create a network namespace and a TUN device)"
    if not os.path.exists("/dev/net/tun"):
        return "tcpcheck runner needs /dev/net/tun (the tun kernel module)"
    return None


def _root_reason() -> str | None:
    if os.geteuid() != 0:
        return "tcpcheck runner needs root (to create a network namespace)"
    return None


def kernel_release() -> str:
    """The running kernel, recorded with every result."""
    return platform.release()


def _netns_inode() -> int:
    return os.stat("/proc/thread-self/ns/net").st_ino


class NetNamespace:
    """A private namespace, its TUN device and its settings.

    ``call(fn, ...)`` runs ``fn`` in the namespace thread; use it for
    anything that binds to a namespace when created (sockets, netlink,
    sysctl writes). Descriptors made there work from any thread. With
    ``tun=False`` the namespace has only ``lo`` (the loopback runner).
    ``addresses``: the stack's and the peer's address on the TUN, in one
    /24 of 198.18.0.0/15 (a traced run takes a pair of its own).

    ``link="tap"`` makes an Ethernet TAP device instead, for a user-space
    stack (lwIP) that owns the descriptor end: the kernel's side of the
    TAP gets no address and no route, so the kernel's own TCP never sees
    the flow; the peer talks to the stack through a packet socket on it.
    """

    def __init__(self, tun: bool = True, addresses: tuple[str, str] = (LOCAL_ADDR, PEER_ADDR),
                 link: str = "tun") -> None:
        if link not in ("tun", "tap"):
            raise ValueError(f"link {link!r}: use tun or tap")
        self.link = link
        reason = unavailable_reason() if tun else _root_reason()
        if reason:
            raise NamespaceUnavailable(reason)
        self.local_addr, self.peer_addr = addresses
        self.host_inode = _netns_inode()
        self._jobs: queue.SimpleQueue[tuple[Callable[[], Any], queue.SimpleQueue[Any]] | None]
        self._jobs = queue.SimpleQueue()
        ready: queue.SimpleQueue[BaseException | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, args=(ready,), name="tcpcheck-netns", daemon=True)
        self._thread.start()
        error = ready.get()
        if error is not None:
            self._thread.join()
            raise NamespaceUnavailable(
                f"cannot create a network namespace ({getattr(error, 'strerror', error)}): the runner needs root "
                "with CAP_SYS_ADMIN and CAP_NET_ADMIN"
            ) from None
        self.inode = self.call(_netns_inode)
        if self.inode == self.host_inode:  # belt and braces: never configure the host
            raise NamespaceUnavailable("unshare(CLONE_NEWNET) left the thread in the host namespace")
        try:
            self.tun_fd, self.ifindex = self.call(self._set_up) if tun else (-1, self.call(self._lo_up))
            self.base_sysctls = dict(BASE_SYSCTLS)
            self.set_sysctls(self.base_sysctls)
        except OSError as exc:
            self.close()
            raise NamespaceUnavailable(f"cannot set up the TUN device in the namespace: {exc}") from None

    # -- the namespace thread ------------------------------------------------

    def _serve(self, ready: queue.SimpleQueue[BaseException | None]) -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.unshare(CLONE_NEWNET) != 0:
            errno = ctypes.get_errno()
            ready.put(OSError(errno, os.strerror(errno)))
            return
        ready.put(None)
        while (job := self._jobs.get()) is not None:
            fn, reply = job
            try:
                reply.put((True, fn()))
            except BaseException as exc:  # handed back to the caller's thread
                reply.put((False, exc))

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` inside the namespace and return its result."""
        if threading.current_thread() is self._thread:
            return fn(*args)
        reply: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._jobs.put((lambda: fn(*args), reply))
        ok, value = reply.get()
        if not ok:
            raise value
        return value  # type: ignore[no-any-return]

    def close(self) -> None:
        """Close the TUN and end the thread: the kernel then frees the
        namespace once the last socket made in it is closed."""
        fd = getattr(self, "tun_fd", None)
        if fd is not None and fd >= 0:
            os.close(fd)
            self.tun_fd = -1
            del self.tun_fd
        if self._thread.is_alive():
            self._jobs.put(None)
            self._thread.join()

    # -- set-up (runs in the namespace thread) -------------------------------

    def _set_up(self) -> tuple[int, int]:
        self._check_private()
        # No IPv6 on the TUN: no router solicitations in the captures.
        _write_proc("net/ipv6/conf/default/disable_ipv6", "1", missing_ok=True)
        tun = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        kind = IFF_TAP if self.link == "tap" else IFF_TUN
        fcntl.ioctl(tun, TUNSETIFF, struct.pack("16sH22x", TUN_NAME.encode(), kind | IFF_NO_PI))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            _if_up(s, "lo")
            if self.link == "tap":
                _if_up(s, TUN_NAME)
                raw = fcntl.ioctl(s, SIOCGIFINDEX, struct.pack("16s24x", TUN_NAME.encode()))
                return tun, struct.unpack_from("i", raw, 16)[0]
            _ifreq_addr(s, SIOCSIFADDR, TUN_NAME, self.local_addr)
            _ifreq_addr(s, SIOCSIFNETMASK, TUN_NAME, NETMASK)
            _if_up(s, TUN_NAME)
            raw = fcntl.ioctl(s, SIOCGIFINDEX, struct.pack("16s24x", TUN_NAME.encode()))
            ifindex = struct.unpack_from("i", raw, 16)[0]
        _add_quickack_route(ifindex, self.local_addr, self.peer_addr)
        return tun, ifindex

    def _lo_up(self) -> int:
        self._check_private()
        _write_proc("net/ipv6/conf/default/disable_ipv6", "1", missing_ok=True)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            _if_up(s, "lo")
            raw = fcntl.ioctl(s, SIOCGIFINDEX, struct.pack("16s24x", b"lo"))
        return int(struct.unpack_from("i", raw, 16)[0])

    def _check_private(self) -> None:
        if _netns_inode() == self.host_inode:
            raise RuntimeError("refusing to configure the host network namespace")

    # -- sysctls ----------------------------------------------------------------

    def set_sysctls(self, values: Mapping[str, str]) -> dict[str, str]:
        """Write ``net/...`` sysctls inside the namespace; return the old values."""

        def apply() -> dict[str, str]:
            self._check_private()
            old: dict[str, str] = {}
            try:
                for key, value in values.items():
                    path = _sysctl_path(key)
                    old[key] = _read_proc(path)
                    _write_proc(path, value)
            except OSError:
                for key, value in old.items():  # all or nothing
                    _write_proc(_sysctl_path(key), value)
                raise
            return old

        return self.call(apply)

    def sysctls(self, keys: list[str] | None = None) -> dict[str, str]:
        """The values in force inside the namespace (the pinned set by default)."""
        wanted = keys if keys is not None else sorted(self.base_sysctls)
        return self.call(lambda: {k: _read_proc(_sysctl_path(k)) for k in wanted})


def sysctl_exists(key: str) -> bool:
    """A per-namespace sysctl of that name exists (checked by name only:
    the namespace has the same ``net/`` entries as the host, and nothing is
    read or written)."""
    try:
        return os.path.isfile(f"/proc/sys/{_sysctl_path(key)}")
    except ValueError:
        return False


def _sysctl_path(key: str) -> str:
    key = key.replace(".", "/")
    if not key.startswith("net/"):
        key = "net/ipv4/" + key  # "tcp_rfc1337" is short for net.ipv4.tcp_rfc1337
    if ".." in key:
        raise ValueError(f"bad sysctl name {key!r}")
    return key


def _read_proc(key: str) -> str:
    with open(f"/proc/sys/{key}") as f:
        return f.read().strip()


def _write_proc(key: str, value: str, missing_ok: bool = False) -> None:
    try:
        with open(f"/proc/sys/{key}", "w") as f:
            f.write(value)
    except FileNotFoundError:
        if not missing_ok:
            raise


def _if_up(s: socket.socket, name: str) -> None:
    raw = fcntl.ioctl(s, SIOCGIFFLAGS, struct.pack("16sH22x", name.encode(), 0))
    flags = struct.unpack_from("H", raw, 16)[0] | IFF_UP
    fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH22x", name.encode(), flags))


def _ifreq_addr(s: socket.socket, request: int, name: str, addr: str) -> None:
    sockaddr = struct.pack("HH4s8x", socket.AF_INET, 0, socket.inet_aton(addr))
    fcntl.ioctl(s, request, struct.pack("16s", name.encode()) + sockaddr + b"\0" * 8)


def _add_quickack_route(ifindex: int, local: str, peer: str) -> None:
    # A host route to the peer with the quickack metric: Linux then ACKs at
    # once instead of delaying (it enters pingpong mode on a FIN, and would
    # otherwise hold the ACK up to 40 ms), so every expected ACK is already
    # in the TUN when the injecting write returns.
    rtmsg = struct.pack("=BBBBBBBBI", socket.AF_INET, 32, 0, 0, RT_TABLE_MAIN, RTPROT_STATIC,
                        RT_SCOPE_LINK, RTN_UNICAST, 0)
    body = rtmsg + attr(RTA_DST, socket.inet_aton(peer)) + attr(RTA_OIF, struct.pack("=i", ifindex))
    body += attr(RTA_PREFSRC, socket.inet_aton(local))
    body += attr(RTA_METRICS, attr(RTAX_QUICKACK, struct.pack("=I", 1)))
    nl = Netlink(NETLINK_ROUTE)
    try:
        nl.request(RTM_NEWROUTE, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, body)
    finally:
        nl.close()


def run_in_netns(path: str, fn: Callable[[], T]) -> T:
    """Run ``fn()`` in a short-lived thread that has joined the network
    namespace at ``path`` (``/run/netns/NAME``, ``/proc/PID/ns/net``) and
    return its result. Sockets made there stay in that namespace;
    ``/proc/thread-self/net`` and ``/proc/sys/net`` read there show it. The
    calling thread, and the process, stay where they are.
    """
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    result: queue.SimpleQueue[tuple[bool, Any]] = queue.SimpleQueue()

    def enter() -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.setns(fd, CLONE_NEWNET) != 0:
                errno = ctypes.get_errno()
                raise OSError(errno, f"setns({path}): {os.strerror(errno)}")
            result.put((True, fn()))
        except BaseException as exc:  # handed back to the caller's thread
            result.put((False, exc))

    try:
        thread = threading.Thread(target=enter, name="tcpcheck-setns", daemon=True)
        thread.start()
        thread.join()
    finally:
        os.close(fd)
    ok, value = result.get()
    if not ok:
        raise value
    return value  # type: ignore[no-any-return]
