"""Scenarios with several connections (issue 15, item 5): the piles every
TCP troubleshooting article is about, played on the real kernel.

A ``Crowd`` holds one scenario's named connections on a Linux stack's
private namespace: listeners, connections the peer opens (each its own
``PeerFlow`` on its own peer port), connections the application opens.
Their states are observed all at once: one sock_diag dump of the
namespace (the netlink socket answers only for the namespace it was made
in), each socket named by its 4-tuple, request sockets included, and each
listener's accept queue (inet_diag's rqueue: connections waiting for
accept(); wqueue: the backlog). Nothing sleeps: an expected segment is a
bounded wait on the TUN, an absent one the stack's quiet window (Linux
answers a TUN write before the write returns).

Sysctls a scenario needs (tcp_syncookies, ip_local_port_range) are
written inside the namespace only, and put back when it ends.

The scenarios (``CROWD``): the SYN flood with and without SYN cookies, the
CLOSE_WAIT pile behind an application that never closes, TIME_WAIT reused
by a new SYN, ephemeral ports running out behind TIME_WAIT.
"""

from __future__ import annotations

import errno
import socket
import struct
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from tcpcheck.tools.runner import sockdiag
from tcpcheck.tools.runner.execute import ScenarioResult, StepResult
from tcpcheck.tools.runner.judge import match_segment
from tcpcheck.tools.runner.packets import Captured
from tcpcheck.tools.runner.peer import PeerFlow, SegmentError
from tcpcheck.tools.runner.stack import FourTuple
from tcpcheck.tools.runner.stacks.linux import LinuxStack, full_sysctl

# Ports of their own, away from the single-connection scenarios' (stack
# 20000-39999, peer 40000-59999): a scenario takes slot k of SLOTS, its
# listener port 15000 + k, its peers' ports 30000 + 16 k + i, and the peer
# port it connects to 38000 + k, so repeats in one namespace never meet an
# earlier run's TIME_WAIT.
SLOTS = 500
PEERS = 16  # peer connections per scenario at most
CROWD_FIRST_PORT = 15000
CROWD_PEER_PORT = 30000
CROWD_TARGET_PORT = 38000
EPHEMERAL_RANGE = (61000, 61003)  # four local ports: one per TIME_WAIT, then none


class _Stop(Exception):
    """A check failed: the scenario ends there."""


@dataclass
class Conn:
    """One named connection: the peer's view and, once it has one, the application's descriptor."""

    name: str
    lport: int
    rport: int
    peer: PeerFlow
    sock: socket.socket | None = None
    packets: list[Captured] = field(default_factory=list)


@dataclass(frozen=True)
class Snapshot:
    """Every TCP socket of the namespace at one instant, by name."""

    states: dict[str, str]  # connection name -> RFC state ("CLOSED": no socket holds its 4-tuple)
    queues: dict[str, tuple[int, int]]  # listener name -> (waiting for accept, backlog)
    kernel: dict[str, str]  # name -> the kernel's own state name
    descriptors: dict[str, bool]  # name -> a descriptor refers to it (inode != 0)

    def count(self, state: str, names: list[str]) -> int:
        """How many of ``names`` are in ``state``."""
        return sum(self.states[n] == state for n in names)

    def text(self, names: list[str] | None = None) -> str:
        """``a1..a4: SYN_RCVD; a5: CLOSED; listener: LISTEN (accept queue 0/4)``."""
        by_state: dict[str, list[str]] = {}
        for n in names if names is not None else list(self.states):
            by_state.setdefault(self.states[n], []).append(n)
        parts = [f"{', '.join(ns)}: {st}" for st, ns in by_state.items()]
        parts += [f"{n} accept queue {q}/{b}" for n, (q, b) in self.queues.items()]
        return "; ".join(parts)


class Crowd:
    """One multi-connection scenario on ``stack``'s namespace."""

    def __init__(self, stack: LinuxStack, name: str, sysctls: dict[str, str] | None = None) -> None:
        self.stack = stack
        self.name = name
        self.ns = stack.ns
        self.local = stack.ns.local_addr
        self.remote = stack.ns.peer_addr
        self.conns: dict[str, Conn] = {}
        self.listeners: dict[str, tuple[socket.socket, int]] = {}
        self.steps: list[StepResult] = []
        self.sysctls = {full_sysctl(k): v for k, v in (sysctls or {}).items()}
        self._restore = self.ns.set_sysctls(self.sysctls) if self.sysctls else {}
        self.slot = stack.next_number() % SLOTS

    # -- recording -------------------------------------------------------------------

    def _record(self, text: str, ok: bool, expected: str = "", observed: str = "", note: str = "",
                t0: float = 0.0, seen: Snapshot | None = None) -> None:
        # A dump walks the kernel's whole TCP hash (about 10 ms): taken for
        # the state checks, and after a failure to show where things stand.
        if seen is None and not ok:
            seen = self.snapshot()
        self.steps.append(StepResult(len(self.steps) + 1, text, "pass" if ok else "fail",
                                     seen.text() if seen is not None else "",
                                     "" if ok else expected, "" if ok else observed, note,
                                     time.perf_counter() - t0 if t0 else 0.0))
        if not ok:
            raise _Stop(text)

    # -- the application ------------------------------------------------------------------

    def _socket(self) -> socket.socket:
        sock = self.ns.call(socket.socket, socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        return sock

    def listen(self, name: str, backlog: int) -> int:
        """A listener called ``name`` with ``backlog``; its port."""
        port = CROWD_FIRST_PORT + self.slot
        sock = self._socket()
        sock.bind((self.local, port))
        sock.listen(backlog)
        self.listeners[name] = (sock, port)
        self._record(f"{name}: call listen (backlog {backlog})", True)
        return port

    def accept(self, listener: str, names: list[str]) -> None:
        """The application accepts one connection per name, in queue order."""
        sock, _ = self.listeners[listener]
        by_port = {c.rport: c for c in self.conns.values()}
        taken = []
        for _ in names:
            try:
                conn, (_, rport) = sock.accept()
            except BlockingIOError:
                break
            conn.setblocking(False)
            by_port[rport].sock = conn
            taken.append(by_port[rport].name)
        self._record(f"{listener}: call accept x{len(names)}", sorted(taken) == sorted(names),
                     f"accepted {', '.join(names)}", f"accepted {', '.join(taken) or 'nothing'}")

    def connect(self, name: str, rport: int) -> str:
        """The application connects (an ephemeral local port); what connect() says."""
        sock = self._socket()
        err = sock.connect_ex((self.remote, rport))
        if err != errno.EINPROGRESS:
            sock.close()
            return errno.errorcode.get(err, str(err))
        lport = sock.getsockname()[1]
        conn = self._open(name, lport, rport)
        conn.sock = sock
        return "EINPROGRESS"

    def close(self, names: list[str]) -> None:
        """close() on each connection's descriptor."""
        for n in names:
            sock = self.conns[n].sock
            if sock is not None:
                sock.close()
                self.conns[n].sock = None
        self._record(f"{_names(names)}: call close", True)

    # -- the peer ----------------------------------------------------------------------------

    def _open(self, name: str, lport: int, rport: int) -> Conn:
        flow = FourTuple(self.local, lport, self.remote, rport)
        peer = PeerFlow(flow.local, lport, flow.remote, rport, 1_000_000 * (1 + rport % 3000))
        conn = Conn(name, lport, rport, peer, packets=self.stack.wire.open_flow((lport, rport)))
        self.conns[name] = conn
        return conn

    def peers(self, prefix: str, count: int, lport: int) -> list[str]:
        """``count`` peer connections to ``lport``, named prefix1..prefixN."""
        if count > PEERS:
            raise ValueError(f"at most {PEERS} peer connections per scenario")
        names = [f"{prefix}{i}" for i in range(1, count + 1)]
        for i, n in enumerate(names):
            self._open(n, lport, CROWD_PEER_PORT + self.slot * PEERS + i)
        return names

    def inject(self, names: list[str], segment: str, expect: str) -> None:
        """Each peer sends ``segment``; each must get ``expect`` back (NONE: nothing)."""
        t0 = time.perf_counter()
        wrong = []
        for n in names:
            conn = self.conns[n]
            self.stack.wire.send(conn.peer.build(segment))
            wrong += self._expect(conn, expect)
        self._record(f"{_names(names)}: inject {segment}, expect {expect}", not wrong, expect, "; ".join(wrong),
                     t0=t0)

    def expect(self, names: list[str], segment: str) -> None:
        """Each connection must send ``segment`` (NONE: nothing)."""
        t0 = time.perf_counter()
        wrong = [w for n in names for w in self._expect(self.conns[n], segment)]
        self._record(f"{_names(names)}: expect {segment}", not wrong, segment, "; ".join(wrong), t0=t0)

    def _expect(self, conn: Conn, segment: str) -> list[str]:
        bound = self.stack.quiet_window if segment == "NONE" else self.stack.expect_bound
        item = self.stack.wire.receive((conn.lport, conn.rport), bound)
        packet = item.packet if item is not None else None
        match = match_segment(segment, packet, conn.peer)
        if packet is not None:
            conn.peer.absorb(packet)
        return [] if match.ok else [f"{conn.name}: {match.observed} ({match.detail})"]

    # -- observation ------------------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        """One sock_diag dump of the namespace, every socket named."""
        found = sockdiag.dump(self.stack.diag.nl, (socket.AF_INET,), info=False)
        by_tuple = {(d.sport, d.dport): d for d in found if d.src == self.local}
        states, kernel, fds = {}, {}, {}
        for n, c in self.conns.items():
            d = by_tuple.get((c.lport, c.rport))
            states[n] = d.rfc_state if d is not None else "CLOSED"
            kernel[n] = d.kernel_state if d is not None else "none"
            fds[n] = d is not None and d.inode != 0
        queues = {}
        for n, (_, port) in self.listeners.items():
            d = by_tuple.get((port, 0))
            states[n], kernel[n] = (d.rfc_state, d.kernel_state) if d is not None else ("CLOSED", "none")
            fds[n] = d is not None and d.inode != 0
            if d is not None:
                queues[n] = (d.rqueue, d.wqueue)
        return Snapshot(states, queues, kernel, fds)

    def states(self, expected: dict[str, str], queue: tuple[str, int] | None = None, note: str = "") -> Snapshot:
        """All at once: every named connection in its expected state (and a
        listener's accept queue holding ``queue[1]`` connections)."""
        seen = self.snapshot()
        wrong = [f"{n}: {seen.states[n]}" for n, st in expected.items() if seen.states[n] != st]
        want = [f"{n}: {st}" for n, st in expected.items() if seen.states[n] != st]
        if queue is not None:
            got = seen.queues.get(queue[0], (-1, -1))[0]
            if got != queue[1]:
                wrong.append(f"{queue[0]} accept queue {got}")
                want.append(f"{queue[0]} accept queue {queue[1]}")
        text = "expect_states " + _summary(expected) + (f"; {queue[0]} accept queue {queue[1]}" if queue else "")
        self._record(text, not wrong, "; ".join(want), "; ".join(wrong), note, seen=seen)
        return seen

    def check(self, text: str, ok: bool, expected: str, observed: str, note: str = "") -> None:
        """A check of the scenario's own (e.g. what connect() said)."""
        self._record(text, ok, expected, observed, note)

    # -- teardown ---------------------------------------------------------------------------------------

    def finish(self) -> None:
        """Abort every descriptor, reset what the peer still has open, stop
        capturing, put the sysctls back."""
        try:
            for conn in self.conns.values():
                if conn.sock is not None:
                    _abort(conn.sock)
                    conn.sock = None
            for sock, _ in self.listeners.values():
                _abort(sock)
            for conn in self.conns.values():
                state = sockdiag.lookup(self.stack.diag.nl, socket.AF_INET, self.local, conn.lport, self.remote,
                                        conn.rport)
                if state is not None and state.state not in (6, 7, 10):  # TIME_WAIT, CLOSE, LISTEN
                    self.stack.wire.send(conn.peer.build("RST"))
        finally:
            if self._restore:
                self.ns.set_sysctls(self._restore)
            for conn in self.conns.values():
                self.stack.wire.close_flow((conn.lport, conn.rport))


def _abort(sock: socket.socket) -> None:
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


def _names(names: list[str]) -> str:
    """``a1..a8`` for a run of numbered names, else a comma list."""
    prefix = names[0].rstrip("0123456789") if names else ""
    numbers = [n[len(prefix):] for n in names]
    if len(names) > 2 and all(n.startswith(prefix) and x.isdigit() for n, x in zip(names, numbers, strict=True)) \
            and [int(x) for x in numbers] == list(range(int(numbers[0]), int(numbers[0]) + len(names))):
        return f"{names[0]}..{names[-1]}"
    return ", ".join(names)


def _summary(expected: dict[str, str]) -> str:
    by_state: dict[str, list[str]] = {}
    for n, st in expected.items():
        by_state.setdefault(st, []).append(n)
    return "; ".join(f"{_names(ns)} {st}" for st, ns in by_state.items())


# -- the scenarios --------------------------------------------------------------------------------------

BACKLOG = 4
FLOOD = 8  # SYNs: twice the backlog
# The SYN queue is full once it holds more than the backlog
# (inet_csk_reqsk_queue_is_full(): qlen > sk_max_ack_backlog): backlog + 1 request sockets.
SYN_QUEUE = BACKLOG + 1


def syn_flood(crowd: Crowd, cookies: str) -> None:
    """A SYN flood on a listener with backlog 4: eight SYNs that never
    complete. Without SYN cookies (tcp_syncookies=0) the listener keeps a
    request socket (SYN_RCVD) per SYN until its SYN queue is full (five:
    ``SYN_QUEUE``), and
    drops the rest unanswered; with cookies on overflow (1, Linux's default)
    the same queue fills, and the SYNs beyond it still get a SYN,ACK,
    carrying a cookie and leaving no state; with cookies always (2) no
    request socket is made at all. A cookie's ACK then opens a connection
    into the accept queue."""
    port = crowd.listen("listener", BACKLOG)
    names = crowd.peers("a", FLOOD, port)
    answered: list[str] = []
    for n in names:
        conn = crowd.conns[n]
        crowd.stack.wire.send(conn.peer.build("SYN"))
        # Linux answers before the write returns: what has not come in the quiet window is not coming.
        item = crowd.stack.wire.receive((conn.lport, conn.rport), crowd.stack.quiet_window)
        if item is not None and item.packet is not None:
            if not match_segment("SYN_ACK", item.packet, conn.peer).ok:
                crowd.check(f"{n}: inject SYN", False, "SYN_ACK or nothing", item.packet.summary())
            conn.peer.absorb(item.packet)
            answered.append(n)
    seen = crowd.snapshot()
    held = [n for n in names if seen.states[n] == "SYN_RCVD"]
    want_held = {"0": names[:SYN_QUEUE], "1": names[:SYN_QUEUE], "2": []}[cookies]
    want_answered = names[:SYN_QUEUE] if cookies == "0" else names
    crowd.check(f"{_names(names)}: inject SYN (tcp_syncookies={cookies})", answered == want_answered,
                f"SYN_ACK to {_names(want_answered)}", f"SYN_ACK to {_names(answered) if answered else 'none'}",
                "Linux tcp_conn_request(): a full SYN queue (inet_csk_reqsk_queue_is_full) drops the SYN, or "
                "answers it with a cookie (cookie_v4_init_sequence) when tcp_syncookies allows")
    crowd.states({n: ("SYN_RCVD" if n in want_held else "CLOSED") for n in names}, ("listener", 0),
                 note=f"{len(held)} request sockets (sock_diag: {seen.kernel[held[0]] if held else 'none'})")
    if cookies != "0":
        # The last SYN was answered with a cookie: its ACK opens a connection with no request socket behind it.
        last = names[-1]
        crowd.inject([last], "ACK", "NONE")
        crowd.states({last: "ESTABLISHED", **{n: "SYN_RCVD" for n in want_held}}, ("listener", 1),
                     note="the cookie's ACK: the connection goes straight into the accept queue")
        crowd.accept("listener", [last])
        crowd.states({last: "ESTABLISHED"}, ("listener", 0))


def close_wait_pile(crowd: Crowd) -> None:
    """Five connections accepted by an application that never closes them:
    each peer closes, every socket stays in CLOSE_WAIT with its descriptor
    held (the signature of the leak); the application's close() moves the
    whole pile to LAST_ACK and the peers' ACKs end it."""
    port = crowd.listen("listener", 8)
    names = crowd.peers("c", 5, port)
    crowd.inject(names, "SYN", "SYN_ACK")
    crowd.inject(names, "ACK", "NONE")
    crowd.states(dict.fromkeys(names, "ESTABLISHED"), ("listener", len(names)))
    crowd.accept("listener", names)
    crowd.inject(names, "FIN", "ACK")
    seen = crowd.states(dict.fromkeys(names, "CLOSE_WAIT"), ("listener", 0))
    crowd.check(f"{_names(names)}: descriptors held", all(seen.descriptors[n] for n in names),
                "every CLOSE_WAIT socket has a descriptor (inode)",
                ", ".join(n for n in names if not seen.descriptors[n]) + " without one")
    crowd.close(names)
    crowd.expect(names, "FIN")
    crowd.states(dict.fromkeys(names, "LAST_ACK"))
    crowd.inject(names, "ACK_OF_FIN", "NONE")
    crowd.states(dict.fromkeys(names, "CLOSED"))


def time_wait_reuse(crowd: Crowd) -> None:
    """Two connections the stack closes first, both in TIME_WAIT; the peer
    of one reopens the same 4-tuple with a SYN above the old sequence space
    (RFC 6191): that TIME_WAIT gives way to a new connection, the other
    stays."""
    port = crowd.listen("listener", 8)
    names = crowd.peers("t", 2, port)
    crowd.inject(names, "SYN", "SYN_ACK")
    crowd.inject(names, "ACK", "NONE")
    crowd.accept("listener", names)
    crowd.close(names)
    crowd.expect(names, "FIN")
    crowd.inject(names, "FIN_ACK_OF_FIN", "ACK")
    crowd.states(dict.fromkeys(names, "TIME_WAIT"))
    crowd.inject([names[0]], "SYN", "SYN_ACK")
    crowd.states({names[0]: "SYN_RCVD", names[1]: "TIME_WAIT"}, note="the reopened 4-tuple is a request socket")
    crowd.inject([names[0]], "ACK", "NONE")
    crowd.states({names[0]: "ESTABLISHED", names[1]: "TIME_WAIT"}, ("listener", 1))


def port_exhaustion(crowd: Crowd) -> None:
    """ip_local_port_range narrowed to four ports inside the namespace: the
    application opens and closes four connections to the same peer port,
    each ending in TIME_WAIT on its own ephemeral port; a fifth connect()
    finds no port free (EADDRNOTAVAIL), since without timestamps a
    TIME_WAIT 4-tuple is never reused for an outgoing connection."""
    low, high = EPHEMERAL_RANGE
    rport = CROWD_TARGET_PORT + crowd.slot
    names = [f"e{i}" for i in range(1, high - low + 2)]
    for n in names:
        said = crowd.connect(n, rport)
        crowd.check(f"{n}: call connect", said == "EINPROGRESS", "EINPROGRESS", said)
        crowd.expect([n], "SYN")
        crowd.inject([n], "SYN_ACK", "ACK")
        crowd.close([n])
        crowd.expect([n], "FIN")
        crowd.inject([n], "FIN_ACK_OF_FIN", "ACK")
    seen = crowd.states(dict.fromkeys(names, "TIME_WAIT"))
    ports = sorted(crowd.conns[n].lport for n in names)
    crowd.check(f"{_names(names)}: ephemeral ports", ports == list(range(low, high + 1)),
                f"every port of {low}-{high} once", ", ".join(map(str, ports)), seen.text())
    said = crowd.connect("e_next", rport)
    crowd.check("e_next: call connect", said == "EADDRNOTAVAIL", "EADDRNOTAVAIL", said,
                "Linux __inet_hash_connect(): every port of the range holds this 4-tuple in TIME_WAIT "
                "(tcp_twsk_unique() reuses one only with timestamps and tcp_tw_reuse)")


@dataclass(frozen=True)
class CrowdScenario:
    """A named multi-connection scenario and the sysctls it sets in the namespace."""

    name: str
    play: Callable[[Crowd], None]
    sysctls: dict[str, str]
    description: str


CROWD: tuple[CrowdScenario, ...] = (
    CrowdScenario("syn_flood_no_cookies", lambda c: syn_flood(c, "0"),
                  {"tcp_syncookies": "0", "tcp_max_syn_backlog": "128"},
                  "eight SYNs on a backlog of 4, tcp_syncookies=0: five request sockets, three SYNs dropped"),
    CrowdScenario("syn_flood_cookies", lambda c: syn_flood(c, "1"),
                  {"tcp_syncookies": "1", "tcp_max_syn_backlog": "128"},
                  "the same flood with cookies on overflow: five request sockets, every SYN answered"),
    CrowdScenario("syn_flood_cookies_always", lambda c: syn_flood(c, "2"),
                  {"tcp_syncookies": "2", "tcp_max_syn_backlog": "128"},
                  "cookies always: no request socket at all"),
    CrowdScenario("close_wait_pile", close_wait_pile, {}, "five CLOSE_WAIT sockets behind an application"),
    CrowdScenario("time_wait_reuse", time_wait_reuse, {}, "a SYN reopens one of two TIME_WAIT 4-tuples"),
    CrowdScenario("ephemeral_ports_exhausted", port_exhaustion,
                  {"ip_local_port_range": f"{EPHEMERAL_RANGE[0]} {EPHEMERAL_RANGE[1]}"},
                  "four ephemeral ports, all in TIME_WAIT: connect() says EADDRNOTAVAIL"),
)


def run_crowd(stack: LinuxStack, scenario: CrowdScenario) -> ScenarioResult:
    """Play ``scenario`` on ``stack``: pass when every check holds, else
    fail at the first that does not (the rest is not run)."""
    start = time.perf_counter()
    crowd = Crowd(stack, scenario.name, scenario.sysctls)
    note = ""
    try:
        scenario.play(crowd)
    except _Stop as stop:
        note = f"stopped at: {stop}"
    except (OSError, SegmentError) as exc:  # e.g. bind: address in use; the step could not be made
        crowd.steps.append(StepResult(len(crowd.steps) + 1, "error", "fail", "", "", "error", str(exc)))
        note = f"stopped: {exc}"
    finally:
        packets = sorted((p for c in crowd.conns.values() for p in c.packets), key=lambda p: p.time)
        crowd.finish()
    verdict = "fail" if any(s.verdict == "fail" for s in crowd.steps) else "pass"
    counts = Counter(s.verdict for s in crowd.steps)
    return ScenarioResult(scenario.name, (), verdict, crowd.steps, time.perf_counter() - start,
                          sysctls=dict(sorted(crowd.sysctls.items())), note=note or f"{counts['pass']} checks",
                          packets=packets)
