"""Emitting a scenario as a packetdrill script (google/packetdrill grammar).

A script is for a user who runs it as ``unshare -n packetdrill FILE`` in a
fresh network namespace, on Linux, and trusts the verdict. The stack under
test is the local side; packetdrill plays the peer, like the runner.

* Init command: refuses to run unless the namespace is fresh (only ``lo``
  and packetdrill's ``tun0``), then pins the settings the runner pins in
  its namespace (``tools/runner/netns.py``) and the scenario's own, so
  they change nothing outside it.
* Calls: ``socket``/``bind``/``listen``/``accept``, a non-blocking
  ``connect`` from the bound port, ``close``, ``shutdown(fd, SHUT_WR)``,
  and for ABORT ``SO_LINGER {onoff=1, linger=0}`` then ``close``.
* Segments: ``<`` (injected) and ``>`` (expected) lines with packetdrill's
  relative sequence numbers (0 is each side's first ISN). An expected
  segment is due at once (``+0``, within the file's tolerance), except an
  ACK Linux delays, which gets the range Linux allows for it.
* States: a ``%{ assert tcpi_state == ... }%`` on the ``TCP_INFO`` of the
  descriptor packetdrill is watching, when that descriptor is the
  connection (or the listener, before packetdrill moves to its child);
  otherwise ``ss`` filtered by the exact 4-tuple.
* Timers: the expected retransmission, then a bounded poll (the runner's
  bound) for the state to change, at normal priority; never a fixed sleep.
* The end: a short quiet wait, then an out-of-window probe whose answer
  must be the next segment the stack sends, then the namespace's count of
  packets sent must equal the script's count of expected segments: a
  stray segment, also after the last expected one, fails the script
  (packetdrill itself only sees a stray while it waits for an expected
  segment); the count is written into the script.

Where the profile documents a state Linux is in instead of the RFC
machine's (e.g. TIME_WAIT outlives the descriptor), the script asserts
what Linux does, names the entry, and stops there, as the runner does. A
scenario that cannot be written in packetdrill's notation raises
``NotWritable`` with the reason (the stack picks a fresh ISN the script
cannot know; Linux sends another segment than the RFC's and the state it
is left in is stated nowhere); the suite's index lists it. Output is a
pure function of the scenario.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from tcpcheck.tools.generate.suite import Suite
from tcpcheck.tools.runner.harness import TIMER_BOUNDS
from tcpcheck.tools.runner.netns import BASE_SYSCTLS
from tcpcheck.tools.runner.profile import Deviation, Profile
from tcpcheck.tools.scenario import Call, Elapse, Expect, ExpectState, Inject, Scenario, Step

# packetdrill's timing tolerance for every event due at once. Linux
# answers an injected segment within microseconds, before the tun write
# returns; the slack is packetdrill's own time between injecting and
# starting to wait for the answer, on a loaded machine: 1 ms failed 2 of
# 3065 runs (by 1.2 and 1.3 ms), 2 ms none. It stays under one jiffy, so
# an ACK held to the next timer tick does not pass for an immediate one.
TOLERANCE_USECS = 2000
LOCAL_IP = "192.168.0.2"  # --local_ip (packetdrill picks a random 192.168.x.y otherwise)
REMOTE_IP = "192.0.2.1"  # --remote_ip (packetdrill's default)
PORT = 8080  # packetdrill's bind and connect port
LISTENER_FD = 3
ACCEPTED_FD = 4
WIN = 65535
NEW_INCARNATION = 0x00100000  # a new connection's SYN starts this far above the old one (as the runner's peer)
# A SYN that reopens TIME_WAIT gets a SYN,ACK from ISN = the old SND.NXT +
# 65535 + 2 (Linux tcp_timewait_state_process(), TCP_TW_SYN).
TIME_WAIT_REOPEN_ISN_GAP = 65535 + 2
# Linux delays the ACK of a FIN received in ESTABLISHED (tcp_fin() enters
# pingpong mode, hoping to carry the ACK on the application's own FIN):
# the delayed-ACK timer sends it within TCP_ATO_MIN (HZ/25 = 40 ms).
DELAYED_ACKS = {"ESTABLISHED--FIN-->CLOSE_WAIT": 0.04}
INITIAL_RTO = 1  # TCP_TIMEOUT_INIT: the first SYN retransmission (packetdrill allows 12.5 % for the timer wheel)
# Linux >= 6.x retries a SYN at a linear 1 s for tcp_syn_linear_timeouts
# rounds on top of TCP_SYNCNT, so how many SYNs go out before it gives up
# depends on timer rounding; exponential backoff makes it exactly
# TCP_SYNCNT retransmissions (-e: older kernels have no such key and back
# off exponentially anyway).
EXPONENTIAL_SYN_BACKOFF = "net.ipv4.tcp_syn_linear_timeouts=0"
# A retransmission is legitimate, not a stray, once the RTO expires: with
# Linux's 200 ms minimum, a script that ends with its FIN unacknowledged
# races its own end-of-script quiet check on a loaded machine. 1 s keeps
# every retransmission timer far from it (-e: older kernels lack the key).
RTO_MIN = "net.ipv4.tcp_rto_min_us=1000000"
# How long the end of a script listens for a stray segment: longer than
# the longest delayed ACK (TCP_DELACK_MAX, 200 ms), far shorter than the
# RTO (RTO_MIN), after which a retransmission would be legitimate. A stray
# that looks like the probe's answer is told apart by its time, so the
# margin also covers a kernel that, on a machine busy with other
# packetdrills (each spins 100 ms at real-time priority as it starts),
# processes a segment ~0.1 s late: at 0.1 s, 3 of 2786 corrupted scripts
# passed that way.
QUIET_SECONDS = 0.3
EXPECTED = re.compile(r"^\+?[0-9.~+]+ > ")  # a line expecting a segment from the stack
OUT_OF_WINDOW = 1_000_000  # beyond any window the stack can offer (no window scaling is negotiated)
# A timer's bound is polled in this many steps (0.05 s for the 5 s bounds,
# 0.75 s for TIME_WAIT's 75 s): each step runs ss, ~10 ms of CPU.
POLLS = 100
# packetdrill runs its shell commands at its own real-time priority
# (SCHED_RR, inherited through fork). A poll that waits out a timer gives
# that up, so that it never delays another packetdrill's events: 38
# TIME_WAIT scripts polling at once at 0.15 s steps took more than 2 CPUs
# at real-time priority, and a script starting beside them ran 9 ms late
# past its 2 ms tolerance or got the SYN,ACK's 1 s retransmission before
# its ACK. Without chrt the poll still works, at packetdrill's priority.
NORMAL_PRIORITY = "chrt -o -p 0 $$ 2>/dev/null; "
TCPI = {
    "ESTABLISHED": "TCP_ESTABLISHED", "SYN_SENT": "TCP_SYN_SENT", "SYN_RCVD": "TCP_SYN_RECV",
    "FIN_WAIT_1": "TCP_FIN_WAIT1", "FIN_WAIT_2": "TCP_FIN_WAIT2", "TIME_WAIT": "TCP_TIME_WAIT",
    "CLOSED": "TCP_CLOSE", "CLOSE_WAIT": "TCP_CLOSE_WAIT", "LAST_ACK": "TCP_LAST_ACK",
    "LISTEN": "TCP_LISTEN", "CLOSING": "TCP_CLOSING",
}
SS_STATE = {
    "ESTABLISHED": "established", "SYN_SENT": "syn-sent", "SYN_RCVD": "syn-recv", "FIN_WAIT_1": "fin-wait-1",
    "FIN_WAIT_2": "fin-wait-2", "TIME_WAIT": "time-wait", "CLOSE_WAIT": "close-wait", "LAST_ACK": "last-ack",
    "LISTEN": "listening", "CLOSING": "closing",
}
# The peer's port of a passive connection is the one packetdrill reserved
# with a listening socket of its own (the only listener not on PORT).
PEER_PORT = f"set -- $(ss -Hltn sport != :{PORT}); [ $# = 5 ] || exit 1; "
FRESH_NAMESPACE = (
    "[ \"$(ip -o link show | cut -d: -f2 | tr -d ' \\n')\" = lotun0 ] || "
    "{ echo 'needs a fresh network namespace: unshare -n packetdrill FILE' >&2; exit 1; }"
)


def sent_as_expected(count: int) -> str:
    """Shell that holds iff the namespace has sent ``count`` IPv4 packets
    (``Ip: OutRequests`` of the namespace's own ``/proc/net/snmp``).

    The number is written into the script, not counted from the file at
    run time: deleting an expected line must not lower it too (a deleted
    delayed ACK that a RST then cancels would go unnoticed)."""
    return ("awk '$1 == \"Ip:\" {if (!c) {for (i = 2; i <= NF; i++) if ($i == \"OutRequests\") c = i} "
            f"else sent = $c}} END {{exit !c || sent != {count}}}' /proc/net/snmp")


class NotWritable(Exception):
    """The scenario cannot be written in packetdrill's notation; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class _Flow:
    """Relative sequence numbers as the script goes."""

    peer_isn: int = 0
    peer_nxt: int = 0
    peer_fin: int | None = None
    stack_isn: int = 0
    stack_nxt: int = 0
    stack_fin: int | None = None
    stack_fin_acked: bool = False
    peer_syn_sent: bool = False
    peer_reset: bool = False  # the peer sent a RST: its next SYN opens a new incarnation
    last_ack: int = 0  # ACK field of the last injected segment


@dataclass
class _Sockets:
    """What the application holds and what packetdrill watches.

    packetdrill reads ``TCP_INFO`` from its *socket under test*: the last
    socket made, until an inbound segment reaches a listener, when it moves
    to the (not yet accepted, descriptor-less) child for good."""

    mode: str = ""  # "active" (connect), "passive" (listen) or "closed_port" (no socket at all)
    listener_open: bool = False
    conn_fd: int | None = None  # an open descriptor on the connection
    watched: str = ""  # packetdrill's socket under test: "listener", "child", "conn" or "" (none / closed)
    connection: bool = False  # a connection (4-tuple) exists or existed


@dataclass
class _Script:
    scenario: Scenario
    profile: Profile | None
    flow: _Flow = field(default_factory=_Flow)
    socks: _Sockets = field(default_factory=_Sockets)
    lines: list[str] = field(default_factory=list)
    state: str = "CLOSED"  # the last state asserted
    transition: str = ""  # the transition being taken
    taken: list[str] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    injects: list[str] = field(default_factory=list)
    stopped: Deviation | None = None  # Linux left the RFC machine here: nothing after is asserted
    truncated: int = 0  # steps of the scenario left after it

    @property
    def sysctls(self) -> dict[str, str]:
        """The settings in force: the runner's pinned ones, then the scenario's."""
        out = {k.replace("/", "."): v for k, v in BASE_SYSCTLS.items()}
        for key, value in self.scenario.sysctls.items():
            name = key.replace("/", ".")
            out[name if name.startswith("net.") else f"net.ipv4.{name}"] = value
        return out


def emit_packetdrill(scenario: Scenario, profile: Profile | None = None, command: str = "") -> str:
    """The packetdrill script for ``scenario``; ``NotWritable`` when it has none."""
    s = _Script(scenario, profile)
    walk = list(scenario.walk)
    for n, step in enumerate(scenario.steps, start=1):
        if isinstance(step, (Inject, Elapse)) or (isinstance(step, Call) and step.op != "accept"):
            if walk:
                s.transition = walk.pop(0)
                s.taken.append(s.transition)
                s.lines.append(f"// {s.transition}")
        _step(s, step)
        if s.stopped is not None and n < len(scenario.steps):
            # As the runner: past a documented deviation the RFC machine says nothing about Linux.
            s.truncated = len(scenario.steps) - n
            s.lines.append(f"// Linux leaves the RFC machine here (profile deviation {s.stopped.id}): "
                           f"the scenario's last {s.truncated} steps are not asserted")
            break
    _end(s)
    # The first event's time is absolute (0); every later one is relative.
    for n, line in enumerate(s.lines):
        if line.startswith("+0 "):
            s.lines[n] = "0 " + line[3:]
            break
    return "\n".join(_header(s, command) + s.lines) + "\n"


def _header(s: _Script, command: str) -> list[str]:
    sc = s.scenario
    head = [
        f"// {sc.name}: {sc.description}" if sc.description else f"// {sc.name}",
        "// Generated by tcpcheck generate from specs/tcp.toml; do not edit (regenerate instead).",
    ]
    if command:
        head.append(f"// Regenerate with: {command}")
    head.append("// Run in a fresh network namespace: unshare -n packetdrill FILE")
    taken = set(s.taken)
    for tid in sc.transitions:
        if tid in taken or not sc.walk:
            head.append(f"// covers {tid}")
    if s.truncated:
        head.append(f"// stops after {s.transition}: profile deviation {s.stopped.id if s.stopped else ''}")
    head += [
        f"--tolerance_usecs={TOLERANCE_USECS}",
        f"--local_ip={LOCAL_IP}",
        f"--remote_ip={REMOTE_IP}",
        "",
        "`" + FRESH_NAMESPACE + "; sysctl -q " + " ".join(f"{k}={v}" for k, v in sorted(s.sysctls.items()))
        + f"; sysctl -qe {' '.join(_newer_kernel_settings(sc))}`",
        "",
    ]
    return head


def _newer_kernel_settings(scenario: Scenario) -> list[str]:
    """Settings whose keys older kernels lack (set with ``sysctl -e``)."""
    return [RTO_MIN, *([EXPONENTIAL_SYN_BACKOFF] if _has_timer(scenario, "timeout_syn") else [])]


def _has_timer(scenario: Scenario, timer: str) -> bool:
    return any(isinstance(x, Elapse) and x.timer == timer for x in scenario.steps)


def _end(s: _Script) -> None:
    """A quiet wait, then a probe whose answer is certain, then a count.

    packetdrill fails on an unexpected segment only while it waits for the
    next expected one, so a stray segment after the scenario's last
    expected one shows up in place of the probe's answer (RFC 9293
    §3.10.7: an unacceptable segment gets an ACK from a connection,
    §3.10.7.4, and on Linux from a request socket and TIME_WAIT too; with
    no connection, or in SYN-SENT for a bad ACK, a RST <SEQ=SEG.ACK>,
    §3.10.7.1-3). A stray that looks like the answer is told apart by its
    time; the count catches it even when the machine is too busy for that:
    the namespace must have sent as many IPv4 packets as the script has
    lines expecting one (a number written into the script, so deleting
    such a line cannot go unnoticed)."""
    f, out = s.flow, s.lines
    out.append(f"// The end: nothing more within {QUIET_SECONDS:g} s; then an out-of-window probe, whose answer "
               "must be the next segment the stack sends; then as many packets sent as this file expects")
    out.append(f"+0 `sleep {QUIET_SECONDS:g}`")
    if s.state in ("CLOSED", "LISTEN", "SYN_SENT"):
        ack = f.stack_nxt + OUT_OF_WINDOW
        out.append(f"+0 < . {f.peer_nxt}:{f.peer_nxt}(0) ack {ack} win {WIN}")
        out.append(f"+0 > R {ack}:{ack}(0)")
    else:
        seq = f.peer_nxt + OUT_OF_WINDOW
        out.append(f"+0 < . {seq}:{seq}(0) ack {f.stack_nxt} win {WIN}")
        out.append(f"+0 > . {f.stack_nxt}:{f.stack_nxt}(0) ack {f.peer_nxt}")
    out.append(f"+0 `{sent_as_expected(sum(1 for line in out if EXPECTED.match(line)))}`")


def _documented(s: _Script, expected: str) -> Deviation | None:
    """The profile's entry for what Linux does instead of ``expected`` at
    this step of this walk, if one applies."""
    if s.profile is None:
        return None
    for d in s.profile.deviations:
        if d.kind != "differs" or d.expected != expected or (d.transition and d.transition != s.transition):
            continue
        if d.applies(s.sysctls) and d.in_context(tuple(s.calls), tuple(s.injects)):
            return d
    return None


def _step(s: _Script, step: Step) -> None:
    out = s.lines
    if isinstance(step, Call):
        s.calls.append(step.op)
        _call(s, step.op)
    elif isinstance(step, Inject):
        s.injects.append(step.segment)
        if not s.socks.mode:
            # No socket at all: packetdrill addresses the segment to a port
            # nothing is bound to (a connection of its own, no descriptor).
            s.socks.mode, s.socks.watched, s.socks.connection = "closed_port", "child", True
        elif s.socks.watched == "listener":
            s.socks.watched, s.socks.connection = "child", True
        out.append("+0 < " + _inbound(s, step.segment))
    elif isinstance(step, Expect):
        seg = step.segment
        dev = _documented(s, seg)
        if dev is not None:
            # The script would have to end here, and its end probe needs the
            # state Linux is in, which neither the model nor the profile states.
            raise NotWritable(f"at {s.transition} Linux sends {dev.observed}, not {seg} (profile deviation "
                              f"{dev.id}): the state it leaves is not the model's to state")
        if seg == "NONE":
            out.append("// the stack sends nothing here (a segment now fails the next expected line or the end probe)")
            return
        delay = DELAYED_ACKS.get(s.transition) if seg in ("ACK", "ACK_OF_FIN") else None
        if delay is not None:
            out.append(f"// Linux delays this ACK (pingpong mode after the peer's FIN): within {delay:g} s")
            out.append(f"+0~+{delay:g} > " + _outbound(s, seg))
        else:
            out.append("+0 > " + _outbound(s, seg))
    elif isinstance(step, ExpectState):
        state = step.state
        dev = _documented(s, f"state {state}")
        if dev is not None:
            observed = dev.observed.split(" ", 1)[1]
            out.append(f"// RFC 9293: {state}; Linux: {observed} (profile: {dev.note})")
            state, s.stopped = observed, dev
        out.append(_state_check(s, state))
        s.state = state
    elif isinstance(step, Elapse):
        _elapse(s, step.timer)


def _in_state(s: _Script, state: str) -> tuple[str, str]:
    """(prefix, test): shell that holds iff the scenario's socket is in
    ``state``, checked through ``ss`` on the exact 4-tuple. The prefix finds
    the peer's port of a passive connection and fails unless it is there;
    a test that no socket exists fails when ``ss`` fails."""
    here = f"src {LOCAL_IP}:{PORT}"
    if state == "LISTEN":
        return "", f"ss -Htn state listening {here} | grep -q ."
    if state == "CLOSED" and not s.socks.connection:
        # Never a connection: nothing at all on the port (not even a listener).
        return "", f"out=$(ss -Htan {here}) && [ -z \"$out\" ]"
    if state == "CLOSED" and s.state == "LISTEN":
        return "", f"out=$(ss -Htn state listening {here}) && [ -z \"$out\" ]"
    prefix, there = ("", f"dst {REMOTE_IP}:{PORT}") if s.socks.mode == "active" else \
        (PEER_PORT, f"dst {REMOTE_IP}:${{4##*:}}")
    if state == "CLOSED":
        return prefix, f"out=$(ss -Htn state connected {here} {there}) && [ -z \"$out\" ]"
    return prefix, f"ss -Htn state {SS_STATE[state]} {here} {there} | grep -q ."


def _state_check(s: _Script, state: str) -> str:
    k = s.socks
    watched_conn = k.watched == "conn" and k.conn_fd is not None and state != "TIME_WAIT"
    watched_listener = k.watched == "listener" and k.listener_open and state == "LISTEN"
    if watched_conn or watched_listener:
        return f"+0 %{{ assert tcpi_state == {TCPI[state]}, tcpi_state }}%"
    prefix, test = _in_state(s, state)
    return f"+0 `{prefix}{test}`"


def _socket(s: _Script) -> None:
    s.lines.append(f"+0 socket(..., SOCK_STREAM, IPPROTO_TCP) = {LISTENER_FD}")


def _call(s: _Script, op: str) -> None:
    out, k = s.lines, s.socks
    if op == "listen":
        _socket(s)
        out.append(f"+0 setsockopt({LISTENER_FD}, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0")
        out.append(f"+0 bind({LISTENER_FD}, ..., ...) = 0")
        out.append(f"+0 listen({LISTENER_FD}, 1) = 0")
        k.mode, k.listener_open, k.watched = "passive", True, "listener"
    elif op == "connect":
        _socket(s)
        # Bound first, so the 4-tuple is known: local PORT to the peer's PORT.
        out.append(f"+0 bind({LISTENER_FD}, ..., ...) = 0")
        out.append(f"+0 fcntl({LISTENER_FD}, F_SETFL, O_RDWR|O_NONBLOCK) = 0")
        if _has_timer(s.scenario, "timeout_syn"):
            # One retransmission, then give up: SYN_SENT ends INITIAL_RTO + 2 * INITIAL_RTO after connect().
            out.append(f"+0 setsockopt({LISTENER_FD}, SOL_TCP, TCP_SYNCNT, [1], 4) = 0")
        out.append(f"+0 connect({LISTENER_FD}, ..., ...) = -1 EINPROGRESS (Operation now in progress)")
        k.mode, k.conn_fd, k.watched, k.connection = "active", LISTENER_FD, "conn", True
    elif op == "accept":
        out.append(f"+0 accept({LISTENER_FD}, ..., ...) = {ACCEPTED_FD}")
        k.conn_fd, k.watched = ACCEPTED_FD, "conn"
    elif op in ("close", "abort"):
        fd = k.conn_fd if k.conn_fd is not None else LISTENER_FD
        if op == "abort":
            out.append(f"+0 setsockopt({fd}, SOL_SOCKET, SO_LINGER, {{onoff=1, linger=0}}, 8) = 0")
        out.append(f"+0 close({fd}) = 0")
        if k.conn_fd is not None:
            k.conn_fd = None
            if k.watched == "conn":
                k.watched = ""
        else:
            k.listener_open = False
            if k.watched == "listener":
                k.watched = ""
    elif op == "shutdown_wr":
        out.append(f"+0 shutdown({k.conn_fd}, SHUT_WR) = 0")
    elif op == "send":
        out.append(f"+0 write({k.conn_fd}, ..., 8) = 8")
    elif op == "recv":
        out.append(f"+0 read({k.conn_fd}, ..., 1000) = 0")
    else:
        raise ValueError(f"packetdrill emitter: no syscall for {op!r}")


def _inbound(s: _Script, seg: str) -> str:
    f = s.flow
    p, n = f.peer_nxt, f.stack_nxt
    if seg in ("SYN", "SYN_ACK"):
        if f.peer_syn_sent and (f.peer_fin is not None or f.peer_reset):
            # The old connection is over (FIN or RST): a new incarnation
            # starts above its sequence space (RFC 1122 §4.2.2.13), as the
            # runner's peer does.
            if not s.transition.startswith("TIME_WAIT--") or f.peer_reset:
                raise NotWritable(
                    "a new connection on the same 4-tuple gets an initial sequence number the script cannot "
                    "know (packetdrill has no wildcard for sequence numbers)")
            f.peer_isn = f.peer_nxt + NEW_INCARNATION
            f.stack_isn = f.stack_nxt + TIME_WAIT_REOPEN_ISN_GAP
            f.stack_nxt, f.stack_fin, f.stack_fin_acked, f.peer_fin = f.stack_isn, None, False, None
            n = f.stack_isn
            # A request socket of the listener: no descriptor (one left is on the old connection).
            s.socks.watched = ""
        # Otherwise a second SYN is a retransmission: same sequence number.
        p = f.peer_isn
        f.peer_syn_sent = True
        f.peer_nxt = p + 1
        if seg == "SYN":
            f.last_ack = 0
            return f"S {p}:{p}(0) win {WIN} <mss 1460>"
        ack = n if n else 1
        f.last_ack = ack
        return f"S. {p}:{p}(0) ack {ack} win {WIN} <mss 1460>"
    if seg in ("ACK", "ACK_OF_FIN"):
        ack = n if n else 1
        f.last_ack = ack
        if f.stack_fin is not None and ack > f.stack_fin:
            f.stack_fin_acked = True
        return f". {p}:{p}(0) ack {ack} win {WIN}"
    if seg in ("FIN", "FIN_ACK_OF_FIN"):
        # A FIN that does not acknowledge the stack's FIN (the crossing
        # FINs of a simultaneous close) acknowledges up to it.
        crossing = seg == "FIN" and f.stack_fin is not None and not f.stack_fin_acked
        ack = f.stack_fin if crossing and f.stack_fin is not None else (n if n else 1)
        if f.stack_fin is not None and ack > f.stack_fin:
            f.stack_fin_acked = True
        if f.peer_fin is None:
            f.peer_fin = p
            f.peer_nxt = p + 1
        f.last_ack = ack
        return f"F. {f.peer_fin}:{f.peer_fin}(0) ack {ack} win {WIN}"
    if seg == "RST":
        f.peer_reset = True
        return f"R {p}:{p}(0) win {WIN}"
    if seg == "RST_ACK":
        f.peer_reset = True
        return f"R. {p}:{p}(0) ack {n if n else 1} win {WIN}"
    if seg == "DATA":
        f.peer_nxt = p + 8
        return f"P. {p}:{p + 8}(8) ack {n} win {WIN}"
    raise ValueError(f"packetdrill emitter: cannot inject {seg!r}")


def _outbound(s: _Script, seg: str) -> str:
    f = s.flow
    n, p = f.stack_nxt, f.peer_nxt
    if seg == "SYN":
        f.stack_nxt = f.stack_isn + 1
        return f"S {f.stack_isn}:{f.stack_isn}(0) <...>"
    if seg == "SYN_ACK":
        f.stack_nxt = f.stack_isn + 1
        return f"S. {f.stack_isn}:{f.stack_isn}(0) ack {p} <...>"
    if seg in ("ACK", "ACK_OF_FIN"):
        return f". {n}:{n}(0) ack {p}"
    if seg in ("FIN", "FIN_ACK_OF_FIN"):
        f.stack_fin = n
        f.stack_nxt = n + 1
        return f"F. {n}:{n}(0) ack {p}"
    if seg in ("RST", "RST_ACK"):
        if s.state in ("CLOSED", "LISTEN"):
            # No connection: RFC 9293 §3.10.7.1, <SEQ=SEG.ACK><CTL=RST>, or
            # <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK> for a segment without ACK.
            if seg == "RST_ACK":
                return f"R. 0:0(0) ack {p}"
            return f"R {f.last_ack}:{f.last_ack}(0)"
        # Linux sets ACK on every RST of a synchronized connection (profile: rst_on_abort_carries_ack).
        return f"R. {n}:{n}(0) ack {p}"
    if seg == "DATA":
        f.stack_nxt = n + 8
        return f"P. {n}:{n + 8}(8) ack {p}"
    raise ValueError(f"packetdrill emitter: cannot expect {seg!r}")


def _elapse(s: _Script, timer: str) -> None:
    out = s.lines
    if timer == "timeout_syn":
        out.append(f"// {timer}: the SYN goes again after the initial RTO ({INITIAL_RTO} s), then the stack gives up")
        out.append(f"+{INITIAL_RTO} > S {s.flow.stack_isn}:{s.flow.stack_isn}(0) <...>")
    bound = TIMER_BOUNDS[timer]
    out.append(f"// {timer}: wait (at most {bound:g} s, the runner's bound) until the stack leaves {s.state}")
    prefix, test = _in_state(s, s.state)
    out.append(f"+0 `{NORMAL_PRIORITY}{prefix}t=0; while {test}; do [ $t -lt {POLLS} ] || exit 1; t=$((t+1)); "
               f"sleep {bound / POLLS:g}; done`")


def emit_packetdrill_suite(suite: Suite, profile: Profile | None, command: str) -> dict[str, str]:
    """Every script of ``suite`` (``packetdrill/<criterion>_<scenario>.pkt``)
    and the suite's index (``packetdrill/<criterion>.txt``): how to run the
    scripts, what the criterion could not drive, and the scenarios left out
    with the reason."""
    files: dict[str, str] = {}
    left_out: dict[str, str] = {}
    for scenario in suite.scenarios:
        try:
            files[f"packetdrill/{suite.criterion}_{scenario.name}.pkt"] = emit_packetdrill(scenario, profile, command)
        except NotWritable as exc:
            left_out[scenario.name] = exc.reason
    files[f"packetdrill/{suite.criterion}.txt"] = _index(suite, command, len(files), left_out)
    return files


def _index(suite: Suite, command: str, written: int, left_out: dict[str, str]) -> str:
    lines = [
        f"packetdrill suite: criterion {suite.criterion}, profile {suite.profile}",
        "Generated by tcpcheck generate from specs/tcp.toml; do not edit (regenerate instead).",
        f"Regenerate with: {command}",
        "",
        "Run each script from this folder, in a fresh network namespace, as root:",
        f"    unshare -n packetdrill {suite.criterion}_<scenario>.pkt",
        "A script refuses to run outside a fresh namespace (its init command changes sysctls).",
        "",
        f"{len(suite.scenarios)} scenarios: {written} scripts, {len(left_out)} left out.",
    ]
    sections = [
        (f"Not drivable on {suite.profile}:", suite.not_drivable),
        ("Outside the model under the profile's options:", suite.disabled),
        ("Left out (no packetdrill script can state them):", left_out),
    ]
    for title, items in sections:
        if items:
            lines += ["", title, *(f"  {k}: {v}" for k, v in items.items())]
    return "\n".join(lines) + "\n"
