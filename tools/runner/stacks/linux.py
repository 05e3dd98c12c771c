"""The Linux kernel's TCP as a stack under test: a TUN device inside a
private network namespace, ordinary socket calls on the local side, states
read with TCP_INFO and sock_diag.

Every state change is also traced (``runner.tracer``: the
``sock:inet_sock_set_state`` tracepoint in a trace instance of the stack's
own), so a step knows the exact path the kernel took, FIN_WAIT_1 included
when it lasted microseconds. Tracepoints are host-wide: a traced stack
numbers its TUN with an address pair of 198.18.0.0/15 of its own (never
198.18.0.0/24, which untraced runs use), claimed by the trace instance's
name, so no other socket of the host enters its trace. What Linux does not
trace (a passive open's request socket, the TIME_WAIT mini-socket) comes
from sock_diag, as in the loopback runner (``loopback.observe``). Without
tracefs the stack says so in one line (``observer``) and only samples.

Linux answers a TUN write before the write returns (``Wire.send``), so an
expected segment is already queued when the runner looks; a timer waits
for the state to change, polling the TUN between looks, with a bound.
"""

from __future__ import annotations

import random
import re
import socket
import time
from collections.abc import Mapping
from functools import cache
from typing import ClassVar

from tcpcheck.tools.runner import local as _local
from tcpcheck.tools.runner import sockdiag
from tcpcheck.tools.runner.loopback.observe import Reconciler, SideView
from tcpcheck.tools.runner.netns import LOCAL_ADDR, PEER_ADDR, NetNamespace, kernel_release, sysctl_exists
from tcpcheck.tools.runner.observe import SockDiag, diagnose
from tcpcheck.tools.runner.packets import Captured, Packet
from tcpcheck.tools.runner.peer import DEFAULT_PAYLOAD
from tcpcheck.tools.runner.stack import Change, Endpoint, FourTuple, Observation, Stack, StackInfo, TimerSetting
from tcpcheck.tools.runner.tracer import Tracer, TracerUnavailable
from tcpcheck.tools.runner.tracer import unavailable_reason as trace_unavailable
from tcpcheck.tools.runner.wire import Wire
from tcpcheck.tools.scenario import Scenario

SYN_TIMEOUT_MS = 100
# An orphan's FIN_WAIT_2 lasts max(tcp_fin_timeout, 3.5 RTO) (tcp_fin_time()).
# A scenario that sets tcp_fin_timeout=0 (the built-in one) leaves 3.5 RTO,
# whose floor is tcp_rto_min_us (200 ms by default: 0.7 s); where the kernel
# has that sysctl (Linux 6.11+) the floor is lowered for that scenario's
# sockets, and the orphan goes in tens of milliseconds. 20 ms stays far
# above a TUN round trip, so nothing is retransmitted before the peer's ACK
# even on a loaded machine. (The generated suites still set 1 s: their
# packetdrill scripts pin tcp_rto_min_us to 1 s, where 0 would mean 3.5 s.)
FAST_RTO_MIN_US = "20000"
_RTO_MIN = "net/ipv4/tcp_rto_min_us"
# How long the runner waits for each model timer to move the endpoint on:
# the SYN timeout and the orphan FIN_WAIT_2 timeout are shortened (socket
# options, sysctls); TIME_WAIT is Linux's fixed 60 s.
TIMER_BOUNDS = {"timeout_syn": 5.0, "timeout_fin_wait_2": 5.0, "timeout_2msl": 75.0}
_HOW = {
    "timeout_syn": f"TCP_SYNCNT=1 and TCP_USER_TIMEOUT={SYN_TIMEOUT_MS} ms on the connecting socket",
    "timeout_fin_wait_2": "sysctl tcp_fin_timeout (the scenario sets it; 0 means 3.5 RTO, with tcp_rto_min_us="
                          f"{FAST_RTO_MIN_US} where the kernel has it)",
    "timeout_2msl": "fixed 60 s (TCP_TIMEWAIT_LEN); waited out",
}
FIRST_PORT = 20000
_PORTS = 20000
PEER_FIRST_PORT = 40000
TRACE_CANDIDATES = 8


def traced_address_pairs(rng: random.Random, count: int) -> list[tuple[str, str]]:
    """Candidate (stack, peer) address pairs for a traced namespace: one /24
    of 198.18.0.0/15 each, never 198.18.0.0/24 (untraced runs use it)."""
    out = []
    for _ in range(count):
        second, third = rng.choice((18, 19)), rng.randrange(1, 256)
        host = rng.randrange(1, 253, 2)
        out.append((f"198.{second}.{third}.{host}", f"198.{second}.{third}.{host + 1}"))
    return out


def trace_tag(pair: tuple[str, str]) -> str:
    """The trace instance tag that claims a TUN address pair."""
    return "tun_" + pair[0].replace(".", "_")


def full_sysctl(key: str) -> str:
    """``tcp_rfc1337`` -> ``net/ipv4/tcp_rfc1337``."""
    return key if key.startswith("net/") else "net/ipv4/" + key.replace(".", "/")


class LinuxStack(Stack):
    """A private namespace with its TUN wire and socket observer."""

    name: ClassVar[str] = "linux"
    several_connections: ClassVar[bool] = True

    def __init__(self, trace: bool = True) -> None:
        self.tracer: Tracer | None = None
        self._observer = "sampled with TCP_INFO and sock_diag after every step (tracing was not asked for)"
        addresses = (LOCAL_ADDR, PEER_ADDR)
        if trace:
            addresses = self._start_tracer()
        try:
            self.ns = NetNamespace(addresses=addresses)
            try:
                self.wire = Wire(self.ns.tun_fd)
                self.diag = self.ns.call(SockDiag)
            except BaseException:
                self.ns.close()
                raise
        except BaseException:
            if self.tracer is not None:
                self.tracer.close()
            raise
        self._count = 0

    def _start_tracer(self) -> tuple[str, str]:
        candidates = traced_address_pairs(random.SystemRandom(), TRACE_CANDIDATES)
        tags = [trace_tag(c) for c in candidates]
        try:
            reason = trace_unavailable()
            if reason:
                raise TracerUnavailable(reason)
            self.tracer = Tracer((FIRST_PORT, PEER_FIRST_PORT + _PORTS), (), tags=tags, clock="mono")
        except TracerUnavailable as exc:
            self._observer = f"sampled with TCP_INFO and sock_diag after every step: {exc}"
            return LOCAL_ADDR, PEER_ADDR
        chosen = candidates[tags.index(self.tracer.tag)]
        self.tracer.addresses = frozenset(chosen)
        self._observer = (f"traced: tracepoint sock:inet_sock_set_state in trace instance {self.tracer.name}; "
                          "sock_diag for what Linux does not trace")
        return chosen

    @property
    def observer(self) -> str:
        """Traced (the instance's name), or sampled and why."""
        return self._observer

    @property
    def base_settings(self) -> dict[str, str]:
        """The sysctls pinned in every namespace."""
        return dict(self.ns.base_sysctls)

    def info(self, extra: Mapping[str, str] | None = None) -> StackInfo:
        """Kernel release and the sysctls in force (the pinned set plus
        ``extra`` keys)."""
        keys = sorted(set(self.ns.base_sysctls) | {full_sysctl(k) for k in (extra or {})})
        release = kernel_release()
        return StackInfo(release, self.ns.sysctls(keys), "linux", f"Linux {release}", self.observer)

    def timers(self) -> dict[str, TimerSetting]:
        """Each model timer's bound and how it is shortened."""
        return {t: TimerSetting(t, bound, _HOW[t]) for t, bound in TIMER_BOUNDS.items()}

    def needs_wait(self, scenario: Scenario) -> bool:
        """Marked slow, or waits for Linux's fixed 60 s TIME_WAIT."""
        return scenario.slow or super().needs_wait(scenario)

    def next_number(self) -> int:
        """A number not handed out before in this namespace (it picks fresh
        ports, so nothing an earlier scenario left, e.g. TIME_WAIT, is met)."""
        self._count += 1
        return self._count

    def can_set(self, name: str) -> bool:
        """Any per-namespace sysctl this kernel has."""
        return sysctl_exists(full_sysctl(name))

    def endpoint(self, settings: Mapping[str, str] | None = None) -> LinuxEndpoint:
        """A fresh flow on new ports, with ``settings`` (sysctls) set for its duration."""
        n = self.next_number() % _PORTS
        return LinuxEndpoint(self, FIRST_PORT + n, PEER_FIRST_PORT + n, dict(settings or {}))

    def close(self) -> None:
        """Release everything; the kernel removes the namespace, the
        watchdog the trace instance."""
        try:
            self.diag.close()
            self.ns.close()
        finally:
            if self.tracer is not None:
                self.tracer.close()


# The model's timers (specs/timed.toml) as sock_diag names the kernel's.
KERNEL_TIMERS = {"time_wait": "timewait"}
CLOCK_MONOTONIC_COARSE = 6  # linux/time.h (the time module does not name it)
# A reading this soon after a jiffy boundary (CLOCK_MONOTONIC) is not used:
# the tick's interrupt that advances jiffies may not have been handled yet.
TICK_GUARD_NS = 500_000
# The most a reading waits for the kernel's clock to be readable exactly: a
# jiffies update stalled behind a preempted CPU is forced after 5 ticks
# (MAX_STALLED_JIFFIES; measured here: up to 6 ticks).
EXACT_READ_BOUND = 0.25


def jiffy_at(c1: int, m1: int, m2: int, c2: int, tick_ns: int) -> int | None:
    """The kernel's jiffies counter (up to a constant) while a read ran
    between (c1, m1) and (m2, c2), CLOCK_MONOTONIC_COARSE and CLOCK_MONOTONIC
    in ns read just before and just after it; None when these readings
    cannot say it.

    Jiffies advance when CLOCK_MONOTONIC passes a multiple of the tick
    (tick_next_period is aligned so), and the coarse clock moves in the
    same update, to the last boundary of its own accumulation (at a fixed
    phase within the tick, not always 0: 0.84 ms here). An update can come
    late (the tick's interrupt; a jiffies update stalled behind a preempted
    CPU) or mid-tick (a CPU leaving idle catches up). So the reading is
    used only when the coarse clock did not move during it (no update),
    the fine clock stayed within one tick past the guard, and the coarse
    clock is at most one tick behind (two behind: an update is pending).
    Then jiffies = floor(m1 / tick), except in one case it cannot tell
    apart: a catch-up in the tick before and this tick's update pending
    (jiffies one less). Measured against a TIME_WAIT timer's fixed expiry
    (bench/jiffies_bench.py): no other error; the runner's timer check
    allows for this one (execute.TimerBefore). Kernels before 6.4 did not
    align the tick: ``ticks_aligned`` says whether this one does."""
    k = m1 // tick_ns
    if c1 != c2 or m2 // tick_ns != k or m1 - k * tick_ns < TICK_GUARD_NS:
        return None
    return k if 0 <= k - c1 // tick_ns <= 1 else None


# The first release whose jiffies advance at multiples of the tick on
# CLOCK_MONOTONIC: "tick/common: Align tick period with the HZ tick"
# (tick_init_jiffy_update rounds tick_next_period up to TICK_NSEC).
TICKS_ALIGNED_SINCE = (6, 4)


@cache
def ticks_aligned(release: str = "") -> bool:
    """Whether this kernel (``release``, default the running one) aligns
    jiffies to the tick on CLOCK_MONOTONIC, as ``jiffy_at`` assumes; when
    it does not (or its release does not say), the runner judges a timer
    by its own movement. bench/jiffies_bench.py checks jiffy_at on the
    kernel at hand. (Watching the coarse clock for where jiffies move
    would tell too, but costs ticks of spinning, under load 10 ms or more.)"""
    found = re.match(r"(\d+)\.(\d+)", release or kernel_release())
    return found is not None and (int(found[1]), int(found[2])) >= TICKS_ALIGNED_SINCE


class LinuxEndpoint(Endpoint):
    """One flow: the application's sockets, the TUN wire, the observer."""

    def __init__(self, stack: LinuxStack, lport: int, rport: int, sysctls: dict[str, str]) -> None:
        self.stack = stack
        self.flow = FourTuple(stack.ns.local_addr, lport, stack.ns.peer_addr, rport)
        self.local = _local.LocalSide(stack.ns, lport, rport, stack.ns.local_addr, stack.ns.peer_addr)
        self._changes: list[Change] = []
        self._reconciler: Reconciler | None = None
        if stack.tracer is not None:
            stack.tracer.read()  # what earlier endpoints' teardowns left: not this one's
            view = SideView("stack", (self.flow.local, lport), (self.flow.remote, rport))
            self._reconciler = Reconciler({"stack": view}, tracing=True)
        self.settings = {full_sysctl(k): str(v) for k, v in sysctls.items()}
        self._restore = stack.ns.set_sysctls(self.settings) if self.settings else {}
        self.packets: list[Captured] = stack.wire.open_flow((lport, rport))
        self._synchronized = False
        self.syn_timeout_ms = 0

    @property
    def last_error(self) -> str:  # type: ignore[override]
        """errno text of the last call that failed at the API."""
        return self.local.last_error

    @last_error.setter
    def last_error(self, value: str) -> None:
        self.local.last_error = value

    @property
    def received(self) -> bytes:  # type: ignore[override]
        """What recv() returned so far."""
        return self.local.received

    def call(self, op: str, arg: str = "") -> None:
        """A socket call by name."""
        if op == "connect":
            self.local.connect(self.syn_timeout_ms)
        elif op == "send":
            self.local.send(arg.encode() if arg else DEFAULT_PAYLOAD)
        else:
            getattr(self.local, op)()

    def told(self, call: str) -> str | None:
        """What ``call`` tells the application on the connection's descriptor."""
        return self.local.told(call)

    def timer_left(self, timer: str) -> int | None:
        """The timer's remaining time as sock_diag reports it (idiag_expires),
        when the socket holding the 4-tuple runs that kind of timer."""
        kind = KERNEL_TIMERS.get(timer)
        f = self.flow
        found = sockdiag.lookup(self.stack.diag.nl, socket.AF_INET, f.local, f.lport, f.remote, f.rport)
        if kind is None or found is None or sockdiag.TIMERS.get(found.timer) != kind:
            return None
        return int(found.expires_ms)

    def timer_reading(self, timer: str) -> tuple[int, int | None] | None:
        """The timer's remaining time and the kernel's jiffies at that read
        (``jiffy_at``); the read is repeated, bounded, until jiffies can be
        told (None for them past EXACT_READ_BOUND, or when this kernel does
        not align its tick: ``ticks_aligned``)."""
        tick_ns = round(time.clock_getres(CLOCK_MONOTONIC_COARSE) * 1e9)
        deadline = time.monotonic() + EXACT_READ_BOUND
        while True:
            c1, m1 = time.clock_gettime_ns(CLOCK_MONOTONIC_COARSE), time.monotonic_ns()
            left = self.timer_left(timer)
            m2, c2 = time.monotonic_ns(), time.clock_gettime_ns(CLOCK_MONOTONIC_COARSE)
            if left is None:
                return None
            if not ticks_aligned():
                return left, None
            jiffy = jiffy_at(c1, m1, m2, c2, tick_ns)
            if jiffy is not None or time.monotonic() > deadline:
                return left, jiffy

    def timer_tick_ms(self) -> float:
        """A jiffy: timer expiries are whole jiffies, and CLOCK_MONOTONIC_COARSE
        advances once per jiffy, so its resolution is one (TICK_NSEC)."""
        return time.clock_getres(CLOCK_MONOTONIC_COARSE) * 1000

    def deliver(self, packet: Packet) -> None:
        """Write the packet into the TUN (Linux answers before this returns)."""
        self.stack.wire.send(packet)

    def receive(self, timeout: float) -> Packet | None:
        """The next packet of this flow from the TUN."""
        item = self.stack.wire.receive((self.flow.lport, self.flow.rport), timeout)
        return item.packet if item is not None else None

    def changes(self) -> list[Change]:
        """The traced state changes up to the last ``observe`` (empty when
        not traced); the runner observes after every step, so following the
        trace again here would only cost a second lookup."""
        return list(self._changes)

    def notes(self) -> list[str]:
        """Where the trace and sock_diag disagreed (empty when they agree)."""
        return list(self._reconciler.views["stack"].notes) if self._reconciler is not None else []

    def _follow_trace(self) -> None:
        tracer = self.stack.tracer
        if tracer is None or self._reconciler is None:
            return
        trace = [(e.ns, e) for e in tracer.read() if not e.is_marker]
        f = self.flow
        conn = sockdiag.lookup(self.stack.diag.nl, socket.AF_INET, f.local, f.lport, f.remote, f.rport)
        for e in self._reconciler.step(trace, {"stack": conn}, None, time.monotonic_ns()):
            self._changes.append(Change(e.old, e.new, e.source, e.detail))

    def observe(self) -> Observation:
        """TCP_INFO on a descriptor, else sock_diag by 4-tuple."""
        self._follow_trace()
        seen = diagnose(self.stack.diag, self.flow, self.local.conn, self.local.listener, self._synchronized)
        if seen.state not in ("CLOSED", "LISTEN", "SYN_SENT", "SYN_RCVD"):
            self._synchronized = True
        return seen

    def prepare_timer(self, timer: str) -> None:
        """The SYN timeout is a socket option, set when connecting; the
        orphan FIN_WAIT_2 timeout, under tcp_fin_timeout=0, gets a lower RTO
        floor (see ``FAST_RTO_MIN_US``) unless the scenario sets one itself. Called
        before the first socket call: the floor is read when a socket is made."""
        if timer == "timeout_syn":
            self.syn_timeout_ms = SYN_TIMEOUT_MS
        elif timer == "timeout_fin_wait_2" and self.settings.get("net/ipv4/tcp_fin_timeout") == "0" \
                and _RTO_MIN not in self.settings and sysctl_exists(_RTO_MIN):
            old = self.stack.ns.set_sysctls({_RTO_MIN: FAST_RTO_MIN_US})
            self._restore = {**old, **self._restore}  # what was in force before the scenario wins
            self.settings[_RTO_MIN] = FAST_RTO_MIN_US  # reported with the scenario's own settings

    def elapse(self, timer: str) -> Observation:
        """Wait (bounded) until the endpoint leaves its state: between looks
        the wait is a poll on the TUN, so packets wake it early."""
        return self.wait_for_change(self.observe().state, TIMER_BOUNDS[timer])

    def wait_for_change(self, state: str, bound: float) -> Observation:
        """The observation once the state is no longer ``state``, or after ``bound`` s."""
        deadline = time.monotonic() + bound
        key = (self.flow.lport, self.flow.rport)
        seen = self.observe()
        while seen.state == state and time.monotonic() < deadline:
            self.stack.wire.receive(key, min(0.01, max(0.0, deadline - time.monotonic())))
            seen = self.observe()
        return seen

    def close(self, reset: Packet | None = None) -> None:
        """Abort what is open, send the peer's ``reset`` to an orphan still
        retransmitting, restore the sysctls; TIME_WAIT sockets are left to
        expire (distinct ports)."""
        try:
            self.local.close_all()
            state = self.stack.diag.lookup(self.flow)
            if reset is not None and state is not None and state not in (6, 7, 10):  # TIME_WAIT, CLOSE, LISTEN
                self.stack.wire.send(reset)
        finally:
            if self._restore:
                self.stack.ns.set_sysctls(self._restore)
            self.stack.wire.close_flow((self.flow.lport, self.flow.rport))
