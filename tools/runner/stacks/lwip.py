"""lwIP (Debian's liblwip 2.1.3) as a stack under test, over a TAP device
in a private network namespace.

lwIP runs inside this process through its raw TCP API (``tcp_new``,
``tcp_bind``, ``tcp_listen``, ``tcp_connect``, ``tcp_close``,
``tcp_shutdown``, ``tcp_abort`` and the accept, receive and error
callbacks), bridged by a small C file (``lwip_shim.c``) that the system's
compiler builds against the installed headers at first use: the layouts
of ``struct netif`` and ``struct tcp_pcb`` depend on the library's build
options, so only the compiler can be trusted with them.

Deterministic by construction: ``lwip_init`` without ``tcpip_init``
starts no thread and no timer. lwIP's clock moves only when the runner
calls its TCP timer: ``tcp_fasttmr`` (delayed ACKs) while waiting for an
expected segment, ``tcp_tmr`` (250 ms of lwIP time each, retransmissions,
TIME_WAIT, the FIN_WAIT_2 timeout) when a scenario says ``elapse``. States
are read from lwIP's own PCB lists by 4-tuple (``tcp_active_pcbs``,
``tcp_tw_pcbs``, ``tcp_listen_pcbs``), like sock_diag on Linux.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Mapping
from functools import cache
from importlib import resources
from pathlib import Path
from typing import ClassVar

from tcpcheck.tools.runner.netns import LOCAL_ADDR, NETMASK, PEER_ADDR, NetNamespace
from tcpcheck.tools.runner.packets import Captured, Packet
from tcpcheck.tools.runner.peer import DEFAULT_PAYLOAD
from tcpcheck.tools.runner.profile import Profile
from tcpcheck.tools.runner.stack import CallError, Endpoint, FourTuple, Observation, Stack, StackInfo, TimerSetting
from tcpcheck.tools.runner.tap import STACK_MAC, TapWire

HEADER = "/usr/include/lwip/lwip/tcp.h"
INSTALL = "lwIP is not installed: apt-get install liblwip-dev gcc (Debian's lwIP 2.1.3 and a C compiler)"
# enum tcp_state (lwip/tcpbase.h) uses the RFC's names.
STATES = ("CLOSED", "LISTEN", "SYN_SENT", "SYN_RCVD", "ESTABLISHED", "FIN_WAIT_1", "FIN_WAIT_2",
          "CLOSE_WAIT", "CLOSING", "LAST_ACK", "TIME_WAIT")
ERRORS = {-1: "ERR_MEM", -2: "ERR_BUF", -3: "ERR_TIMEOUT", -4: "ERR_RTE", -5: "ERR_INPROGRESS", -6: "ERR_VAL",
          -7: "ERR_WOULDBLOCK", -8: "ERR_USE", -9: "ERR_ALREADY", -10: "ERR_ISCONN", -11: "ERR_CONN",
          -12: "ERR_IF", -13: "ERR_ABRT", -14: "ERR_RST", -15: "ERR_CLSD", -16: "ERR_ARG"}
NO_SOCKET = 1  # the shim's answer when lwIP no longer holds the connection
# A model timer gets at most this much lwIP time to fire: four times the
# longest of lwIP's (TIME_WAIT, 2 * TCP_MSL = 120 s).
TIMER_LIMIT_SECONDS = 480.0
FIRST_PORT = 20000
_PORTS = 20000


def lwip_unavailable() -> str | None:
    """One line saying how to install lwIP, or None when it can be built."""
    if not os.path.exists(HEADER) or shutil.which("gcc") is None:
        return INSTALL
    try:
        _shim()
    except OSError as exc:
        return f"cannot build the lwIP bridge ({exc}); {INSTALL}"
    return None


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "tcpcheck"


@cache
def _shim() -> ctypes.CDLL:
    """The compiled bridge, built once per source (cached by its hash)."""
    source = resources.files("tcpcheck.tools.runner.stacks").joinpath("lwip_shim.c").read_bytes()
    digest = hashlib.sha256(source + Path(HEADER).read_bytes()).hexdigest()[:16]
    target = _cache_dir() / f"lwip_shim-{digest}.so"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
            src = Path(tmp) / "lwip_shim.c"
            src.write_bytes(source)
            built = Path(tmp) / target.name
            done = subprocess.run(["gcc", "-O1", "-shared", "-fPIC", "-I/usr/include/lwip", "-o", str(built),
                                   str(src), "-llwip"], capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise OSError(f"gcc: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else 'failed'}")
            os.replace(built, target)  # atomic: concurrent workers may build it too
    lib = ctypes.CDLL(str(target))
    p = ctypes.c_void_p
    for name, args, ret in (
        ("tc_init", [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32, ctypes.c_uint32], ctypes.c_int),
        ("tc_input", [ctypes.c_char_p, ctypes.c_int], ctypes.c_int),
        ("tc_conn_new", [ctypes.c_uint16, ctypes.c_uint32, ctypes.c_uint16], p),
        ("tc_state", [p], ctypes.c_int), ("tc_listen", [p], ctypes.c_int), ("tc_connect", [p], ctypes.c_int),
        ("tc_accept", [p], ctypes.c_int), ("tc_close", [p], ctypes.c_int), ("tc_shutdown_wr", [p], ctypes.c_int),
        ("tc_abort", [p], ctypes.c_int), ("tc_send", [p, ctypes.c_char_p, ctypes.c_int], ctypes.c_int),
        ("tc_recv", [p, ctypes.c_char_p, ctypes.c_int], ctypes.c_int), ("tc_teardown", [p], None),
        ("tc_tmr", [], None), ("tc_fasttmr", [], None), ("tc_ticks", [], ctypes.c_uint32),
        ("tc_tmr_interval_ms", [], ctypes.c_uint32), ("tc_msl_ms", [], ctypes.c_uint32),
        ("tc_fin_wait_timeout_ms", [], ctypes.c_uint32), ("tc_synmaxrtx", [], ctypes.c_int),
        ("tc_version", [], ctypes.c_char_p),
    ):
        fn = getattr(lib, name)
        fn.argtypes, fn.restype = args, ret
    return lib


def _addr(text: str) -> int:
    """An IPv4 address as lwIP stores it (network byte order in a u32)."""
    return int.from_bytes(socket.inet_aton(text), "little")


class LwipStack(Stack):
    """lwIP in this process, its netif on a TAP in a private namespace."""

    name: ClassVar[str] = "lwip"
    # lwIP retransmits only while the runner advances its clock (elapse).
    spontaneous_retransmissions: ClassVar[bool] = True
    expect_bound: ClassVar[float] = 0.1
    quiet_window: ClassVar[float] = 0.005

    # lwIP keeps its state in C globals: one netif, one set of PCB lists.
    _open: ClassVar[bool] = False

    def __init__(self) -> None:
        reason = lwip_unavailable()
        if reason:
            raise OSError(reason)
        if LwipStack._open:
            raise OSError("one lwIP stack per process (lwIP keeps its state in globals): close the other first")
        self.lib = _shim()
        self.ns = NetNamespace(link="tap")
        try:
            self.wire = TapWire(self.ns, PEER_ADDR, self._feed)
            if self.lib.tc_init(self.ns.tun_fd, STACK_MAC, _addr(LOCAL_ADDR), _addr(NETMASK)) != 0:
                raise OSError("lwIP: netif_add failed")
        except BaseException:
            self.ns.close()
            raise
        self.tick_seconds = self.lib.tc_tmr_interval_ms() / 1000
        self._count = 0
        LwipStack._open = True

    def _feed(self, frame: bytes) -> None:
        self.lib.tc_input(frame, len(frame))

    def info(self, extra: Mapping[str, str] | None = None) -> StackInfo:
        """lwIP's version and the build options that decide its timers."""
        lib = self.lib
        version = lib.tc_version().decode()
        settings = {
            "TCP_MSL": f"{lib.tc_msl_ms()} ms",
            "TCP_FIN_WAIT_TIMEOUT": f"{lib.tc_fin_wait_timeout_ms()} ms",
            "TCP_SYNMAXRTX": str(lib.tc_synmaxrtx()),
            "TCP_TMR_INTERVAL": f"{lib.tc_tmr_interval_ms()} ms",
            "clock": "advanced by the runner (tcp_tmr, tcp_fasttmr)",
        }
        return StackInfo(version, settings, "lwip", f"lwIP {version} (Debian liblwip0, raw API over TAP)")

    def profile(self, requested: str | None = None) -> Profile:
        """lwIP's own profile, whichever a suite was generated for."""
        return super().profile("lwip")

    def timers(self) -> dict[str, TimerSetting]:
        """Every timer is lwIP's own, fired by advancing its clock (no wall time)."""
        lib = self.lib
        how = {
            "timeout_2msl": f"tcp_tmr() until TIME_WAIT ends (2 * TCP_MSL = {2 * lib.tc_msl_ms() // 1000} s "
                            "of lwIP time)",
            "timeout_fin_wait_2": f"tcp_tmr() until the FIN_WAIT_2 timeout (TCP_FIN_WAIT_TIMEOUT = "
                                  f"{lib.tc_fin_wait_timeout_ms() // 1000} s of lwIP time; only after tcp_close)",
            "timeout_syn": f"tcp_tmr() until TCP_SYNMAXRTX = {lib.tc_synmaxrtx()} SYN retransmissions are spent",
        }
        return {t: TimerSetting(t, 0.0, text) for t, text in how.items()}

    def endpoint(self, settings: Mapping[str, str] | None = None) -> LwipEndpoint:
        """A fresh flow on new ports. lwIP has no per-scenario settings: a
        scenario's Linux sysctls do not apply and are not recorded."""
        self._count += 1
        n = self._count % _PORTS
        return LwipEndpoint(self, FIRST_PORT + n, 40000 + n)

    def close(self) -> None:
        """Release the packet socket and the namespace (the TAP with it)."""
        if not LwipStack._open:
            return
        self.wire.close()
        self.ns.close()
        LwipStack._open = False


class LwipEndpoint(Endpoint):
    """One flow: the application's listener and connection in lwIP."""

    def __init__(self, stack: LwipStack, lport: int, rport: int) -> None:
        self.stack = stack
        self.lib = stack.lib
        self.flow = FourTuple(LOCAL_ADDR, lport, PEER_ADDR, rport)
        self.settings: dict[str, str] = {}
        self.conn = self.lib.tc_conn_new(lport, _addr(PEER_ADDR), rport)
        if not self.conn:
            raise OSError("lwIP: out of memory")
        self.packets: list[Captured] = stack.wire.open_flow((lport, rport))
        self.last_error = ""
        self.received = b""
        # What the application holds, as a socket API would: the listener
        # and the connection stay "open" until closed, even when lwIP has
        # already freed the PCB behind them (a RST, a timeout).
        self.listening = False
        self.connected = False
        self._synchronized = False  # the flow has left the handshake

    def call(self, op: str, arg: str = "") -> None:
        """A socket call, made with the raw API (see ``lwip_shim.c``)."""
        lib, c = self.lib, self.conn
        if op == "listen":
            self._check(lib.tc_listen(c), op, fatal=True)
            self.listening = True
        elif op == "connect":
            self._check(lib.tc_connect(c), op, fatal=True)
            self.connected = True
        elif op == "accept":
            if not self.listening:
                raise CallError("accept without listen")
            if not lib.tc_accept(c):
                raise CallError("accept: no established connection is queued")
            self.connected = True
        elif op in ("close", "abort"):
            if not (self.connected or self.listening):
                raise CallError("no socket to act on: listen or connect first")
            self._check(lib.tc_close(c) if op == "close" else lib.tc_abort(c), op)
            if self.connected:
                self.connected = False
            else:
                self.listening = False
        elif op == "shutdown_wr":
            if not self.connected:
                raise CallError("shutdown_wr without a connection")
            self._check(lib.tc_shutdown_wr(c), op)
        elif op == "send":
            if not self.connected:
                raise CallError("send without a connection")
            data = arg.encode() if arg else DEFAULT_PAYLOAD
            self._check(lib.tc_send(c, data, len(data)), op)
        elif op == "recv":
            if not self.connected:
                raise CallError("recv without a connection")
            buf = ctypes.create_string_buffer(65536)
            n = lib.tc_recv(c, buf, len(buf))
            self.received += buf.raw[:n]
        else:
            raise CallError(f"lwIP adapter has no call {op!r}")

    def _check(self, err: int, op: str, fatal: bool = False) -> None:
        if err == 0:
            return
        text = "the connection is gone (lwIP freed its PCB)" if err == NO_SOCKET else ERRORS.get(err, str(err))
        if fatal:
            raise CallError(f"{op} failed: {text}")
        self.last_error = text

    def deliver(self, packet: Packet) -> None:
        """Send the peer's packet on the TAP; lwIP processes it (and answers)
        before this returns."""
        self.stack.wire.send(packet)

    def receive(self, timeout: float) -> Packet | None:
        """The next packet lwIP sent on this flow. When none is waiting,
        lwIP's fast timer runs once (a delayed ACK is due within 250 ms of
        lwIP time, TCP_TMR_INTERVAL) before the bounded wait."""
        key = (self.flow.lport, self.flow.rport)
        item = self.stack.wire.receive(key, 0)
        if item is None and timeout > 0:
            self.lib.tc_fasttmr()
            item = self.stack.wire.receive(key, timeout)
        return item.packet if item is not None else None

    def observe(self) -> Observation:
        """lwIP's state of the flow, from its PCB lists by 4-tuple."""
        n = self.lib.tc_state(self.conn)
        if n < 0:
            return Observation("CLOSED", "tcp_pcb", "no PCB")
        state = STATES[n]
        if state == "LISTEN" and self._synchronized:
            # The flow's PCB is gone; the listener it came from is not the
            # flow's state (as Linux's sock_diag by 4-tuple would say).
            return Observation("CLOSED", "tcp_pcb", "no PCB (the listener is still open)")
        if state not in ("LISTEN", "SYN_SENT", "SYN_RCVD"):
            self._synchronized = True
        return Observation(state, "tcp_pcb", f"{state} ({'tcp_tw_pcbs' if n == 10 else 'tcp_active_pcbs'})"
                           if state != "LISTEN" else "LISTEN (tcp_listen_pcbs)")

    def elapse(self, timer: str) -> Observation:
        """Advance lwIP's clock one ``tcp_tmr`` (250 ms) at a time until the
        state changes, at most TIMER_LIMIT_SECONDS of lwIP time."""
        before = self.observe().state
        for _ in range(int(TIMER_LIMIT_SECONDS / self.stack.tick_seconds)):
            self.lib.tc_tmr()
            seen = self.observe()
            if seen.state != before:
                return seen
        return self.observe()

    def close(self, reset: Packet | None = None) -> None:
        """Abort what lwIP still holds of the flow (no RST reaches the
        pcap: it is taken after the scenario) and close the listener."""
        if self.conn:
            self.lib.tc_teardown(self.conn)  # frees it
            self.conn = None
        self.stack.wire.close_flow((self.flow.lport, self.flow.rport))
