"""Transition-exact observation: the kernel's own record of every TCP state
change of a run's sockets, from the ``sock:inet_sock_set_state`` tracepoint.

A ``Tracer`` lives for one run. Its watchdog process (``tracewatch.py``)
finds tracefs (mounting it in a private mount namespace when the host has
not mounted it, so the host's mounts never change), removes instances that
earlier runs provably orphaned, makes an instance named after this process
and the addresses it owns, and removes it again when the run closes the
tracer, raises, is interrupted, or dies (even by SIGKILL: the watchdog
sees its socket reach end-of-file). Everything is configured inside that
instance: its own buffer, clock, event filters and enables; the top-level
tracing state is never touched.

Tracepoints are host-wide and other runs trace at the same time, so the
events are filtered twice: in the kernel by the run's port range (the
event's address fields are byte arrays, which ftrace filters cannot
compare), and here by the exact addresses the run owns (addresses chosen
per run; ``tag`` in the instance name makes two live runs refuse to share
one). Markers (``marker``) are written into the same buffer, so the run's
own actions are ordered exactly against the kernel's events.

Linux does not trace everything: a request socket of a passive open is
created in NEW_SYN_RECV without an event (the child's LISTEN -> SYN_RECV
is traced when the handshake completes), and a TIME_WAIT (or orphaned
FIN_WAIT_2) mini-socket has no events at all: the full socket reports
-> CLOSE when it hands over. sock_diag still sees both.
"""

from __future__ import annotations

import array
import json
import os
import re
import socket
import subprocess
import sys
import time
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tcpcheck.tools.runner.sockdiag import KERNEL_STATES

WATCHDOG = Path(__file__).with_name("tracewatch.py")
START_TIMEOUT = 10.0
# sock:inet_sock_set_state is the one that matters; a received RST tells a
# reset CLOSE from a hand-over to TIME_WAIT; a destroyed socket ends a path.
DEFAULT_EVENTS = ("sock/inet_sock_set_state", "tcp/tcp_receive_reset", "tcp/tcp_destroy_sock")
# The kernel's names for the states, as the tracepoint prints them.
TRACE_STATES = {f"TCP_{name}": number for number, name in {
    1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", 4: "FIN_WAIT1", 5: "FIN_WAIT2", 6: "TIME_WAIT", 7: "CLOSE",
    8: "CLOSE_WAIT", 9: "LAST_ACK", 10: "LISTEN", 11: "CLOSING", 12: "NEW_SYN_RECV"}.items()}
_LOST = re.compile(r"CPU:\d+ \[LOST (\d+) EVENTS\]")

_LIVE: weakref.WeakSet[Tracer] = weakref.WeakSet()


class TracerUnavailable(RuntimeError):
    """tracefs or the tracepoint cannot be used here (the message says why)."""


def unavailable_reason() -> str | None:
    """A one-line reason when tracing cannot work here, else None (cheap)."""
    if os.geteuid() != 0:
        return "tracing needs root (to mount tracefs and make a trace instance)"
    try:
        with open("/proc/filesystems") as f:
            if not any(line.split()[-1:] == ["tracefs"] for line in f):
                return "this kernel has no tracefs"
    except OSError:
        return "cannot read /proc/filesystems"
    return None


@dataclass(frozen=True)
class TraceEvent:
    """One line of the trace: a tracepoint hit or one of our markers."""

    ns: int  # on the tracer's clock
    cpu: int
    event: str  # inet_sock_set_state, tcp_receive_reset, tcp_destroy_sock, tracing_mark_write
    fields: dict[str, str] = field(default_factory=dict)
    text: str = ""  # a marker's text

    @property
    def is_marker(self) -> bool:
        """Written by the run itself (``Tracer.marker``)."""
        return self.event == "tracing_mark_write"

    @property
    def old(self) -> int:
        """The kernel state number before (inet_sock_set_state)."""
        return TRACE_STATES.get(self.fields.get("oldstate", ""), 0)

    @property
    def new(self) -> int:
        """The kernel state number after (inet_sock_set_state)."""
        return TRACE_STATES.get(self.fields.get("newstate", ""), 0)

    @property
    def local(self) -> tuple[str, int]:
        """The socket's own address and port."""
        return self.fields.get("saddr", ""), int(self.fields.get("sport", "0"))

    @property
    def remote(self) -> tuple[str, int]:
        """The peer's address and port (0.0.0.0:0 for a listener)."""
        return self.fields.get("daddr", ""), int(self.fields.get("dport", "0"))

    def describe(self) -> str:
        """``FIN_WAIT_1 -> CLOSING`` for a state change, else the event name."""
        if self.event == "inet_sock_set_state":
            return f"{KERNEL_STATES.get(self.old, '?')} -> {KERNEL_STATES.get(self.new, '?')}"
        return self.text if self.is_marker else self.event


def parse_line(line: str) -> TraceEvent | None:
    """One line of ``trace_pipe`` (None for comments and unknown lines):
    ``TASK-PID [CPU] FLAGS SECS.USECS: EVENT: FIELD=VALUE ...``."""
    close = line.find("] ")
    start = line.rfind("[", 0, close)
    colon = line.find(": ", close)
    if start < 0 or colon < 0 or not line[start + 1:close].isdigit():
        return None
    stamp = line[close + 2:colon].rsplit(None, 1)[-1]
    secs, dot, usecs = stamp.partition(".")
    if not (dot and secs.isdigit() and usecs.isdigit()):
        return None
    event, _, body = line[colon + 2:].partition(": ")
    ns = int(secs) * 1_000_000_000 + int(usecs.ljust(6, "0")[:6]) * 1000
    cpu = int(line[start + 1:close])
    if event == "tracing_mark_write":
        return TraceEvent(ns, cpu, event, {}, body.strip())
    return TraceEvent(ns, cpu, event, dict(item.split("=", 1) for item in body.split() if "=" in item))


def port_filter(low: int, high: int) -> str:
    """The kernel filter for a port range [low, high) on either end."""
    return f"(sport >= {low} && sport < {high}) || (dport >= {low} && dport < {high})"


class Tracer:
    """One run's trace instance (see the module docstring).

    ``ports``: the port range [low, high) the run's sockets use (kernel
    filter); ``addresses``: the addresses it owns (exact filter here);
    ``tags``: candidate tags for the instance name, the first not in use by
    another live run is taken (``self.tag``).
    """

    def __init__(self, ports: tuple[int, int], addresses: Iterable[str], tags: Sequence[str] = ("run",),
                 clock: str = "mono", events: Sequence[str] = DEFAULT_EVENTS, buffer_kb: int = 512) -> None:
        reason = unavailable_reason()
        if reason:
            raise TracerUnavailable(reason)
        self.addresses = frozenset(addresses)
        self.clock = clock
        self.lost = 0
        self._pending = ""
        self._fds: list[int] = []
        self._mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-I", "-S", str(WATCHDOG), "serve", str(theirs.fileno()), str(os.getpid()),
                 *tags],
                pass_fds=(theirs.fileno(),), start_new_session=True, stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        except OSError as exc:
            self._mine.close()
            raise TracerUnavailable(f"cannot start the trace watchdog: {exc}") from None
        finally:
            theirs.close()
        _LIVE.add(self)
        try:
            self._start(ports, events, buffer_kb)
        except BaseException:
            self.close()
            raise

    def _start(self, ports: tuple[int, int], events: Sequence[str], buffer_kb: int) -> None:
        self._mine.settimeout(START_TIMEOUT)
        try:
            data, ancillary, _, _ = self._mine.recvmsg(4096, socket.CMSG_SPACE(4))
        except (TimeoutError, OSError) as exc:
            raise TracerUnavailable(f"the trace watchdog did not answer ({exc})") from None
        finally:
            self._mine.settimeout(None)
        if not data.startswith(b"ready "):
            detail = data.decode(errors="replace").removeprefix("error ") or self._stderr()
            raise TracerUnavailable(f"tracing unavailable: {detail}")
        info = json.loads(data[len(b"ready "):])
        self.name: str = info["name"]
        self.tag: str = info["tag"]
        self.reaped: list[str] = info["reaped"]
        fds = array.array("i")
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
        if len(fds) != 1:
            raise TracerUnavailable("the trace watchdog sent no instance directory")
        self._dir = fds[0]
        self._fds.append(self._dir)
        self._write("buffer_size_kb", str(buffer_kb))
        self._write("trace_clock", self.clock)
        for event in events:
            if not os.path.isdir(f"/proc/self/fd/{self._dir}/events/{event}"):
                raise TracerUnavailable(f"this kernel has no tracepoint {event.replace('/', ':')}")
            self._write(f"events/{event}/filter", port_filter(*ports))
            self._write(f"events/{event}/enable", "1")
        self._pipe = os.open("trace_pipe", os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=self._dir)
        self._fds.append(self._pipe)
        self._marker = os.open("trace_marker", os.O_WRONLY | os.O_CLOEXEC, dir_fd=self._dir)
        self._fds.append(self._marker)
        self._write("tracing_on", "1")

    def _stderr(self) -> str:
        if self._proc.poll() is not None and self._proc.stderr is not None:
            lines = self._proc.stderr.read().decode(errors="replace").strip().splitlines()
            return lines[-1] if lines else "the watchdog exited"
        return "no answer"

    def _write(self, name: str, value: str) -> None:
        try:
            fd = os.open(name, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC, dir_fd=self._dir)
        except OSError as exc:
            raise TracerUnavailable(f"cannot open {name} in the trace instance ({exc.strerror})") from None
        try:
            os.write(fd, value.encode())
        except OSError as exc:
            raise TracerUnavailable(f"cannot write {value!r} to {name} ({exc.strerror})") from None
        finally:
            os.close(fd)

    # -- use -------------------------------------------------------------------

    def marker(self, text: str) -> None:
        """Write ``text`` into the trace, ordered with the kernel's events."""
        os.write(self._marker, text.encode()[:1000])

    def read(self) -> list[TraceEvent]:
        """Every event recorded since the last read (markers, and tracepoint
        hits on the owned addresses); never blocks."""
        chunks = []
        while True:
            try:
                chunk = os.read(self._pipe, 1 << 16)
            except BlockingIOError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        if not chunks:
            return []
        text = self._pending + b"".join(chunks).decode(errors="replace")
        lines = text.split("\n")
        self._pending = lines.pop()
        out = []
        for line in lines:
            lost = _LOST.search(line)
            if lost:
                self.lost += int(lost.group(1))
                continue
            event = parse_line(line)
            if event is None:
                continue
            if event.is_marker or event.fields.get("saddr") in self.addresses \
                    or event.fields.get("daddr") in self.addresses:
                out.append(event)
        return out

    def wait(self, timeout: float) -> list[TraceEvent]:
        """Like ``read``, but waits up to ``timeout`` seconds for something."""
        deadline = time.monotonic() + timeout
        while True:
            events = self.read()
            if events or time.monotonic() >= deadline:
                return events
            time.sleep(0.0002)

    # -- end -------------------------------------------------------------------

    def close(self) -> None:
        """Remove the instance (the watchdog does it and exits)."""
        _LIVE.discard(self)
        for fd in self._fds:
            try:
                os.close(fd)
            except OSError:
                pass
        self._fds = []
        try:
            self._mine.settimeout(START_TIMEOUT)
            self._mine.send(b"remove")
            self._mine.recv(256)
        except OSError:
            pass
        finally:
            self._mine.close()
        try:
            self._proc.wait(timeout=START_TIMEOUT)
        except subprocess.TimeoutExpired:
            pass  # it removes the instance on its own once it sees our socket closed
        if self._proc.stderr is not None:
            self._proc.stderr.close()

    def __enter__(self) -> Tracer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _forget_in_child() -> None:
    # A forked child must not keep the parent's end of a watchdog socket: the
    # watchdog removes the instance when the owner dies, which it learns from
    # end-of-file on that socket.
    for tracer in list(_LIVE):
        try:
            tracer._mine.close()
        except OSError:
            pass
        tracer._fds = []
        _LIVE.discard(tracer)


os.register_at_fork(after_in_child=_forget_in_child)


def inspect_tracefs() -> dict[str, str | list[str]]:
    """What tracefs holds right now (instances, top-level enabled events,
    tracing_on), read by a short-lived process in a private mount namespace
    (the host's mounts stay as they are)."""
    result = subprocess.run([sys.executable, "-I", "-S", str(WATCHDOG), "inspect"], capture_output=True,
                            text=True, timeout=START_TIMEOUT)
    if result.returncode:
        raise TracerUnavailable(result.stderr.strip() or "cannot inspect tracefs")
    data: dict[str, str | list[str]] = json.loads(result.stdout)
    return data
