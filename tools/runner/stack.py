"""The stack interface: what a TCP stack under test must offer the runner.

The runner plays the remote peer (``peer``: sequence numbers, the model's
segment vocabulary turned into packets) and judges what it sees (``judge``,
``profile``) the same way for every stack. An adapter offers only what
differs between stacks, in two classes (like AALpy's system under learning):

* ``Stack``: one per process. It makes a fresh ``Endpoint`` per scenario,
  describes itself (``info``), says how its timers are set (``timers``),
  names the profile that documents its deviations, and releases what it
  holds on ``close``.
* ``Endpoint``: one scenario's connection on a fresh 4-tuple, so nothing
  carries over between scenarios. It makes the socket calls (``call``),
  carries packets both ways (``deliver`` the peer's, ``receive`` the
  stack's: the link, TUN, TAP or none, is the adapter's business), reads
  the endpoint's RFC state (``observe``) and lets a timer fire
  (``elapse``).

Adapters live in ``tools/runner/stacks/``, one file each (``linux``: the
kernel over a TUN device in a private namespace; ``model``: a spec run
in-process); a new stack is one file there and one line in its registry.
Nothing in this module does I/O.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, ClassVar, Self

if TYPE_CHECKING:
    from tcpcheck.tools.runner.harness import Conversation
    from tcpcheck.tools.runner.packets import Captured, Packet
    from tcpcheck.tools.runner.profile import Profile
    from tcpcheck.tools.scenario import Scenario

# A timer whose bound is longer than this is waited out only on request
# (``tcpcheck run --slow``, pytest ``-m slow``): Linux TIME_WAIT is 60 s.
SLOW_TIMER_SECONDS = 10.0


class CallError(RuntimeError):
    """A socket call could not be made (e.g. accept with nothing queued)."""


@dataclass(frozen=True)
class FourTuple:
    """A connection seen from the stack: its address and port, the peer's."""

    local: str
    lport: int
    remote: str
    rport: int


@dataclass(frozen=True)
class Observation:
    """A state seen, how it was seen, and the stack's own name for it."""

    state: str
    method: str  # "TCP_INFO", "sock_diag", "model", ...
    kernel: str = ""  # the stack's own name for the state, when it has one

    def text(self) -> str:
        """``TIME_WAIT (sock_diag: TIME_WAIT)``."""
        detail = f"{self.method}: {self.kernel}" if self.kernel else self.method
        return f"{self.state} ({detail})"


@dataclass(frozen=True)
class Change:
    """One state change as the stack itself recorded it (Linux: the
    ``sock:inet_sock_set_state`` tracepoint), not sampled afterwards."""

    old: str
    new: str
    source: str = "trace"  # or how a change the stack does not record was seen ("sock_diag")
    detail: str = ""  # e.g. the profile note an untraced change relies on


def path_text(changes: list[Change]) -> str:
    """``ESTABLISHED -> FIN_WAIT_1 -> CLOSING -> TIME_WAIT`` (a change not
    from the trace says how it was seen: ``-> TIME_WAIT (sock_diag)``)."""
    if not changes:
        return ""
    out = [changes[0].old]
    for c in changes:
        if c.old != out[-1].split(" ", 1)[0]:
            out.append(f"{c.old} (not seen)")
        out.append(c.new if c.source == "trace" else f"{c.new} ({c.source})")
    return " -> ".join(out)


@dataclass(frozen=True)
class TimerSetting:
    """How one model timer is made to fire on a stack."""

    timer: str
    bound: float  # seconds the runner waits for it at most (0: it fires when asked)
    how: str  # e.g. "sysctl tcp_fin_timeout=1", "fired by the runner"


@dataclass(frozen=True)
class StackInfo:
    """What every result records about the stack under test."""

    release: str  # kernel release, library version, spec file
    settings: dict[str, str]  # what is in force (sysctls, options)
    name: str = "linux"
    description: str = ""
    observer: str = ""  # how states are seen: traced, or sampled and why

    @property
    def kernel(self) -> str:
        """The release (the name the Linux-only first version used)."""
        return self.release

    @property
    def sysctls(self) -> dict[str, str]:
        """The settings (the name the Linux-only first version used)."""
        return self.settings

    def title(self) -> str:
        """The adapter's description, else ``Linux 6.1.0``."""
        return self.description or f"{self.name.capitalize()} {self.release}"


class Endpoint(ABC):
    """One scenario's connection on the stack under test."""

    flow: FourTuple
    settings: dict[str, str]  # the scenario's own settings, as the stack names them
    packets: list[Captured]  # every packet of the flow, both directions, in order
    last_error: str  # what the last call said at the API ("" when it succeeded)
    received: bytes  # the data ``recv`` calls returned so far

    @abstractmethod
    def call(self, op: str, arg: str = "") -> None:
        """Make socket call ``op`` (the scenario vocabulary: listen, connect,
        accept, close, shutdown_wr, abort, send, recv). An error the API
        reports goes to ``last_error``; CallError when the call cannot be
        made at all."""

    @abstractmethod
    def deliver(self, packet: Packet) -> None:
        """Hand the peer's ``packet`` (IPv4/TCP) to the stack."""

    @abstractmethod
    def receive(self, timeout: float) -> Packet | None:
        """The next packet the stack sent on this flow, waiting at most
        ``timeout`` seconds; None when none came."""

    @abstractmethod
    def observe(self) -> Observation:
        """The RFC state of the endpoint now, and how it was seen."""

    @abstractmethod
    def elapse(self, timer: str) -> Observation:
        """Let model timer ``timer`` fire (wait for it with its bound, or fire
        it); the observation after. The runner judges whether it moved."""

    def changes(self) -> list[Change]:
        """Every state change of the endpoint up to the last ``observe``, in
        order, when the stack records them itself (empty when it does not:
        states are then only sampled by ``observe``)."""
        return []

    def told(self, call: str) -> str | None:
        """What socket call ``call`` (``recv``, ``connect``) tells the
        application now: an errno name, ``EOF``, ``EAGAIN`` or
        ``connected``; None when the stack cannot say (no descriptor, or an
        adapter without a sockets API). The runner compares it with the
        profile's ``[[signal]]`` entries."""
        return None

    def timer_left(self, timer: str) -> int | None:
        """Milliseconds left on ``timer`` (a [[timer]] of specs/timed.toml,
        e.g. ``time_wait``) of the connection now; None when the stack
        cannot say or the timer does not run."""
        return None

    def timer_reading(self, timer: str) -> tuple[int, int | None] | None:
        """``timer_left`` with the stack's clock at that moment in whole
        ticks (what the timer's expiry is counted on), None for the clock
        when the stack cannot say it exactly."""
        left = self.timer_left(timer)
        return None if left is None else (left, None)

    def timer_tick_ms(self) -> float | None:
        """The step in which ``timer_left`` moves (the stack's clock tick),
        in ms; None when unknown."""
        return None

    def prepare_timer(self, timer: str) -> None:  # noqa: B027 (optional hook)
        """The scenario will let ``timer`` fire: shorten it if the stack can
        (called before the first step)."""

    @abstractmethod
    def close(self, reset: Packet | None = None) -> None:
        """Tear the connection down so the next scenario starts clean;
        ``reset`` is a RST the peer may send to end what the stack still
        holds of the flow (e.g. an orphan retransmitting its FIN)."""


class Stack(ABC):
    """A TCP stack under test: one per process, a fresh endpoint per scenario."""

    name: ClassVar[str]
    # A stack with its own retransmission timers may resend a SYN or FIN at
    # any time; the runner then skips such copies instead of judging them.
    spontaneous_retransmissions: ClassVar[bool] = True
    # Plays scenarios with several connections (tools/runner/crowd.py: the
    # Linux namespace, observed with sock_diag dumps).
    several_connections: ClassVar[bool] = False
    # How long an expected segment may take, and how long "nothing" is
    # listened for. Linux answers before the injecting write returns.
    expect_bound: ClassVar[float] = 0.1
    quiet_window: ClassVar[float] = 0.001

    def cannot_inject(self, segment: str, variant: str) -> str:
        """Why the peer cannot hand this stack ``segment`` (``variant``, a case of
        specs/acceptability.toml): '' when it can. A stack whose segments carry less
        than the wire (the model stack) says what it lacks, and a scenario that needs
        it is not drivable there."""
        return ""

    def can_set(self, name: str) -> bool:
        """The adapter can put setting ``name`` (as scenarios name it, e.g.
        ``tcp_rfc1337``) in force for one endpoint; otherwise a scenario
        that needs it runs only where the profile's [[setting]] says the
        stack has it, and is not drivable elsewhere."""
        return False

    @property
    def base_settings(self) -> dict[str, str]:
        """Settings in force for every endpoint (profile conditions test them
        together with the scenario's own)."""
        return {}

    @abstractmethod
    def endpoint(self, settings: Mapping[str, str] | None = None) -> Endpoint:
        """A fresh endpoint (new 4-tuple), with the scenario's ``settings``
        in force for its lifetime."""

    @abstractmethod
    def info(self, extra: Mapping[str, str] | None = None) -> StackInfo:
        """Describe the stack: release and the settings in force (plus those
        named in ``extra``)."""

    @abstractmethod
    def timers(self) -> dict[str, TimerSetting]:
        """How each model timer it supports is set, by timer name."""

    def profile(self, requested: str | None = None) -> Profile:
        """The profile that judges this stack (``requested``: a shipped
        profile name; by default the one named after the stack)."""
        return _shipped_profile(requested or self.name)

    @property
    def observer(self) -> str:
        """How the endpoint's states are seen (one line, for every result)."""
        return "sampled after every step"

    def needs_wait(self, scenario: Scenario) -> bool:
        """The scenario waits for a timer this stack cannot shorten."""
        from tcpcheck.tools.scenario import Elapse

        timers = self.timers()
        return any(isinstance(s, Elapse) and s.timer in timers and timers[s.timer].bound > SLOW_TIMER_SECONDS
                   for s in scenario.steps)

    def conversation(self, settings: Mapping[str, str] | None = None) -> Conversation:
        """A fresh endpoint with the runner's peer and waiting rules around it."""
        from tcpcheck.tools.runner.harness import Conversation

        return Conversation(self, self.endpoint(settings))

    def close(self) -> None:  # noqa: B027 (optional hook)
        """Release what the stack holds."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@cache
def _shipped_profile(name: str) -> Profile:
    from tcpcheck.model.spec import embedded_spec
    from tcpcheck.tools.runner.profile import load_profile, profile_path

    spec = embedded_spec()
    return load_profile(profile_path(name), {t.id for t in spec.transitions}, spec.told_calls)
