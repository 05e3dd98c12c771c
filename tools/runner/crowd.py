"""Scenarios with several connections (issue 15, item 5): the piles every
TCP troubleshooting article is about, played on the real kernel.

The scenarios are data in the scenario vocabulary (``Scenario.connections``,
steps with ``on``, ``expect_states``; the built-in ones are in
``suite.crowd_suite``); ``play`` runs one on a Linux stack's namespace and
is what ``execute`` does for them. A ``Crowd`` holds one scenario's named
connections: listeners, connections the peer opens (each its own
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
"""

from __future__ import annotations

import errno
import socket
import struct
import time
from dataclasses import dataclass, field

from tcpcheck.tools.runner import sockdiag
from tcpcheck.tools.runner.execute import ScenarioResult, StepResult
from tcpcheck.tools.runner.judge import match_segment
from tcpcheck.tools.runner.packets import Captured
from tcpcheck.tools.runner.peer import PeerFlow, SegmentError
from tcpcheck.tools.runner.stack import FourTuple
from tcpcheck.tools.runner.stacks.linux import LinuxStack, full_sysctl
from tcpcheck.tools.scenario import Call, Expect, ExpectStates, Inject, Scenario, Step, resolve, when_holds

# Ports of their own, away from the single-connection scenarios' (stack
# 20000-39999, peer 40000-59999): a scenario takes slot k of SLOTS, its
# listeners ports 15000 + LISTENERS k + j, its peers' ports 30000 + 16 k + i,
# and the peer port its clients connect to 38000 + k, so repeats in one
# namespace never meet an earlier run's TIME_WAIT.
SLOTS = 500
PEERS = 16  # peer connections per scenario at most
LISTENERS = 2  # listeners per scenario at most
CROWD_FIRST_PORT = 15000
CROWD_PEER_PORT = 30000
CROWD_TARGET_PORT = 38000
PORT_RANGE = "net/ipv4/ip_local_port_range"


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

    def text(self, names: list[str] | None = None) -> str:
        """``a1, a2: SYN_RCVD; a5: CLOSED; listener accept queue 0/4``."""
        by_state: dict[str, list[str]] = {}
        for n in names if names is not None else list(self.states):
            by_state.setdefault(self.states[n], []).append(n)
        parts = [f"{', '.join(ns)}: {st}" for st, ns in by_state.items()]
        parts += [f"{n} accept queue {q}/{b}" for n, (q, b) in self.queues.items()]
        return "; ".join(parts)


Outcome = tuple[bool, str, str, str, str]  # ok, expected, observed, note, state seen


class Crowd:
    """One multi-connection scenario on ``stack``'s namespace."""

    def __init__(self, stack: LinuxStack, scenario: Scenario) -> None:
        self.stack = stack
        self.scenario = scenario
        self.ns = stack.ns
        self.local = stack.ns.local_addr
        self.remote = stack.ns.peer_addr
        self.conns: dict[str, Conn] = {}
        self.listeners: dict[str, tuple[socket.socket | None, int]] = {}
        self.sysctls = {full_sysctl(k): v for k, v in scenario.sysctls.items()}
        self.slot = stack.next_number() % SLOTS
        self._restore = self.ns.set_sysctls(self.sysctls) if self.sysctls else {}
        # every name gets its ports now: a peer's flow is captured from its first segment
        peers = 0
        for group in scenario.connections:
            if group.role == "listener":
                self.listeners[group.name] = (None, CROWD_FIRST_PORT + LISTENERS * self.slot + len(self.listeners))
        for group in scenario.connections:
            if group.role == "peer":
                for name in group.members():
                    self._open(name, self.listeners[group.to][1], CROWD_PEER_PORT + self.slot * PEERS + peers)
                    peers += 1

    def names(self, text: str) -> list[str]:
        """The connections ``text`` names (``a1..a5``, a group, a comma list)."""
        return resolve(text, self.scenario.connections)

    # -- the steps ----------------------------------------------------------------------

    def step(self, step: Step) -> Outcome:
        """Make one step: what it expected and what it saw."""
        if isinstance(step, ExpectStates):
            return self.expect_states(step)
        names = self.names(step.on) if isinstance(step, (Call, Inject, Expect)) else []
        if isinstance(step, Call):
            return self.call(step, names)
        if isinstance(step, Inject):
            sent = [self.stack.wire.send(self.conns[n].peer.build(step.segment, step.variant)) for n in names]
            return True, "", "", sent[-1].packet.summary() if len(sent) == 1 and sent[-1].packet else "", ""
        if isinstance(step, Expect):
            wrong = [w for n in names for w in self._expect(self.conns[n], step.segment)]
            return not wrong, step.segment, "; ".join(wrong), "", ""
        raise TypeError(f"not a step with several connections: {step!r}")

    def call(self, step: Call, names: list[str]) -> Outcome:
        """A socket call on each named connection (listen, accept, connect, close)."""
        if step.op == "listen":
            for n in names:
                listening = self._socket()
                port = self.listeners[n][1]
                listening.bind((self.local, port))
                listening.listen(int(step.arg))
                self.listeners[n] = (listening, port)
            return True, "", "", "", ""
        if step.op == "accept":
            want = self.names(step.arg)
            by_port = {c.rport: c for c in self.conns.values()}
            taken: list[str] = []
            for n in names:
                listener = self.listeners[n][0]
                while listener is not None and len(taken) < len(want):
                    try:
                        conn, (_, rport) = listener.accept()
                    except BlockingIOError:
                        break
                    conn.setblocking(False)
                    by_port[rport].sock = conn
                    taken.append(by_port[rport].name)
            ok = sorted(taken) == sorted(want)
            return ok, f"accepted {_names(want)}", f"accepted {_names(taken) or 'nothing'}", "", ""
        if step.op == "connect":
            said = {n: self.connect(n, CROWD_TARGET_PORT + self.slot) for n in names}
            wrong = [f"{n}: {e}" for n, e in said.items() if e != step.errno]
            return not wrong, step.errno, "; ".join(wrong), "", ""
        loose = []  # close: the application must hold a descriptor for each
        for n in names:
            if n in self.listeners and (listener := self.listeners[n][0]) is not None:
                listener.close()
                self.listeners[n] = (None, self.listeners[n][1])
            elif n in self.conns and (held := self.conns[n].sock) is not None:
                held.close()
                self.conns[n].sock = None
            else:
                loose.append(n)
        return not loose, "a descriptor to close", f"{_names(loose)}: none (never accepted, connected or " \
            "listening, or closed already)", "", ""

    def _socket(self) -> socket.socket:
        sock = self.ns.call(socket.socket, socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        return sock

    def connect(self, name: str, rport: int) -> str:
        """The application connects (an ephemeral local port); what connect() says."""
        sock = self._socket()
        err = sock.connect_ex((self.remote, rport))
        if err != errno.EINPROGRESS:
            sock.close()
            return errno.errorcode.get(err, str(err))
        conn = self._open(name, sock.getsockname()[1], rport)
        conn.sock = sock
        return "EINPROGRESS"

    def _open(self, name: str, lport: int, rport: int) -> Conn:
        flow = FourTuple(self.local, lport, self.remote, rport)
        peer = PeerFlow(flow.local, lport, flow.remote, rport, 1_000_000 * (1 + rport % 3000))
        conn = Conn(name, lport, rport, peer, packets=self.stack.wire.open_flow((lport, rport)))
        self.conns[name] = conn
        return conn

    def _expect(self, conn: Conn | None, segment: str) -> list[str]:
        if conn is None:
            return [] if segment == "NONE" else ["no connection"]
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
        every = [m for g in self.scenario.connections if g.role != "listener" for m in g.members()]
        for n in every:
            c = self.conns.get(n)
            d = by_tuple.get((c.lport, c.rport)) if c is not None else None
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

    def expect_states(self, step: ExpectStates) -> Outcome:
        """All at once: every named connection in its state, each listed
        listener's accept queue, descriptors held, ports taken."""
        seen = self.snapshot()
        want, wrong = [], []
        for text, state in step.states:
            off = [n for n in self.names(text) if seen.states[n] != state]
            want += [f"{_names(off)}: {state}"] if off else []
            wrong += [f"{n}: {seen.states[n]}" for n in off]
        for listener, count in step.accept_queue:
            got = seen.queues.get(listener, (-1, -1))[0]
            if got != count:
                want.append(f"{listener} accept queue {count}")
                wrong.append(f"{listener} accept queue {got}")
        if step.held:
            loose = [n for n in self.names(step.held) if not seen.descriptors[n]]
            if loose:
                want.append(f"{_names(loose)}: a descriptor (inode)")
                wrong.append(f"{_names(loose)}: none")
        if step.port_range:
            low, high = (int(x) for x in self.ns.sysctls([PORT_RANGE])[PORT_RANGE].split())
            ports = sorted(self.conns[n].lport for n in self.names(step.port_range) if n in self.conns)
            if ports != list(range(low, high + 1)):
                want.append(f"every port of {low}-{high} once")
                wrong.append("ports " + ", ".join(map(str, ports)))
        held = [n for n, st in seen.states.items() if st == "SYN_RCVD"]
        note = f"{len(held)} request sockets (sock_diag: {seen.kernel[held[0]]})" if held else ""
        return not wrong, "; ".join(want), "; ".join(wrong), note, seen.text()

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
                if sock is not None:
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


def play(stack: LinuxStack, scenario: Scenario) -> ScenarioResult:
    """Play ``scenario`` (one with ``connections``) on ``stack``: each step
    pass or fail; after a failure the rest is skipped. A step whose ``when``
    the scenario's settings do not meet is not part of this run."""
    start = time.perf_counter()
    try:
        crowd = Crowd(stack, scenario)
    except OSError as exc:
        return ScenarioResult(scenario.name, (), "fail", [], time.perf_counter() - start,
                              note=f"cannot set the scenario's sysctls {scenario.sysctls}: {exc}")
    steps: list[StepResult] = []
    stopped = ""
    try:
        for index, step in enumerate(scenario.steps, 1):
            if not when_holds(getattr(step, "when", ""), scenario.sysctls):
                continue
            if stopped:
                steps.append(StepResult(index, step.text(), "skipped", "", note=stopped))
                continue
            t0 = time.perf_counter()
            try:
                ok, expected, observed, note, state = crowd.step(step)
            except (OSError, SegmentError) as exc:  # e.g. bind: address in use; the step could not be made
                ok, expected, observed, note, state = False, step.text(), "error", str(exc), ""
            if not ok and not state:
                state = crowd.snapshot().text()  # where things stand
            steps.append(StepResult(index, step.text(), "pass" if ok else "fail", state, "" if ok else expected,
                                    "" if ok else observed, note, time.perf_counter() - t0))
            if not ok:
                stopped = f"not run: step {index} failed"
    finally:
        packets = sorted((p for c in crowd.conns.values() for p in c.packets), key=lambda p: p.time)
        crowd.finish()
    verdict = "fail" if stopped else "pass"
    checks = sum(s.verdict == "pass" for s in steps)
    return ScenarioResult(scenario.name, (), verdict, steps, time.perf_counter() - start,
                          sysctls=dict(sorted(crowd.sysctls.items())),
                          note=stopped or f"{checks} steps, several connections", packets=packets)
