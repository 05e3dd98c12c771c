"""The Linux kernel's TCP as a stack under test: a TUN device inside a
private network namespace, ordinary socket calls on the local side, states
read with TCP_INFO and sock_diag.

Linux answers a TUN write before the write returns (``Wire.send``), so an
expected segment is already queued when the runner looks; a timer waits
for the state to change, polling the TUN between looks, with a bound.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import ClassVar

from tcpcheck.tools.runner import local as _local
from tcpcheck.tools.runner.netns import LOCAL_ADDR, PEER_ADDR, NetNamespace, kernel_release
from tcpcheck.tools.runner.observe import SockDiag, diagnose
from tcpcheck.tools.runner.packets import Captured, Packet
from tcpcheck.tools.runner.peer import DEFAULT_PAYLOAD
from tcpcheck.tools.runner.stack import Endpoint, FourTuple, Observation, Stack, StackInfo, TimerSetting
from tcpcheck.tools.runner.wire import Wire
from tcpcheck.tools.scenario import Scenario

SYN_TIMEOUT_MS = 100
# How long the runner waits for each model timer to move the endpoint on:
# the SYN timeout and the orphan FIN_WAIT_2 timeout are shortened (socket
# options, tcp_fin_timeout=1); TIME_WAIT is Linux's fixed 60 s.
TIMER_BOUNDS = {"timeout_syn": 5.0, "timeout_fin_wait_2": 5.0, "timeout_2msl": 75.0}
_HOW = {
    "timeout_syn": f"TCP_SYNCNT=1 and TCP_USER_TIMEOUT={SYN_TIMEOUT_MS} ms on the connecting socket",
    "timeout_fin_wait_2": "sysctl tcp_fin_timeout (the scenario sets 1 s)",
    "timeout_2msl": "fixed 60 s (TCP_TIMEWAIT_LEN); waited out",
}
FIRST_PORT = 20000
_PORTS = 20000


def full_sysctl(key: str) -> str:
    """``tcp_rfc1337`` -> ``net/ipv4/tcp_rfc1337``."""
    return key if key.startswith("net/") else "net/ipv4/" + key.replace(".", "/")


class LinuxStack(Stack):
    """A private namespace with its TUN wire and socket observer."""

    name: ClassVar[str] = "linux"

    def __init__(self) -> None:
        self.ns = NetNamespace()
        try:
            self.wire = Wire(self.ns.tun_fd)
            self.diag = self.ns.call(SockDiag)
        except BaseException:
            self.ns.close()
            raise
        self._count = 0

    @property
    def base_settings(self) -> dict[str, str]:
        """The sysctls pinned in every namespace."""
        return dict(self.ns.base_sysctls)

    def info(self, extra: Mapping[str, str] | None = None) -> StackInfo:
        """Kernel release and the sysctls in force (the pinned set plus
        ``extra`` keys)."""
        keys = sorted(set(self.ns.base_sysctls) | {full_sysctl(k) for k in (extra or {})})
        release = kernel_release()
        return StackInfo(release, self.ns.sysctls(keys), "linux", f"Linux {release}")

    def timers(self) -> dict[str, TimerSetting]:
        """Each model timer's bound and how it is shortened."""
        return {t: TimerSetting(t, bound, _HOW[t]) for t, bound in TIMER_BOUNDS.items()}

    def needs_wait(self, scenario: Scenario) -> bool:
        """Marked slow, or waits for Linux's fixed 60 s TIME_WAIT."""
        return scenario.slow or super().needs_wait(scenario)

    def endpoint(self, settings: Mapping[str, str] | None = None) -> LinuxEndpoint:
        """A fresh flow on new ports, with ``settings`` (sysctls) set for its duration."""
        self._count += 1
        n = self._count % _PORTS
        return LinuxEndpoint(self, FIRST_PORT + n, 40000 + n, dict(settings or {}))

    def close(self) -> None:
        """Release everything; the kernel removes the namespace."""
        self.diag.close()
        self.ns.close()


class LinuxEndpoint(Endpoint):
    """One flow: the application's sockets, the TUN wire, the observer."""

    def __init__(self, stack: LinuxStack, lport: int, rport: int, sysctls: dict[str, str]) -> None:
        self.stack = stack
        self.flow = FourTuple(LOCAL_ADDR, lport, PEER_ADDR, rport)
        self.local = _local.LocalSide(stack.ns, lport, rport)
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

    def deliver(self, packet: Packet) -> None:
        """Write the packet into the TUN (Linux answers before this returns)."""
        self.stack.wire.send(packet)

    def receive(self, timeout: float) -> Packet | None:
        """The next packet of this flow from the TUN."""
        item = self.stack.wire.receive((self.flow.lport, self.flow.rport), timeout)
        return item.packet if item is not None else None

    def observe(self) -> Observation:
        """TCP_INFO on a descriptor, else sock_diag by 4-tuple."""
        seen = diagnose(self.stack.diag, self.flow, self.local.conn, self.local.listener, self._synchronized)
        if seen.state not in ("CLOSED", "LISTEN", "SYN_SENT", "SYN_RCVD"):
            self._synchronized = True
        return seen

    def prepare_timer(self, timer: str) -> None:
        """The SYN timeout is a socket option, set when connecting."""
        if timer == "timeout_syn":
            self.syn_timeout_ms = SYN_TIMEOUT_MS

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
