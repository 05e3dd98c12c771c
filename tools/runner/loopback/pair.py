"""Both endpoints real: two kernel sockets on ``lo`` in a private namespace.

A ``LoopbackHarness`` is one namespace per process with only ``lo`` up,
the hold rule and the capture (``relay.LoWire``), sock_diag, and the run's
trace instance (``tracer.Tracer``). Its two addresses are chosen per run
in 127.0.0.0/8 and its ports from a per-run range; the trace instance's
name carries the address, so no two live runs share one and the kernel
and address filters keep every other socket of the host out of the trace.

A ``Pair`` is one scenario: A and B, each an application with at most one
listener and one connection (``local.LocalSide``), driven by socket calls
only. Every action (a call, or handing a held segment to its receiver) is
marked in the trace, then everything it caused is collected: the
tracepoint's state changes, the segments captured on ``lo``, and one
sock_diag lookup per side for what Linux does not trace
(``observe.Reconciler``). Nothing sleeps a fixed time: a wait is for a
state or a segment, with a bound.
"""

from __future__ import annotations

import random
import socket
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from tcpcheck.tools.runner import sockdiag
from tcpcheck.tools.runner.local import LocalSide
from tcpcheck.tools.runner.loopback.observe import Reconciler, SideView
from tcpcheck.tools.runner.loopback.observed import Classifier, Event, ObservedRun, Segment
from tcpcheck.tools.runner.loopback.relay import LoWire, Sent, nft_path
from tcpcheck.tools.runner.netns import NetNamespace, kernel_release
from tcpcheck.tools.runner.observe import tcp_info_state
from tcpcheck.tools.runner.packets import Captured, Packet
from tcpcheck.tools.runner.peer import DEFAULT_PAYLOAD
from tcpcheck.tools.runner.tracer import Tracer, TracerUnavailable
from tcpcheck.tools.runner.tracer import unavailable_reason as trace_unavailable

SIDES = ("A", "B")
PORT_SPAN = 8000
# Deliveries are processed before the write returns, so whatever a step
# waits for is normally there already; the bound only guards a broken run.
WAIT_BOUND = 0.25
POLL = 0.0005
MARKER = "tcpcheck"
SOCKET_BATCH = 32
LOOPBACK_SYSCTLS = {"net/ipv4/tcp_early_retrans": "0"}
LISTEN = 10  # the kernel's number


class LoopbackUnavailable(RuntimeError):
    """This process cannot run two endpoints on a private ``lo``."""


def unavailable_reason() -> str | None:
    """A one-line reason when the loopback runner cannot work here."""
    import os

    if os.geteuid() != 0:
        return "the loopback runner needs root (to create a network namespace)"
    if nft_path() is None:
        return "the loopback runner needs nft (Debian package nftables) to hold segments inside the namespace"
    return None


def other(side: str) -> str:
    """The peer of ``side``."""
    return "B" if side == "A" else "A"


def _address_pairs(rng: random.Random, count: int) -> list[tuple[str, str]]:
    # Anywhere in 127.0.0.0/8 but its first /16, which hosts and tests use.
    out = []
    for _ in range(count):
        a, b, c = rng.randrange(1, 255), rng.randrange(256), rng.randrange(1, 254, 2)
        out.append((f"127.{a}.{b}.{c}", f"127.{a}.{b}.{c + 1}"))
    return out


def tag_of(pair: tuple[str, str]) -> str:
    """The trace instance tag that claims an address pair."""
    return "lo_" + pair[0].replace(".", "_")


class LoopbackHarness:
    """One private namespace with ``lo``, the hold rule, sock_diag and the
    trace instance (``trace=False``: observe by sampling with sock_diag)."""

    def __init__(self, trace: bool = True) -> None:
        reason = unavailable_reason()
        if reason:
            raise LoopbackUnavailable(reason)
        rng = random.SystemRandom()
        candidates = _address_pairs(rng, 8)
        self.port_base = rng.randrange(10000, 60000 - PORT_SPAN, 2)
        self.tracer: Tracer | None = None
        self.observer_note = "sampling: tracing was not asked for" if not trace else ""
        self.addresses = candidates[0]
        if trace:
            reason = trace_unavailable()
            try:
                if reason:
                    raise TracerUnavailable(reason)
                self.tracer = Tracer((self.port_base, self.port_base + PORT_SPAN), (),
                                     tags=[tag_of(c) for c in candidates], clock="tai")
                self.addresses = candidates[[tag_of(c) for c in candidates].index(self.tracer.tag)]
                self.tracer.addresses = frozenset(self.addresses)
            except TracerUnavailable as exc:
                self.observer_note = f"sampling (sock_diag after every step): {exc}"
        # The trace clock is CLOCK_TAI, the capture's CLOCK_REALTIME: they
        # differ by the kernel's TAI offset, a whole number of seconds.
        skew = time.clock_gettime_ns(time.CLOCK_TAI) - time.time_ns()
        self.tai_offset = round(skew / 1e9) * 1_000_000_000
        try:
            self.ns = NetNamespace(tun=False)
            try:
                # A held segment must not be probed: tail loss probes would
                # retransmit it after 10 ms (the RTO, 200 ms or more, is far
                # beyond any hold of the generated scenarios).
                self.ns.base_sysctls.update(LOOPBACK_SYSCTLS)
                self.ns.set_sysctls(LOOPBACK_SYSCTLS)
                self.wire = LoWire(self.ns, self.addresses)
                self.diag = self.ns.call(sockdiag.open_sock_diag)
            except BaseException:
                self.ns.close()
                raise
        except BaseException:
            if self.tracer is not None:
                self.tracer.close()
            raise
        self._count = 0
        self._sockets: list[socket.socket] = []

    def socket(self) -> socket.socket:
        """A fresh TCP socket in the namespace. They are made in batches:
        each trip to the namespace thread is a context switch, which on a
        loaded machine costs more than a whole scenario."""
        if not self._sockets:
            self._sockets = self.ns.call(lambda: [socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                                                  for _ in range(SOCKET_BATCH)])
        return self._sockets.pop()

    @property
    def observer(self) -> str:
        """How states are observed: the trace instance, or sampling and why."""
        if self.tracer is not None:
            return f"tracepoint sock:inet_sock_set_state in trace instance {self.tracer.name}, and sock_diag"
        return self.observer_note

    def info(self) -> dict[str, object]:
        """What every result records about the system under test."""
        return {"kernel": kernel_release(), "sysctls": self.ns.sysctls(), "observer": self.observer,
                "addresses": list(self.addresses)}

    def pair(self, sysctls: dict[str, str] | None = None) -> Pair:
        """A fresh pair of endpoints on new ports."""
        self._count += 1
        offset = (2 * self._count) % PORT_SPAN
        return Pair(self, self.port_base + offset, self.port_base + offset + 1, sysctls or {})

    def close(self) -> None:
        """Release everything; the kernel removes the namespace, the
        watchdog the trace instance."""
        try:
            for sock in self._sockets:
                sock.close()
            self.diag.close()
            self.wire.close()
            self.ns.close()
        finally:
            if self.tracer is not None:
                self.tracer.close()

    def __enter__(self) -> LoopbackHarness:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class _Held:
    segment: Segment
    sent: Sent


class Pair:
    """One scenario's two endpoints (see the module docstring)."""

    def __init__(self, harness: LoopbackHarness, port_a: int, port_b: int, sysctls: dict[str, str]) -> None:
        self.harness = harness
        addr_a, addr_b = harness.addresses
        self.endpoints = {"A": (addr_a, port_a), "B": (addr_b, port_b)}
        self.local = {
            "A": LocalSide(harness.ns, port_a, port_b, addr_a, addr_b, harness.socket),
            "B": LocalSide(harness.ns, port_b, port_a, addr_b, addr_a, harness.socket),
        }
        self.views = {s: SideView(s, self.endpoints[s], self.endpoints[other(s)]) for s in SIDES}
        self.reconciler = Reconciler(self.views, tracing=harness.tracer is not None)
        self.classifier = Classifier()
        self.segments: list[Segment] = []
        self.events: list[Event] = []
        self.captures: list[Captured] = []
        self.held: dict[str, deque[_Held]] = {s: deque() for s in SIDES}
        self.holding = {s: False for s in SIDES}
        self.expected = {s: 0 for s in SIDES}  # modelled segments of each side matched by expectations
        self.recording = True
        self._actions = 0
        self.sysctls = {(k if k.startswith("net/") else "net/ipv4/" + k.replace(".", "/")): str(v)
                        for k, v in sysctls.items()}
        self._restore = harness.ns.set_sysctls(self.sysctls) if self.sysctls else {}
        if harness.tracer is not None:
            harness.tracer.read()  # whatever an earlier pair's teardown left

    # -- actions ------------------------------------------------------------------

    def call(self, side: str, op: str, arg: str = "") -> str:
        """A socket call of ``side`` (the scenario vocabulary); returns the
        errno name when the call reported one (the state judges it)."""
        local = self.local[side]

        def act() -> None:
            if op == "connect":
                local.connect()
            elif op == "send":
                local.send(arg.encode() if arg else DEFAULT_PAYLOAD)
            else:
                getattr(local, op)()

        self._act(Event(0, "call", side, op=op), act)
        error, local.last_error = local.last_error, ""
        return error

    def hold(self, side: str) -> None:
        """Keep ``side``'s segments from its peer until delivered."""
        self.holding[side] = True

    def release(self, side: str) -> None:
        """Deliver everything ``side`` holds; stop holding."""
        self.holding[side] = False
        self._flow()

    def deliver(self, side: str, wire: str = "", bound: float = WAIT_BOUND) -> Segment | None:
        """Hand ``side``'s held segments to the peer up to the first one the
        model names (``wire`` DATA: up to the first that carries data),
        waiting up to ``bound`` for one; return that one (None when none
        came). Its name is not checked here."""
        deadline = time.monotonic() + bound
        while True:
            while self.held[side]:
                item = self.held[side].popleft()
                self._deliver(item)
                if (item.segment.length > 0) if wire == "DATA" else bool(item.segment.wire):
                    return item.segment
            if time.monotonic() >= deadline:
                return None
            self._idle()

    # -- waits ------------------------------------------------------------------------

    def wait_state(self, side: str, state: str, bound: float = WAIT_BOUND) -> str:
        """Wait until ``side``'s endpoint is in ``state``; return the state it is in."""
        deadline = time.monotonic() + bound
        while self.views[side].state != state and time.monotonic() < deadline:
            self._idle()
        return self.views[side].state

    def wait_change(self, side: str, bound: float) -> str:
        """Wait until ``side``'s state changes (a timer); return the new one."""
        before = self.views[side].state
        deadline = time.monotonic() + bound
        while self.views[side].state == before and time.monotonic() < deadline:
            self._idle(0.01)
        return self.views[side].state

    def next_sent(self, side: str, wanted: Callable[[str], bool] | None = None,
                  bound: float = WAIT_BOUND) -> tuple[Segment | None, list[Segment]]:
        """The first segment ``side`` sent, since the last one an expectation
        took, that the model names and ``wanted`` accepts (waiting up to
        ``bound``), and the named ones passed over on the way."""
        deadline = time.monotonic() + bound
        while True:
            modelled = [s for s in self.segments if s.sender == side and s.wire]
            fresh = modelled[self.expected[side]:]
            for n, seg in enumerate(fresh):
                if wanted is None or wanted(seg.wire):
                    self.expected[side] += n + 1
                    return seg, fresh[:n]
            if time.monotonic() >= deadline:
                return None, fresh
            self._idle()

    def state(self, side: str) -> str:
        """``side``'s state as observed so far."""
        return self.views[side].state

    # -- the machinery ----------------------------------------------------------------

    def _act(self, event: Event, action: object) -> None:
        self._actions += 1
        number = self._actions
        tracer = self.harness.tracer
        if tracer is not None and self.recording:
            tracer.marker(f"{MARKER} {number}")
        ns = time.time_ns()
        try:
            action()  # type: ignore[operator]
        finally:
            if self.recording:
                self.events.append(Event(ns, event.kind, event.side, op=event.op, segment=event.segment,
                                         detail=f"#{number}"))
            self._collect()
            self._flow()

    def _deliver(self, item: _Held) -> None:
        receiver = other(item.segment.sender)
        self._act(Event(0, "deliver", receiver, segment=item.segment.index),
                  lambda: self.harness.wire.deliver(item.sent))

    def _flow(self) -> None:
        for side in SIDES:
            while self.held[side] and (not self.holding[side] or not self.recording):
                self._deliver(self.held[side].popleft())

    def _idle(self, timeout: float = POLL) -> None:
        self.harness.wire._poll.poll(max(1, int(timeout * 1000)))
        self._collect()
        self._flow()

    def _collect(self) -> None:
        """Everything the last action caused: trace, capture, sock_diag."""
        harness = self.harness
        trace = []
        if harness.tracer is not None:
            for e in harness.tracer.read():
                ns = e.ns - harness.tai_offset
                if e.is_marker:
                    self._stamp(e.text, ns)
                else:
                    trace.append((ns, e))
        mine = {self.endpoints["A"][1], self.endpoints["B"][1]}
        for sent in harness.wire.read():
            p = sent.packet
            if {p.sport, p.dport} != mine:
                harness.wire.deliver(sent)  # an earlier pair's leftover: not this scenario's business
                continue
            sender = "A" if (p.src, p.sport) == self.endpoints["A"] else "B"
            if not self.recording:
                self.held[sender].append(_Held(Segment(-1, sent.ns, sender, p.flags, p.seq, p.ack), sent))
                continue
            first = self._copy_of(sender, p)
            if first is not None:
                # A retransmission of a segment already held or delivered:
                # recorded, never delivered (the model has no loss, and the
                # original is on its way or has arrived).
                seg = Segment(len(self.segments), sent.ns, sender, p.flags, p.seq, p.ack, len(p.payload), "",
                              f"retransmission of segment #{first}: absorbed by the runner, not delivered")
                self.segments.append(seg)
                self.captures.append(Captured(sent.ns / 1e9, sent.raw, sender == "A", p))
                self.events.append(Event(sent.ns, "send", sender, segment=seg.index))
                continue
            wire, note = self.classifier.name(sender, p.flags, p.seq, p.ack, len(p.payload))
            seg = Segment(len(self.segments), sent.ns, sender, p.flags, p.seq, p.ack, len(p.payload), wire, note)
            self.segments.append(seg)
            self.captures.append(Captured(sent.ns / 1e9, sent.raw, sender == "A", p))
            self.events.append(Event(sent.ns, "send", sender, segment=seg.index))
            self.held[sender].append(_Held(seg, sent))
        if not self.recording:
            return
        conns = {side: sockdiag.lookup(harness.diag, 2, *view.local, *view.remote) for side, view in self.views.items()}
        listening = None
        if harness.tracer is None:
            listening = {side: local.listener is not None and local.listener.fileno() >= 0
                         and tcp_info_state(local.listener) == LISTEN for side, local in self.local.items()}
        self.events.extend(self.reconciler.step(trace, conns, listening, time.time_ns()))

    def _copy_of(self, sender: str, p: Packet) -> int | None:
        """The segment ``p`` retransmits (same sequence space, flags and
        data), if any; only segments that occupy sequence space count."""
        if p.seg_len == 0:
            return None
        for seg in self.segments:
            if (seg.sender, seg.seq, seg.flags, seg.length) == (sender, p.seq, p.flags, len(p.payload)) \
                    and not seg.note.startswith("retransmission"):
                return seg.index
        return None

    def _stamp(self, text: str, ns: int) -> None:
        # The marker's time is the action's time, on the trace's clock.
        if not text.startswith(MARKER + " "):
            return
        tag = "#" + text.split()[1]
        for n in range(len(self.events) - 1, -1, -1):
            e = self.events[n]
            if e.kind in ("call", "deliver") and e.detail == tag:
                self.events[n] = Event(ns, e.kind, e.side, op=e.op, segment=e.segment)
                return

    # -- the end ------------------------------------------------------------------------------

    def observed(self) -> ObservedRun:
        """The run as data, events in time order."""
        # The action numbers only paired actions with their markers.
        events = [Event(e.ns, e.kind, e.side, op=e.op, segment=e.segment) if e.kind in ("call", "deliver") else e
                  for e in self.events]
        order = sorted(range(len(events)), key=lambda n: (events[n].ns, n))
        notes = [n for view in self.views.values() for n in view.notes]
        if self.harness.tracer is not None and self.harness.tracer.lost:
            notes.append(f"the trace lost {self.harness.tracer.lost} events")
        return ObservedRun(dict(self.endpoints), list(self.segments), [events[n] for n in order],
                           "trace" if self.harness.tracer is not None else "sample", notes)

    def close(self) -> None:
        """Abort what is open, let every held segment through, restore the
        sysctls; TIME_WAIT sockets expire on their own (ports are not reused
        for a long time)."""
        self.recording = False
        try:
            for local in self.local.values():
                local.close_all()
            deadline = time.monotonic() + WAIT_BOUND
            self._collect()
            while any(self.held.values()) and time.monotonic() < deadline:
                self._flow()
                self._collect()
        finally:
            if self._restore:
                self.harness.ns.set_sysctls(self._restore)

    def __enter__(self) -> Pair:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
