"""Snapshots of the host's network configuration, for the safety tests."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def _links() -> list[tuple[str, ...]]:
    # /sys/class/net and /proc/net are the reading process's namespace: the
    # test's main thread never leaves the host's.
    out = []
    for name in sorted(os.listdir("/sys/class/net")):
        base = f"/sys/class/net/{name}"
        out.append((name, *(_read(f"{base}/{k}").strip() for k in ("ifindex", "flags", "mtu", "address", "operstate"))))
    return out


def host_snapshot() -> dict[str, object]:
    """Links, addresses, routes, named namespaces, net.ipv4.tcp_* sysctls,
    and this process's own namespace, as seen from the host (from /proc and
    /sys, plus ``ip`` when it is installed)."""
    sysctls = {}
    for path in sorted(glob.glob("/proc/sys/net/ipv4/tcp_*")):
        try:
            with open(path) as f:
                sysctls[os.path.basename(path)] = f.read()
        except OSError:
            continue
    snapshot: dict[str, object] = {
        "links": _links(),
        "ipv4_fib": _read("/proc/net/fib_trie"),  # every IPv4 table: addresses and routes
        "ipv4_routes": _read("/proc/net/route"),
        "ipv6_routes": _read("/proc/net/ipv6_route"),
        "ipv6_addresses": _read("/proc/net/if_inet6"),
        "named_netns": sorted(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else [],
        "own_netns": os.stat("/proc/self/ns/net").st_ino,
        "tcp_sysctls": sysctls,
    }
    if shutil.which("ip"):
        for key, args in (("ip_addr", ["-o", "addr"]), ("ip_route", ["route", "show", "table", "all"]),
                          ("ip_rule", ["rule"]), ("ip_netns", ["netns", "list"])):
            snapshot[key] = subprocess.run(["ip", *args], capture_output=True, text=True).stdout
    return snapshot


def tasks_in_netns(inode: int) -> list[tuple[int, int]]:
    """(pid, tid) of every task whose network namespace is ``inode``."""
    found = []
    for path in glob.glob("/proc/[0-9]*/task/[0-9]*/ns/net"):
        try:
            if os.stat(path).st_ino == inode:
                parts = path.split("/")
                found.append((int(parts[2]), int(parts[4])))
        except OSError:
            continue  # the task ended while we looked
    return found


def task_start_ticks(pid: int, tid: int) -> int:
    """When a task started, in clock ticks since boot (field 22 of stat)."""
    with open(f"/proc/{pid}/task/{tid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[19])


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid``."""
    found = []
    for path in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(path) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(path.split("/")[2]))
    return found


def private_netns(pid: int) -> set[int]:
    """The network namespaces (inodes) of ``pid``'s tasks other than the
    host's (the reading process's)."""
    host = os.stat("/proc/self/ns/net").st_ino
    found = set()
    for path in glob.glob(f"/proc/{pid}/task/[0-9]*/ns/net"):
        try:
            inode = os.stat(path).st_ino
        except OSError:
            continue
        if inode != host:
            found.add(inode)
    return found


def process_start_ticks(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks since boot), None if it is
    gone. A zombie is gone: it holds nothing, and whoever adopted it (init,
    a subreaper) reaps it in its own time."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] in ("Z", "X") else int(fields[19])
