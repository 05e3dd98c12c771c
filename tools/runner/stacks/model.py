"""A spec as the stack under test: the model stack.

The endpoint machine of a spec (the embedded RFC 9293 one, or a mutant)
runs in-process (``tcpcheck.model.endpoint``), no kernel, no namespace:
it is handed the peer's packets, answers with packets, reports its state
and fires a timer when the scenario says ``elapse``. The runner's peer and
judge see it exactly as they see Linux, so a suite's verdicts on the model
stack say what the suite can tell about the spec it runs; the mutation
analysis runs every generated suite against every mutant this way.

The spec has no sequence numbers; the adapter supplies the few a wire needs
and reads no more from the peer's segments than the model's vocabulary
distinguishes:

* a received segment is its flags plus whether its ACK covers our SYN and
  our FIN (``compose.wire_alphabet``); one the vocabulary has no name for
  (e.g. a RST,ACK whose ACK misses our SYN) is dropped, as the spec drops a
  segment it has no transition for;
* sending: our SYN at our ISS (a SYN,ACK from SYN_SENT or SYN_RCVD repeats
  it; a SYN from anywhere else starts a new incarnation above the old
  sequence space), a FIN at SND.NXT (once), an ACK field of RCV.NXT, which
  a SYN or FIN the machine accepted advances; a RST outside a connection is
  formed from the segment it answers (RFC 9293 §3.10.7.1).

It never retransmits and answers at once, so nothing is waited for.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

from tcpcheck.model.compose import Wire, wire_alphabet
from tcpcheck.model.endpoint import EndpointMachine, Local, Outcome
from tcpcheck.model.spec import Spec, load_spec
from tcpcheck.tools.runner.packets import ACK, FIN, MASK32, RST, SYN, Captured, Packet
from tcpcheck.tools.runner.peer import BAD_ACK, NEW_INCARNATION, seq_after
from tcpcheck.tools.runner.profile import ANY, Profile, Setting
from tcpcheck.tools.runner.stack import CallError, Endpoint, FourTuple, Observation, Stack, StackInfo, TimerSetting

LOCAL_ADDR = "198.18.0.1"  # the same addresses as the Linux namespace, for readable pcaps
PEER_ADDR = "198.18.0.2"
FIRST_PORT = 20000
_PORTS = 20000
_FLAGS = (("SYN", SYN), ("ACK", ACK), ("FIN", FIN), ("RST", RST))


def _covers(ack: int, first: int, last: int) -> bool:
    """``first <= ack <= last`` in sequence space."""
    return not seq_after(first, ack) and not seq_after(ack, last)


class ModelStack(Stack):
    """The endpoint machine of a spec, run in-process."""

    name: ClassVar[str] = "model"
    spontaneous_retransmissions: ClassVar[bool] = False
    expect_bound: ClassVar[float] = 0.0
    quiet_window: ClassVar[float] = 0.0

    def cannot_inject(self, segment: str, variant: str) -> str:
        """DATA and the variants that place a sequence number: the spec has neither (its
        segments are flags and which of our SYN and FIN they acknowledge, which a ``bad_ack``
        variant changes and the adapter reads). Those cases are the timed model's
        (specs/acceptability.toml); here they would fail for what the spec leaves out."""
        if segment == "DATA":
            return "the spec's segments carry no data"
        if variant and variant != BAD_ACK:
            return f"the spec has no sequence numbers, which {segment} ({variant}) is about"
        return ""

    def __init__(self, spec: Spec | str | Path | None = None, options: Mapping[str, bool] | None = None,
                 profile: str | None = "linux", capture: bool = True, machine: EndpointMachine | None = None) -> None:
        """``spec``: a Spec or a spec/mutant file (default: the embedded one).
        ``options``: spec options; by default those of ``profile``, the
        profile the suites were generated for. ``capture``: keep every
        packet (for pcaps); the mutation analysis turns it off.
        ``machine``: an ``EndpointMachine`` already built (then ``spec``
        and ``options`` are its own)."""
        if machine is not None:
            self.spec = machine.spec
            self.options = {**self.spec.options, **machine.options.spec_options}
        else:
            self.spec = spec if isinstance(spec, Spec) else load_spec(spec)
            chosen = dict(_profile_options(profile) if profile else {})
            chosen.update(options or {})
            self.options = {**self.spec.options, **chosen}
        self.machine = machine or EndpointMachine(self.spec, self.options)
        self.capture = capture
        self.by_id = {t.id: t for t in self.spec.transitions}
        self.alphabet = wire_alphabet(self.spec)
        self._wire_of = {(w.flags, w.acks_syn, w.acks_fin): name for name, w in self.alphabet.items()}
        self._calls = {op: e.name for e in self.spec.events.values() if e.kind == "call" for op in e.socket}
        self._count = 0
        self.last_endpoint: ModelEndpoint | None = None  # the latest made: what its run fired

    def endpoint(self, settings: Mapping[str, str] | None = None) -> ModelEndpoint:
        """A fresh endpoint in the spec's initial state."""
        self._count += 1
        n = self._count % _PORTS
        made = ModelEndpoint(self, FourTuple(LOCAL_ADDR, FIRST_PORT + n, PEER_ADDR, 40000 + n), dict(settings or {}))
        self.last_endpoint = made
        return made

    def info(self, extra: Mapping[str, str] | None = None) -> StackInfo:
        """The spec file and the options it runs with."""
        settings = {k: "on" if v else "off" for k, v in sorted(self.options.items())}
        return StackInfo(self.spec.path, settings, "model", f"model stack: {self.spec.name} from {self.spec.path}")

    def timers(self) -> dict[str, TimerSetting]:
        """Every timer of the spec fires the moment the scenario says so."""
        return {e.name: TimerSetting(e.name, 0.0, "fired by the runner at once")
                for e in self.spec.events.values() if e.kind == "timer"}

    def profile(self, requested: str | None = None) -> Profile:
        """No deviations: any difference from the scenario is a failure. Of
        the settings a scenario may need, only those that shorten a timer on
        Linux (the generator's TIMER_SYSCTLS) are the model's: it fires its
        timers itself."""
        from tcpcheck.tools.generate.drivable import TIMER_SYSCTLS

        fired = {name: Setting(name, ANY, f"the model fires {timer} itself")
                 for timer, sysctls in TIMER_SYSCTLS.items() for name in sysctls}
        return Profile("model", f"model stack ({self.spec.path})", path="", options=dict(self.options),
                       settings=fired, runs_the_spec=True)

    def wire(self, name: str) -> Wire:
        """The segment called ``name`` in the model's vocabulary."""
        return self.alphabet[name]


def accept_refused(spec: Spec, state: str, listened: bool) -> str:
    """Why ``accept`` cannot be made in ``state`` ('' when it can): the
    listener hands over a connection once the handshake is over."""
    if not listened:
        return "accept without listen"
    if state == "SYN_RCVD" or not spec.state(state).synchronized:
        return "accept: no established connection is queued"
    return ""


def _profile_options(profile: str) -> dict[str, bool]:
    from tcpcheck.tools.runner.profile import load_profile, profile_path

    path = profile if profile.endswith(".toml") else str(profile_path(profile))
    return dict(load_profile(path).options)


class ModelEndpoint(Endpoint):
    """One connection of the model stack: the machine's valuation and a TCB
    holding the numbers the wire needs."""

    def __init__(self, stack: ModelStack, flow: FourTuple, settings: dict[str, str]) -> None:
        self.stack = stack
        self.machine = stack.machine
        self.flow = flow
        self.settings = settings
        self.packets: list[Captured] = []
        self.last_error = ""
        self.received = b""  # the spec has no data
        self.local: Local = self.machine.initial
        self.fired: list[str] = []  # spec transitions taken, in order
        self.dropped = 0  # received segments the vocabulary has no name for
        self._outbox: deque[Packet] = deque()
        self.iss = (0x50000000 + (flow.lport % 3000) * 0x10000) & MASK32
        self.snd_nxt = self.iss
        self.syn_used = False  # our ISS is taken by a SYN we sent
        self.fin_seq: int | None = None
        self.rcv_nxt: int | None = None
        self.listened = False

    # -- the sockets API ---------------------------------------------------------------

    def call(self, op: str, arg: str = "") -> None:
        """A socket call: the spec's call event it realises, if any."""
        state = self.machine.state(self.local)
        if op == "recv":
            return
        if op == "accept":
            refused = accept_refused(self.stack.spec, state, self.listened)
            if refused:
                raise CallError(refused)
            return
        event = self.stack._calls.get(op)
        if event is None:
            raise CallError(f"the spec has no call event realised by {op!r}")
        outcome = self.machine.step(self.local, "call", event)
        if outcome is None:
            self.last_error = f"{op}: no transition on {event} in {state}"
            return
        if event == "listen":
            self.listened = True
        self._take(outcome, None)

    def elapse(self, timer: str) -> Observation:
        """Fire ``timer`` now (nothing happens where the spec has no such transition)."""
        outcome = self.machine.step(self.local, "timer", timer)
        if outcome is not None:
            self._take(outcome, None)
        return self.observe()

    def observe(self) -> Observation:
        """The machine's state."""
        return Observation(self.machine.state(self.local), "model")

    # -- the wire -----------------------------------------------------------------------

    def deliver(self, packet: Packet) -> None:
        """Classify the peer's segment and let the machine take it."""
        if (packet.dport, packet.sport) != (self.flow.lport, self.flow.rport):
            return
        if self.stack.capture:
            self.packets.append(Captured(time.time(), packet.to_bytes(), outbound=False, packet=packet))
        wire = self._classify(packet)
        if wire is None:
            self.dropped += 1
            return
        outcome = self.machine.step(self.local, "rcv", wire)
        assert outcome is not None  # a received segment always has one (at worst: ignored)
        self._take(outcome, packet)

    def receive(self, timeout: float) -> Packet | None:
        """What the machine sent, in order; it answers at once, so no wait."""
        return self._outbox.popleft() if self._outbox else None

    def close(self, reset: Packet | None = None) -> None:
        """Nothing outlives the endpoint."""
        self._outbox.clear()

    # -- numbers ------------------------------------------------------------------------------

    def _classify(self, p: Packet) -> str | None:
        flags = frozenset(name for name, bit in _FLAGS if p.flags & bit)
        has_ack = bool(p.flags & ACK)
        # Before we sent a SYN there is nothing of ours to acknowledge: the
        # model's peer acknowledges our SYN with every ACK it sends.
        acks_syn = has_ack and (not self.syn_used or _covers(p.ack, (self.iss + 1) & MASK32, self.snd_nxt))
        acks_fin = has_ack and self.fin_seq is not None and _covers(p.ack, (self.fin_seq + 1) & MASK32, self.snd_nxt)
        return self.stack._wire_of.get((flags, acks_syn, acks_fin))

    def _take(self, outcome: Outcome, trigger: Packet | None) -> None:
        before = self.machine.state(self.local)
        if trigger is not None and any(
            self.stack.spec.events[self.stack.by_id[t].event].flags & {"SYN", "FIN"} for t in outcome.transitions
        ):
            self.rcv_nxt = (trigger.seq + trigger.seg_len) & MASK32
        self.local = outcome.after
        self.fired.extend(outcome.transitions)
        for name in outcome.sends:
            packet = self._packet(self.stack.wire(name), before, trigger)
            self._outbox.append(packet)
            if self.stack.capture:
                self.packets.append(Captured(time.time(), packet.to_bytes(), outbound=True, packet=packet))

    def _packet(self, wire: Wire, before: str, trigger: Packet | None) -> Packet:
        flags = sum(bit for name, bit in _FLAGS if name in wire.flags)
        answer_end = (trigger.seq + trigger.seg_len) & MASK32 if trigger is not None else 0
        ack = (self.rcv_nxt if self.rcv_nxt is not None else answer_end) if flags & ACK else 0
        if flags & SYN:
            if not (self.syn_used and before in ("SYN_SENT", "SYN_RCVD")):
                if self.syn_used:  # a new incarnation, above the old sequence space
                    self.iss = (self.snd_nxt + NEW_INCARNATION) & MASK32
                self.syn_used, self.fin_seq = True, None
                self.snd_nxt = (self.iss + 1) & MASK32
            seq = self.iss
        elif flags & RST:
            # Outside a connection a RST takes its number from the segment it
            # answers (RFC 9293 §3.10.7.1): SEQ = SEG.ACK, or 0.
            seq = self.snd_nxt if self.syn_used else (trigger.ack if trigger is not None and trigger.flags & ACK else 0)
        elif flags & FIN:
            if self.fin_seq is None:
                self.fin_seq = self.snd_nxt
                self.snd_nxt = (self.snd_nxt + 1) & MASK32
            seq = self.fin_seq
        else:
            seq = self.snd_nxt
        f = self.flow
        return Packet(src=f.local, dst=f.remote, sport=f.lport, dport=f.rport, seq=seq, ack=ack & MASK32, flags=flags)
