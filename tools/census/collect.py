"""Reading the live sockets of one network namespace, and who holds them.

Everything namespace-bound (the sock_diag socket, ``/proc/thread-self/net``
counters, ``/proc/sys/net`` settings) is read from a thread that joined the
target namespace (``run_in_netns``); the owners of sockets are found from
the host's ``/proc/PID/fd`` links, which name socket inodes whatever the
namespace.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from tcpcheck.model.errors import InputError
from tcpcheck.tools.runner import sockdiag
from tcpcheck.tools.runner.netns import run_in_netns
from tcpcheck.tools.runner.sockdiag import DiagSocket

# The settings the findings quote (per network namespace).
SYSCTLS = (
    "net/ipv4/tcp_syncookies",
    "net/ipv4/tcp_max_syn_backlog",
    "net/core/somaxconn",
    "net/ipv4/ip_local_port_range",
    "net/ipv4/tcp_fin_timeout",
    "net/ipv4/tcp_tw_reuse",
    "net/ipv4/tcp_max_tw_buckets",
)


@dataclass(frozen=True)
class Target:
    """Whose sockets: the host's (``path`` None), or those of the namespace
    at ``path``; ``label`` says which in reports."""

    label: str
    path: str | None = None


def target_for(netns: str | None = None, pid: int | None = None) -> Target:
    """The target named on the command line; InputError when it does not exist."""
    if netns is not None and pid is not None:
        raise InputError("--netns/--pid", "name one namespace: --netns NAME or --pid PID, not both")
    if netns is not None:
        if "/" in netns or netns in ("", ".", ".."):
            raise InputError("--netns", f"{netns!r} is not a namespace name (as 'ip netns list' shows them)")
        path = f"/run/netns/{netns}"
        if not os.path.exists(path):
            raise InputError("--netns", f"no network namespace named {netns!r} (no {path}); see 'ip netns list'")
        return Target(f"netns {netns}", path)
    if pid is not None:
        path = f"/proc/{pid}/ns/net"
        if not os.path.exists(path):
            raise InputError("--pid", f"no process {pid} (no {path})")
        return Target(f"netns of pid {pid}", path)
    return Target("host")


@dataclass(frozen=True)
class Process:
    """A process holding a socket descriptor."""

    pid: int
    comm: str
    cmdline: str = ""

    def text(self) -> str:
        """``pid 1234 (python3)``."""
        return f"pid {self.pid} ({self.comm})"


@dataclass
class Snapshot:
    """What one census read: sockets, owners, counters, settings."""

    target: Target
    taken_at: float
    seconds: float
    sockets: list[DiagSocket]
    owners: dict[int, tuple[Process, ...]] = field(default_factory=dict)  # socket inode -> holders
    counters: dict[str, int] = field(default_factory=dict)  # "TcpExt.ListenOverflows" -> value
    sysctls: dict[str, str] = field(default_factory=dict)


def take_snapshot(target: Target) -> Snapshot:
    """Read the target's sockets, counters and settings, then find owners."""
    start = time.perf_counter()
    try:
        if target.path is None:
            sockets, counters, sysctls = _read_namespace()
        else:
            sockets, counters, sysctls = run_in_netns(target.path, _read_namespace)
    except PermissionError as exc:
        raise InputError(target.label, f"not allowed to read it ({exc.strerror}); run as root") from None
    except OSError as exc:
        raise InputError(target.label, f"cannot read its sockets: {exc}") from None
    owners = find_owners(s.inode for s in sockets if s.inode)
    return Snapshot(target, time.time(), time.perf_counter() - start, sockets, owners, counters, sysctls)


def _read_namespace() -> tuple[list[DiagSocket], dict[str, int], dict[str, str]]:
    nl = sockdiag.open_sock_diag()
    try:
        sockets = sockdiag.dump(nl)
    finally:
        nl.close()
    counters: dict[str, int] = {}
    for name in ("netstat", "snmp"):
        counters.update(read_counters(f"/proc/thread-self/net/{name}"))
    sysctls = {}
    for key in SYSCTLS:
        try:
            with open(f"/proc/sys/{key}") as f:
                sysctls[key] = " ".join(f.read().split())
        except OSError:
            continue  # older kernels lack some; the findings say what they miss
    return sockets, counters, sysctls


def read_counters(path: str) -> dict[str, int]:
    """``/proc/net/netstat`` or ``snmp``: header and value lines in pairs,
    ``TcpExt: Name ...`` then ``TcpExt: 1 ...``; keys ``TcpExt.Name``."""
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except OSError:
        return {}
    out: dict[str, int] = {}
    for header, values in zip(lines[::2], lines[1::2], strict=False):
        group, _, names = header.partition(":")
        _, _, numbers = values.partition(":")
        for name, number in zip(names.split(), numbers.split(), strict=False):
            try:
                out[f"{group}.{name}"] = int(number)
            except ValueError:
                continue
    return out


def find_owners(inodes: Iterable[int]) -> dict[int, tuple[Process, ...]]:
    """Socket inode -> the processes whose descriptors refer to it."""
    wanted = set(inodes)
    found: dict[int, list[int]] = {}
    if not wanted:
        return {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        fd_dir = f"/proc/{entry.name}/fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue  # gone, or a kernel thread
        pid = int(entry.name)
        for fd in fds:
            try:
                link = os.readlink(f"{fd_dir}/{fd}")
            except OSError:
                continue
            if link.startswith("socket:["):
                inode = int(link[8:-1])
                if inode in wanted:
                    holders = found.setdefault(inode, [])
                    if pid not in holders:
                        holders.append(pid)
    names: dict[int, Process] = {}
    for pids in found.values():
        for pid in pids:
            if pid not in names:
                names[pid] = _process(pid)
    return {inode: tuple(names[p] for p in pids) for inode, pids in found.items()}


def _process(pid: int) -> Process:
    try:
        with open(f"/proc/{pid}/comm") as f:
            comm = f.read().strip()
        with open(f"/proc/{pid}/cmdline", "rb") as fb:
            cmdline = fb.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
    except OSError:
        return Process(pid, "?")
    return Process(pid, _printable(comm), _printable(cmdline)[:160])


def _printable(text: str) -> str:
    # Process names are anyone's choice: no control characters reach the
    # terminal, and a multi-line command line becomes one line.
    return "".join(c if c.isprintable() else " " for c in " ".join(text.split()))
