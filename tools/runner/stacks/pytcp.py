"""PyTCP (``pmd-pytcp`` 0.3.8, pure Python) as a stack under test, over a
TAP device in a private network namespace.

PyTCP runs inside this process: its BSD-sockets facade (``socket``,
``bind``, ``listen``, ``connect``, ``accept``, ``send``, ``recv``,
``close``, ``shutdown``, ``abort``) makes the calls, its TCP sessions
keep the state (``TcpSession.state``, an ``FsmState`` named as in the
RFC), its packet handler speaks Ethernet on the TAP.

Deterministic by construction. PyTCP 0.3.8 runs entirely on one asyncio
event loop (its timer is ``loop.call_at``, its TX ring ``loop.call_soon``)
plus ``stack.timer.now_ms`` for the TCP sessions' deadlines. The adapter
gives it a loop whose clock is virtual (``VirtualLoop.time``) and a timer
whose ``now_ms`` reads that clock (``stack.timer`` is the documented
place to swap the timer: ``stack.mock__init(mock__timer=...)`` does the
same for PyTCP's own tests). The loop runs only while the adapter asks
(``run_until_complete`` of a call, then until no callback is ready), so
nothing happens between the runner's steps, and PyTCP's clock moves only
in ``elapse`` (to each due deadline in turn, as a real clock would), by
the delayed-ACK delay while an expected segment is awaited, and by 1 ms
per packet the peer sends. Waiting for PyTCP's segments is exact, not a
quiet window: PyTCP counts the bytes it sends (its link statistics), and
the runner reads the TAP until it has them all. Frames
from the TAP are handed to the interface's RX ring by the runner's wire
(``TapWire``), not read by PyTCP itself (its RX reader is disarmed with
the ring's public ``stop``). The peer's address has a permanent ARP
entry (``stack.neighbor...add``), TCP Fast Open is off towards it, IPv6
and DHCP are off: the same scenario sends the same segments every time.
Two wall-clock reads remain and change no verdict: the ISS's RFC 6528
clock component (``time.monotonic_ns`` at tcp__session.py:405; sequence
numbers are compared relative to it) and PLPMTUD's timestamps (probing
is off, TCP__MTU_PROBING = 0, tcp__constants.py:207).

Private attributes reached: ``VirtualLoop`` reads asyncio's own
``_ready`` and ``_scheduled`` (to run until idle and to find the next
deadline; read only); ``PytcpStack.__init__`` takes the interface's RX ring
(``PacketHandler._rx_ring``, which ``stack.init`` builds) and ``_feed``
calls ``RxRing._handle_frame`` (PyTCP's per-frame entry point, what its
own reader calls). Nothing else private is touched: the sockets, the
session state, the timer slot, the address and neighbour APIs and the
TFO caches are PyTCP's public surface.
"""

from __future__ import annotations

import asyncio
import importlib.util
import time
from collections.abc import Callable, Coroutine, Mapping
from importlib import metadata
from typing import Any, ClassVar

from tcpcheck.tools.runner.netns import LOCAL_ADDR, PEER_ADDR, NetNamespace
from tcpcheck.tools.runner.packets import Captured, Packet
from tcpcheck.tools.runner.peer import DEFAULT_PAYLOAD
from tcpcheck.tools.runner.profile import Profile
from tcpcheck.tools.runner.stack import CallError, Endpoint, FourTuple, Observation, Stack, StackInfo, TimerSetting
from tcpcheck.tools.runner.tap import PEER_MAC, STACK_MAC, TapWire

VERSION = "0.3.8"
INSTALL = f"PyTCP is not installed: pip install 'tcpcheck[pytcp]' (pmd-pytcp=={VERSION}, Python >= 3.9)"
# A model timer gets at most this much PyTCP time to fire: four times the
# longest of PyTCP's (the FIN_WAIT_2 reap, 60 s; TIME_WAIT is 30 s).
TIMER_LIMIT_SECONDS = 240.0
FIRST_PORT = 20000
_PORTS = 20000
SYN_USER_TIMEOUT_MS = 1  # the retransmission budget becomes max(1, 1 // RTO) = 1
# Pinned like the Linux adapter pins tcp_challenge_ack_limit: PyTCP sends at
# most one challenge ACK (and ACK of a duplicate FIN or SYN,ACK) per session
# per window (tcp__session__tx.py:769-796); with the window at its minimum
# and every delivered packet taking WIRE_DELAY_S of PyTCP time, none is
# suppressed.
SYSCTLS = {"tcp.challenge_ack.rate_limit_ms": 1}
WIRE_DELAY_S = 0.001
SYNC_BOUND_SECONDS = 2.0  # the kernel's hand-over from the TAP to the packet socket, on a loaded machine
_IDLE_ROUNDS = 10_000  # a loop still busy after this many rounds is a bug, not slowness


def pytcp_unavailable() -> str | None:
    """One line saying how to install PyTCP, or None when it is there."""
    if importlib.util.find_spec("pmd_pytcp") is None:
        return INSTALL
    try:
        found = metadata.version("pmd-pytcp")
    except metadata.PackageNotFoundError:
        return INSTALL
    if found != VERSION:
        return f"PyTCP {found} is installed, the adapter and its profile are for {VERSION}: {INSTALL}"
    return None


class VirtualLoop(asyncio.SelectorEventLoop):
    """An asyncio loop whose clock moves only when told (``advance``)."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 1000.0  # seconds; PyTCP only ever takes differences

    def time(self) -> float:
        """The virtual clock (asyncio schedules ``call_at`` against it)."""
        return self.now

    def settle(self) -> None:
        """Run callbacks until none is ready (the clock does not move)."""
        self.run_until_complete(self._idle())

    async def _idle(self) -> None:
        for _ in range(_IDLE_ROUNDS):
            await asyncio.sleep(0)
            if not self._ready:  # type: ignore[attr-defined]  # asyncio's run queue
                return
        raise RuntimeError("PyTCP's event loop never went idle")

    def next_deadline(self) -> float | None:
        """When the earliest live timer is due, or None."""
        scheduled = self._scheduled  # type: ignore[attr-defined]  # asyncio's timer heap, only read
        return min((h.when() for h in scheduled if not h.cancelled()), default=None)

    def advance(self, seconds: float, until: Callable[[], bool] | None = None) -> bool:
        """Move the clock up to ``seconds`` forward, stopping at every
        deadline on the way so each timer fires at its own time, in order;
        stop early (True) once ``until()`` holds after a deadline."""
        return bool(self.run_until_complete(self._advance(self.now + seconds, until)))

    async def _advance(self, target: float, until: Callable[[], bool] | None) -> bool:
        # Runs inside the loop: each deadline costs one loop round, not a
        # run_until_complete (PyTCP ticks every millisecond while a segment
        # is unacknowledged, tcp__session.py:763).
        await self._idle()
        while (due := self.next_deadline()) is not None and due <= target:
            self.now = max(self.now, due)
            await self._idle()
            if until is not None and until():
                return True
        self.now = target
        await self._idle()
        return False


class PytcpStack(Stack):
    """PyTCP in this process, its interface on a TAP in a private namespace."""

    name: ClassVar[str] = "pytcp"
    spontaneous_retransmissions: ClassVar[bool] = True  # only while the runner moves its clock
    expect_bound: ClassVar[float] = 0.1
    quiet_window: ClassVar[float] = 0.005

    # PyTCP keeps its state in module globals (pmd_pytcp.stack).
    _open: ClassVar[bool] = False

    def __init__(self) -> None:
        reason = pytcp_unavailable()
        if reason:
            raise OSError(reason)
        if PytcpStack._open:
            raise OSError("one PyTCP stack per process (PyTCP keeps its state in globals): close the other first")
        import pmd_pytcp.stack as pstack
        from pmd_net_addr import Ip4Address, Ip4IfAddr, MacAddress
        from pmd_pytcp.lib.interface_layer import InterfaceLayer
        from pmd_pytcp.protocols.tcp import tcp__constants
        from pmd_pytcp.protocols.tcp.tcp__stack import TcpStack
        from pmd_pytcp.runtime.timer import Timer

        loop = VirtualLoop()

        class VirtualTimer(Timer):
            """PyTCP's timer, its ``now_ms`` on the virtual clock."""

            @property
            def now_ms(self) -> int:
                return round(loop.time() * 1000)  # the clock moves in whole ms; round off float error

        self.pstack, self.constants, self.loop = pstack, tcp__constants, loop
        self.ns = NetNamespace(link="tap")
        try:
            self.wire = TapWire(self.ns, PEER_ADDR, self._feed)
            # Fresh stack-wide TCP state (the TFO caches: the object PyTCP's
            # own fixtures reset, stack/__init__.py:147-152), with the peer
            # marked as not doing TFO, so every SYN is the same plain SYN
            # (without it only a process's first SYN asks for a cookie).
            pstack.tcp_stack = TcpStack()
            pstack.tcp_stack.mark_fastopen_negative(Ip4Address(PEER_ADDR))
            pstack.init(fd=self.ns.tun_fd, layer=InterfaceLayer.L2, mac_address=MacAddress(STACK_MAC.hex(":")),
                        ip4_dhcp=False, ip6_support=False, sysctls=dict(SYSCTLS))
            pstack.timer = VirtualTimer()
            ifindex, iface = next(iter(pstack.interfaces.items()))
            if iface._rx_ring is None:
                raise OSError("PyTCP: the interface has no RX ring")
            self.rx_ring = iface._rx_ring
            # The Address API installs the address as 'ip addr add' does,
            # without the boot path's RFC 5227 probing (its own packet
            # socket and wall-clock waits, address.py:138).
            pstack.address.interface(ifindex).add(ifaddr=Ip4IfAddr(f"{LOCAL_ADDR}/24"))
            self.link = pstack.link.interface(ifindex)
            pstack.neighbor.interface(ifindex).add(ip=Ip4Address(PEER_ADDR), mac=MacAddress(PEER_MAC.hex(":")))
            self._call(self._start())
        except BaseException:
            self.loop.close()
            if hasattr(self, "wire"):
                self.wire.close()
            self.ns.close()
            raise
        self._count = 0
        PytcpStack._open = True

    async def _start(self) -> None:
        await self.pstack.start()
        self.rx_ring.stop()  # the runner's wire reads the TAP and feeds the ring

    def _call(self, coro: Coroutine[Any, Any, Any]) -> Any:
        """Run ``coro`` on PyTCP's loop, then until the loop is idle."""
        result = self.loop.run_until_complete(coro)
        self.loop.settle()
        return result

    def _feed(self, frame: bytes) -> None:
        async def handle() -> None:
            self.rx_ring._handle_frame(frame)

        self._call(handle())

    def sync(self, bound: float) -> None:
        """Read what PyTCP has sent until the wire has all of it (every
        frame it wrote is on the TAP before its loop went idle; the kernel
        hands it to the packet socket within ``SYNC_BOUND_SECONDS``)."""
        deadline = time.monotonic() + max(bound, SYNC_BOUND_SECONDS)
        while self.wire.bytes_from_stack < self.link.stats.tx_bytes:
            left = deadline - time.monotonic()
            if left <= 0:
                raise OSError(f"PyTCP sent {self.link.stats.tx_bytes} bytes on the TAP, the peer read "
                              f"{self.wire.bytes_from_stack} within {SYNC_BOUND_SECONDS} s")
            self.wire.pump(left)

    def info(self, extra: Mapping[str, str] | None = None) -> StackInfo:
        """PyTCP's version and the TCP constants that decide its timers."""
        c = self.constants
        settings = {
            "TCP__TIME_WAIT__DELAY_MS": str(c.TCP__TIME_WAIT__DELAY_MS),
            "TCP__FIN_WAIT_2__TIMEOUT_MS": str(c.TCP__FIN_WAIT_2__TIMEOUT_MS),
            "TCP__RTO__INITIAL_MS": str(c.TCP__RTO__INITIAL_MS),
            "TCP__DELAYED_ACK__DELAY_MS": str(c.TCP__DELAYED_ACK__DELAY_MS),
            "clock": "virtual, moved by the runner (asyncio loop time)",
            "TCP Fast Open": "off towards the peer (marked TFO-negative)",
            **{k: str(v) for k, v in SYSCTLS.items()},
            "wire delay": f"{WIRE_DELAY_S * 1000:g} ms of PyTCP time per packet the peer sends",
        }
        return StackInfo(VERSION, settings, "pytcp", f"PyTCP {VERSION} (pmd-pytcp, BSD sockets facade over TAP)")

    def profile(self, requested: str | None = None) -> Profile:
        """PyTCP's own profile, whichever a suite was generated for."""
        return super().profile("pytcp")

    def timers(self) -> dict[str, TimerSetting]:
        """Every timer is PyTCP's own, fired by moving its virtual clock."""
        c = self.constants
        how = {
            "timeout_2msl": f"virtual clock moved until TIME_WAIT ends (TCP__TIME_WAIT__DELAY_MS = "
                            f"{c.TCP__TIME_WAIT__DELAY_MS} ms)",
            "timeout_fin_wait_2": f"virtual clock moved until the FIN_WAIT_2 reap (TCP__FIN_WAIT_2__TIMEOUT_MS = "
                                  f"{c.TCP__FIN_WAIT_2__TIMEOUT_MS} ms)",
            "timeout_syn": f"TCP_USER_TIMEOUT={SYN_USER_TIMEOUT_MS} ms on the connecting socket (one SYN "
                           "retransmission, tcp__session__retransmit.py:138); virtual clock moved until it gives up",
        }
        return {t: TimerSetting(t, 0.0, text) for t, text in how.items()}

    @property
    def observer(self) -> str:
        """States are PyTCP's session FSM state, read after every step."""
        return "TcpSession.state read after every step (PyTCP records no transitions)"

    def endpoint(self, settings: Mapping[str, str] | None = None) -> PytcpEndpoint:
        """A fresh flow on new ports. PyTCP has no per-scenario settings: a
        scenario's Linux sysctls do not apply and are not recorded."""
        self._count += 1
        n = self._count % _PORTS
        return PytcpEndpoint(self, FIRST_PORT + n, 40000 + n)

    def close(self) -> None:
        """Stop PyTCP, release the packet socket and the namespace."""
        if not PytcpStack._open:
            return
        try:
            self._call(self.pstack.stop())
        finally:
            self.loop.close()
            self.wire.close()
            self.ns.close()
            PytcpStack._open = False


class PytcpEndpoint(Endpoint):
    """One flow: the application's listener and connection in PyTCP."""

    def __init__(self, stack: PytcpStack, lport: int, rport: int) -> None:
        from pmd_pytcp import socket as psocket

        self.stack = stack
        self.psocket = psocket
        self.flow = FourTuple(LOCAL_ADDR, lport, PEER_ADDR, rport)
        self.settings: dict[str, str] = {}
        self.packets: list[Captured] = stack.wire.open_flow((lport, rport))
        self.last_error = ""
        self.received = b""
        self.listener: Any = None  # the listening socket
        self.conn: Any = None  # the connection's socket (connected, or the listener's child)
        self.held = False  # the application still holds ``conn`` (not closed)
        self._tasks: list[asyncio.Task[Any]] = []
        self.syn_timeout = False
        self._synchronized = False  # the flow has left the handshake
        self._connect_made = False
        self._connected = ""  # what the connect() call returned, once it did

    def prepare_timer(self, timer: str) -> None:
        """A scenario that waits for the SYN timeout connects with
        TCP_USER_TIMEOUT (as the Linux adapter does): one retransmission
        instead of six, a few seconds of PyTCP time instead of 127."""
        if timer == "timeout_syn":
            self.syn_timeout = True

    def _socket(self) -> Any:
        ps = self.psocket
        sock = ps.socket(ps.AF_INET, ps.SOCK_STREAM)
        sock.bind((LOCAL_ADDR, self.flow.lport))
        return sock

    def _child(self) -> Any:
        """The listener's connection for this flow, once PyTCP made one: the
        socket registered on the flow's 4-tuple (a new SYN after a reset
        makes a new one; an accepted connection stays the application's)."""
        if self.listener is not None and not self.held:
            for sid, sock in self.stack.pstack.sockets.items():
                mine = (sid.local_port, sid.remote_port) == (self.flow.lport, self.flow.rport)
                if mine and sock is not self.listener and sock is not self.conn:
                    self.conn, self._synchronized = sock, False
        return self.conn

    def _start(self, coro: Coroutine[Any, Any, Any], op: str) -> None:
        """Start a blocking call as a task; its error lands in ``last_error``
        (and, for connect, what it returned in ``_connected``)."""
        async def run() -> None:
            try:
                await coro
            except OSError as exc:
                self.last_error = _errno_name(exc)
                if op == "connect":
                    self._connected = self.last_error
            else:
                if op == "connect":
                    self._connected = "connected"

        self._tasks.append(self.stack.loop.create_task(run()))
        self.stack.loop.settle()

    def told(self, call: str) -> str | None:
        """What connect() told the application: ``connected``, the errno
        it raised, or EALREADY while it is still waiting. None for recv:
        PyTCP's recv() cannot peek, and reading would take the data a later
        step reads."""
        if call != "connect" or not self._connect_made:
            return None
        return self._connected or "EALREADY"

    def call(self, op: str, arg: str = "") -> None:
        """A socket call through PyTCP's BSD-sockets facade."""
        loop = self.stack.loop
        try:
            if op == "listen":
                self.listener = self._socket()
                self.listener.listen()
            elif op == "connect":
                self.conn = self._socket()
                self.held = True
                if self.syn_timeout:
                    ps = self.psocket
                    self.conn.setsockopt(ps.IPPROTO_TCP, ps.TCP_USER_TIMEOUT, SYN_USER_TIMEOUT_MS)
                self._connect_made = True
                self._start(self.conn.connect((PEER_ADDR, self.flow.rport)), op)
            elif op == "accept":
                if self.listener is None:
                    raise CallError("accept without listen")
                try:
                    sock, _ = self.stack._call(self.listener.accept(timeout=0))
                except TimeoutError as exc:
                    raise CallError("accept: no established connection is queued") from exc
                self.conn, self.held = sock, True
            elif op in ("close", "abort"):
                target = self.conn if self.held else self.listener
                if target is None:
                    raise CallError("no socket to act on: listen or connect first")
                target.close() if op == "close" else target.abort()
                if target is self.conn:
                    self.held = False
            elif op == "shutdown_wr":
                if not self.held:
                    raise CallError("shutdown_wr without a connection")
                self.conn.shutdown(self.psocket.SHUT_WR)
            elif op == "send":
                if not self.held:
                    raise CallError("send without a connection")
                data = arg.encode() if arg else DEFAULT_PAYLOAD
                self._start(self.conn.send(data), op)
            elif op == "recv":
                if not self.held:
                    raise CallError("recv without a connection")
                try:
                    self.received += self.stack._call(self.conn.recv(65536, timeout=0))
                except TimeoutError:
                    pass  # nothing to read yet
            else:
                raise CallError(f"PyTCP adapter has no call {op!r}")
        except OSError as exc:
            if op in ("listen", "connect"):
                raise CallError(f"{op} failed: {_errno_name(exc)}") from exc
            self.last_error = _errno_name(exc)
        loop.settle()

    def deliver(self, packet: Packet) -> None:
        """Send the peer's packet on the TAP; PyTCP processes it (and
        answers) before this returns; it arrives WIRE_DELAY_S after the
        last thing PyTCP did."""
        self.stack.loop.advance(WIRE_DELAY_S)
        self.stack.wire.send(packet)
        self._child()  # a SYN to the listener made one: hold it before a RST ends it

    def receive(self, timeout: float) -> Packet | None:
        """The next packet PyTCP sent on this flow. PyTCP sends only while
        the runner runs its loop, and counts every byte it sends (its link
        statistics), so the wait is exact: until the wire has read all of
        it, not a quiet window. When nothing is waiting, PyTCP's clock moves
        by its delayed-ACK delay (a delayed ACK is due by then) first."""
        key = (self.flow.lport, self.flow.rport)
        self.stack.sync(timeout)
        item = self.stack.wire.receive(key, 0)
        if item is None and timeout > 0:
            # + 1 ms: PyTCP services a due timer on its next 1 ms tick
            # (tcp__session__timers.py:195-205).
            self.stack.loop.advance((self.stack.constants.TCP__DELAYED_ACK__DELAY_MS + 1) / 1000)
            self.stack.sync(timeout)
            item = self.stack.wire.receive(key, 0)
        return item.packet if item is not None else None

    def observe(self) -> Observation:
        """The flow's session state (``TcpSession.state``). A passively
        opened flow whose session ended before it was synchronized (a RST
        in SYN_RCVD) is back to the listener's state, as RFC 9293 says
        ("return this connection to LISTEN") and as Linux's and lwIP's
        lookups by 4-tuple see it: PyTCP keeps the listener and drops the
        child (tcp__fsm__syn_rcvd.py:239-253)."""
        conn = self._child()
        if conn is not None and conn.tcp_session is not None:
            state = str(conn.tcp_session.state.name)
            if state not in ("LISTEN", "SYN_SENT", "SYN_RCVD", "CLOSED"):
                self._synchronized = True
            if state != "CLOSED" or self.listener is None or self._synchronized:
                return Observation(state, "TcpSession", state)
        if self.listener is not None and conn is not self.listener:
            state = str(self.listener.state.name)
            detail = "the flow's session is gone; the listener's" if conn is not None else "listener"
            return Observation(state, "TcpSession", f"{state} ({detail})")
        return Observation("CLOSED", "TcpSession", "no session")

    def elapse(self, timer: str) -> Observation:
        """Move PyTCP's clock to each due deadline in turn until the state
        changes, at most TIMER_LIMIT_SECONDS of PyTCP time."""
        before = self.observe().state
        self.stack.loop.advance(TIMER_LIMIT_SECONDS, lambda: self.observe().state != before)
        self.stack.sync(0)  # capture what it sent meanwhile (retransmissions), in order
        return self.observe()

    def close(self, reset: Packet | None = None) -> None:
        """Abort what PyTCP still holds of the flow (the application's
        sockets and any child the listener made that was never accepted, so
        nothing of it runs on while later scenarios move the clock) and
        close the listener."""
        held = [sock for sid, sock in self.stack.pstack.sockets.items() if sid.local_port == self.flow.lport]
        for sock in (self.conn, *held, self.listener):
            if sock is not None and sock.tcp_session is not None and sock.state.name != "CLOSED":
                sock.abort()
        for task in self._tasks:
            task.cancel()
        self.stack.loop.settle()
        self.stack.wire.close_flow((self.flow.lport, self.flow.rport))


def _errno_name(exc: OSError) -> str:
    import errno

    return errno.errorcode.get(exc.errno or 0, type(exc).__name__)
