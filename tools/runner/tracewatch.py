"""The tracer's watchdog: the process that owns a run's trace instance.

Run by ``tracer.Tracer`` as ``python -I -S tracewatch.py serve FD TAGS...``
(standard library only, so it starts fast and imports nothing of the
project). It

1. finds tracefs: the host's mount if there is one; otherwise it moves
   itself into a private mount namespace (``unshare(CLONE_NEWNS)``, every
   mount made private first) and mounts tracefs there, so the host's mount
   table never changes;
2. removes trace instances of earlier runs that it can prove are orphaned
   (see ``orphaned``), never one another live run owns;
3. makes the run's instance, ``tcpcheck-<pidns>-<pid>-<start>-<tag>``
   (the owner's pid namespace, pid and start time, and a tag naming what
   the run owns, e.g. its address: two live runs never share a tag);
4. hands a descriptor of the instance directory to the owner over the
   socket FD (SCM_RIGHTS), then waits on that socket;
5. removes the instance when the owner asks, or when the socket reaches
   end-of-file because the owner died, even by SIGKILL.

It ignores SIGINT, SIGTERM and SIGHUP and runs in a session of its own, so
neither Ctrl-C on the owner's terminal nor a signal to the owner's process
group kills it before it has cleaned up. If it is SIGKILLed itself, the
instance is left behind with a name that lets the next run prove it
orphaned and remove it.

``python tracewatch.py inspect`` prints, as JSON, what tracefs holds now
(instances, the top-level enabled events, tracing_on), for the tests that
compare the host before and after a run.
"""

from __future__ import annotations

import array
import ctypes
import json
import os
import signal
import socket
import sys
import time

CLONE_NEWNS = 0x00020000
MS_REC, MS_PRIVATE = 0x4000, 0x40000
TRACEFS_DIRS = ("/sys/kernel/tracing", "/sys/kernel/debug/tracing")
PREFIX = "tcpcheck-"


def _fail(sock: socket.socket | None, message: str) -> None:
    if sock is not None:
        try:
            sock.send(b"error " + message.encode())
        except OSError:
            pass
    else:
        print(message, file=sys.stderr)
    sys.exit(1)


def _mounted_tracefs() -> str | None:
    """Where tracefs is mounted in this mount namespace, if anywhere."""
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                fields = line.split()
                sep = fields.index("-")
                if fields[sep + 1] == "tracefs":
                    return fields[4].replace("\\040", " ")
    except (OSError, ValueError, IndexError):
        pass
    return None


def _mount_private() -> str:
    """tracefs mounted in a private mount namespace of this process only."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNS) != 0:
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNS): " + os.strerror(ctypes.get_errno()))
    # Nothing mounted from now on may propagate back to the host.
    if libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) != 0:
        raise OSError(ctypes.get_errno(), "making mounts private: " + os.strerror(ctypes.get_errno()))
    for target in TRACEFS_DIRS:
        if os.path.isdir(target) and libc.mount(b"nodev", target.encode(), b"tracefs", 0, None) == 0:
            return target
    raise OSError(ctypes.get_errno(), "mount -t tracefs: " + os.strerror(ctypes.get_errno()))


def find_tracefs() -> str:
    """The tracefs root for this process, mounting it privately if needed."""
    return _mounted_tracefs() or _mount_private()


def _start_ticks(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def _pidns() -> int:
    return os.stat("/proc/self/ns/pid").st_ino


def instance_name(pid: int, tag: str) -> str:
    """The instance name that proves who owns it."""
    return f"{PREFIX}{_pidns()}-{pid}-{_start_ticks(pid)}-{tag}"


def parse_name(name: str) -> tuple[int, int, int, str] | None:
    """(pid namespace, pid, start ticks, tag) of one of our instance names."""
    if not name.startswith(PREFIX):
        return None
    parts = name[len(PREFIX):].split("-", 3)
    if len(parts) != 4 or not all(p.isdigit() for p in parts[:3]):
        return None
    return int(parts[0]), int(parts[1]), int(parts[2]), parts[3]


def orphaned(name: str) -> bool:
    """The instance's owner is provably gone: it was made in our pid
    namespace by a process that no longer exists (or whose pid now belongs
    to a process started at another time). Instances of other pid
    namespaces, or not named by us, are never touched."""
    parsed = parse_name(name)
    if parsed is None:
        return False
    pidns, pid, start, _ = parsed
    return pidns == _pidns() and _start_ticks(pid) != start


def remove_instance(root: str, name: str, tries: int = 50) -> bool:
    """Disable everything in the instance, then remove it (a reader still
    closing its files makes rmdir fail with EBUSY for a moment)."""
    path = os.path.join(root, "instances", name)
    for file, value in (("tracing_on", "0"), ("events/enable", "0")):
        try:
            with open(os.path.join(path, file), "w") as f:
                f.write(value)
        except OSError:
            pass
    for _ in range(tries):
        try:
            os.rmdir(path)
            return True
        except FileNotFoundError:
            return True
        except OSError:
            time.sleep(0.01)
    return False


def reap(root: str) -> list[str]:
    """Remove the orphaned instances of earlier runs; return their names."""
    removed: list[str] = []
    try:
        names = os.listdir(os.path.join(root, "instances"))
    except OSError:
        return removed
    for name in sorted(names):
        if orphaned(name) and remove_instance(root, name):
            removed.append(name)
    return removed


def _live_tags(root: str) -> set[str]:
    tags = set()
    for name in os.listdir(os.path.join(root, "instances")):
        parsed = parse_name(name)
        if parsed is not None:
            tags.add(parsed[3])
    return tags


def serve(fd: int, owner: int, tags: list[str]) -> None:
    """Own one instance for ``owner`` (see the module docstring)."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    sock = socket.socket(fileno=fd)
    try:
        root = find_tracefs()
    except OSError as exc:
        _fail(sock, f"cannot mount tracefs ({exc.strerror or exc})")
    if not os.path.isdir(os.path.join(root, "instances")):
        _fail(sock, f"tracefs at {root} has no instances/ directory")
    reaped = reap(root)
    taken = _live_tags(root)
    tag = next((t for t in tags if t not in taken), None)
    if tag is None:
        _fail(sock, "every candidate tag is in use by another live run")
    name = instance_name(owner, str(tag))
    try:
        os.mkdir(os.path.join(root, "instances", name))
        dirfd = os.open(os.path.join(root, "instances", name), os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        _fail(sock, f"cannot make trace instance {name} ({exc.strerror or exc})")
    fds = array.array("i", [dirfd])
    message = json.dumps({"name": name, "tag": tag, "root": root, "reaped": reaped}).encode()
    sock.sendmsg([b"ready " + message], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds.tobytes())])
    os.close(dirfd)
    while True:
        try:
            request = sock.recv(64)
        except InterruptedError:
            continue
        except OSError:
            request = b""
        if request in (b"", b"remove"):
            break
    ok = remove_instance(root, name)
    try:
        sock.send(b"removed" if ok else b"error rmdir " + name.encode())
    except OSError:
        pass


def inspect() -> None:
    """Print what tracefs holds (instances, top-level events, tracing_on)."""
    root = find_tracefs()

    def read(path: str) -> str:
        try:
            with open(os.path.join(root, path)) as f:
                return f.read().strip()
        except OSError as exc:
            return f"unreadable: {exc.strerror}"

    snapshot = {
        "instances": sorted(os.listdir(os.path.join(root, "instances"))),
        "set_event": read("set_event"),
        "tracing_on": read("tracing_on"),
        "inet_sock_set_state": read("events/sock/inet_sock_set_state/enable"),
        "trace_clock": read("trace_clock"),
    }
    print(json.dumps(snapshot, sort_keys=True))


def main(argv: list[str]) -> None:
    if argv[:1] == ["serve"] and len(argv) >= 4:
        serve(int(argv[1]), int(argv[2]), argv[3:])
    elif argv[:1] == ["inspect"]:
        inspect()
    else:
        print("usage: tracewatch.py serve FD OWNER TAG... | inspect", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main(sys.argv[1:])
