"""The remote peer's view of one flow: sequence numbers and the model's
segment vocabulary turned into real packets.

Pure logic, no I/O: ``build`` makes the packet for a segment name,
``absorb`` learns from what the stack sent. By default the peer offers
only the MSS option, so the stack runs without timestamps (no PAWS) and
without window scaling: every number below is exact. A scenario with
``timestamps`` on makes the peer offer the timestamp option too (RFC 7323):
TSval from the peer's own clock, one tick per segment it sends (so a later
segment always carries a newer TSval, and a replayed old one its old TSval),
TSecr echoing the stack's last TSval.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tcpcheck.model.acceptability import variant as named
from tcpcheck.model.acceptability import variants
from tcpcheck.tools.runner.packets import (
    ACK,
    FIN,
    MASK32,
    PSH,
    RST,
    SYN,
    Packet,
    mss_option,
    timestamp_option,
    timestamps_of,
)

DEFAULT_PAYLOAD = b"tcpcheck"
# Far outside any receive window the stack can advertise without window
# scaling (at most 65535 bytes): RFC 9293 §3.10.7.4 / RFC 5961 §3.2 say drop.
OUT_OF_WINDOW = 0x40000000
# A new incarnation of the connection (a SYN to a TIME_WAIT socket) must
# start above the old one's sequence space (RFC 1122 §4.2.2.13).
NEW_INCARNATION = 0x00100000
# The peer's timestamp clock at its first segment (any value; not 0, which
# RFC 7323 §3.2 gives no special meaning but is easy to mistake for "none").
TS_CLOCK_START = 1000
# How far back a ``stale_timestamp`` segment's TSval lies behind the peer's
# clock: any older value is PAWS-rejected by RFC 7323 §5.3; Linux lets one
# tick through (TCP_PAWS_WINDOW), so go well beyond it.
STALE_TICKS = 500
# Variants for why TIME_WAIT, reason 2 (docs/time_wait.md).
# ``old_window``: the new incarnation's SYN reuses the old one's ISN, so the
# old incarnation's sequence numbers fall exactly into the new receive
# window (the model's adversarial ISNs; RFC 9293 §3.4 leaves it to the ISN
# clock and to TIME_WAIT to prevent).
# ``old``: a FIN or DATA of the previous incarnation replayed as it was sent
# (its ACK field from the old sequence space: Linux drops it, RFC 5961 §5.2).
# ``old_acceptable``: the same old segment (sequence number and payload)
# with an ACK field that also lands in the new connection's window, as it
# does when the ISNs collide: nothing in it then tells it from a new one.
# The names are those of specs/acceptability.toml, the vocabulary the timed
# model shares; build() refuses a variant the file does not give a segment.
OLD_WINDOW = named("old_window")
IN_WINDOW = named("in_window")
OUT_OF_WINDOW_VARIANT = named("out_of_window")
BAD_ACK = named("bad_ack")
DUPLICATE = named("duplicate")  # a segment of this incarnation sent again (already acknowledged)
OLD = named("old")
OLD_ACCEPTABLE = named("old_acceptable")
STALE_TIMESTAMP = named("stale_timestamp")


def seq_after(a: int, b: int) -> bool:
    """``a`` is later than ``b`` in 32-bit sequence space (RFC 9293 §3.4)."""
    return a != b and (a - b) & MASK32 < 0x80000000


class SegmentError(ValueError):
    """The scenario asks for a segment the flow cannot make yet (e.g. the
    ACK of a FIN the stack never sent)."""


@dataclass
class PeerFlow:
    """What the peer knows about one connection."""

    local: str  # the stack's address
    lport: int
    remote: str  # the peer's own address
    rport: int
    iss: int
    snd_nxt: int = 0
    syn_sent: bool = False
    fin_seq: int | None = None  # sequence number of the peer's FIN
    stack_iss: int | None = None
    rcv_nxt: int | None = None  # next sequence number expected from the stack
    stack_fin_seq: int | None = None
    last_probe_ack: int = 0  # the ACK field of the last segment injected
    sent: dict[str, Packet] = field(default_factory=dict)  # this incarnation's last FIN and DATA
    previous: dict[str, Packet] = field(default_factory=dict)  # the same, of the incarnation before
    fin_acked: bool = False  # the peer has acknowledged the stack's FIN
    reset: bool = False  # an acceptable RST ended the connection (either way)
    # The last segment injected carries an unacceptable ACK (SYN_ACK bad_ack in
    # SYN_SENT): the RST it draws is <SEQ=SEG.ACK> (RFC 9293 §3.10.7.3) and ends nothing.
    unacceptable: bool = False
    timestamps: bool = False  # offer and use the timestamp option (RFC 7323)
    ts_clock: int = TS_CLOCK_START  # the TSval of the next segment the peer sends
    stack_tsval: int = 0  # the stack's last TSval: the peer's TSecr
    _seen: set[tuple[int, int, int]] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.snd_nxt = self.iss

    # -- what the peer sends ---------------------------------------------------

    def build(self, name: str, variant: str = "", payload: bytes = DEFAULT_PAYLOAD) -> Packet:
        """The packet for segment ``name`` (the model's vocabulary), advancing
        the peer's send sequence for what it occupies."""
        maker = getattr(self, f"_build_{name.lower()}", None)
        if maker is None:
            raise SegmentError(f"the peer cannot send {name!r}")
        if variant and variant not in variants(name):
            known = variants(name)
            raise SegmentError(f"unknown {name} variant {variant!r}; "
                               + (f"use {', '.join(known)}" if known else f"{name} has none")
                               + " (specs/acceptability.toml)")
        packet: Packet = maker(variant, payload)
        self.unacceptable = (name, variant) == ("SYN_ACK", BAD_ACK)
        self.last_probe_ack = packet.ack if packet.flags & ACK else 0
        if packet.flags & ACK and not packet.flags & RST and self.stack_fin_seq is not None \
                and packet.ack == (self.stack_fin_seq + 1) & MASK32:
            self.fin_acked = True
        return packet

    def _packet(self, flags: int, seq: int, ack: int = 0, payload: bytes = b"", options: bytes = b"",
                replay: bool = False) -> Packet:
        if self.timestamps and not replay:
            # TSecr is meaningful only with ACK (RFC 7323 §3.2): 0 in a bare SYN.
            options += timestamp_option(self.ts_clock, self.stack_tsval if flags & ACK else 0)
            self.ts_clock = (self.ts_clock + 1) & MASK32
        return Packet(
            src=self.remote, dst=self.local, sport=self.rport, dport=self.lport,
            seq=seq & MASK32, ack=ack & MASK32, flags=flags, payload=payload, options=options,
        )

    def _ack_all(self) -> int:
        # Before the stack said anything (a probe to a closed port) any
        # number will do; the RST it provokes must carry it back (§3.10.7.1).
        return self.rcv_nxt if self.rcv_nxt is not None else 0x1000

    def _ack_not_fin(self) -> int:
        # A FIN that does not acknowledge the stack's FIN: the crossing FINs
        # of a simultaneous close (RFC 9293 Figure 13). Once the peer has
        # acknowledged that FIN it never takes it back (FIN in FIN_WAIT_2).
        if self.stack_fin_seq is not None and not self.fin_acked:
            return self.stack_fin_seq
        return self._ack_all()

    def _need_stack_fin(self, name: str) -> None:
        if self.stack_fin_seq is None:
            raise SegmentError(f"{name} acknowledges the stack's FIN, but the stack has sent none yet")

    def _syn_seq(self, variant: str = "") -> int:
        if variant == IN_WINDOW:
            # A SYN inside the stack's receive window of a synchronized
            # connection, not at RCV.NXT: RFC 5961 §4 (RFC 9293 §3.10.7.4,
            # fourth) answers with a challenge ACK. It changes nothing here.
            if self.rcv_nxt is None or not self.syn_sent or self.fin_seq is not None or self.reset:
                raise SegmentError("a SYN (in_window) probes a synchronized connection, and there is none")
            return (self.snd_nxt + 1) & MASK32
        if variant not in ("", OLD_WINDOW):
            raise SegmentError(f"unknown SYN variant {variant!r}; use {OLD_WINDOW} or {IN_WINDOW}")
        over = self.fin_seq is not None or self.reset
        if variant and not (self.syn_sent and over):
            raise SegmentError(f"a SYN ({variant}) reopens a connection, but none has ended yet")
        if self.syn_sent and not over:
            return self.iss  # a retransmission of our SYN (or SYN,ACK)
        if self.syn_sent and over:
            # The old connection is over (FIN or RST): a new incarnation,
            # above the old sequence space (or on top of it: old_window).
            if variant != OLD_WINDOW:
                self.iss = (self.snd_nxt + NEW_INCARNATION) & MASK32
            self.previous, self.sent = self.sent, {}
            self.fin_seq = None
            self.stack_iss = self.rcv_nxt = self.stack_fin_seq = None
            self.fin_acked = self.reset = False
            self._seen.clear()
        self.syn_sent = True
        self.snd_nxt = (self.iss + 1) & MASK32
        return self.iss

    def _build_syn(self, variant: str, payload: bytes) -> Packet:
        return self._packet(SYN, self._syn_seq(variant), options=mss_option())

    def _old(self, name: str, variant: str) -> Packet:
        """The previous incarnation's ``name`` segment, as it was sent
        (``old``) or with an acceptable ACK field (``old_acceptable``)."""
        if name not in self.previous:
            raise SegmentError(f"{name} ({variant}) replays the previous incarnation's {name}, but it sent none")
        packet = self.previous[name]
        if variant == OLD_ACCEPTABLE:
            # its own options: with timestamps, the old TSval it was sent with
            packet = self._packet(packet.flags, packet.seq, self._ack_all(), packet.payload, packet.options,
                                  replay=True)
        if packet.seq == self.snd_nxt:
            # It lands at RCV.NXT: an RFC receiver takes it for new (the
            # hazard TIME_WAIT is there for), so the peer's view follows it.
            if packet.flags & FIN:
                self.fin_seq = packet.seq
            self.snd_nxt = (self.snd_nxt + packet.seg_len) & MASK32
        return packet

    def _build_syn_ack(self, variant: str, payload: bytes) -> Packet:
        # Without a SYN from the stack this is a stray SYN,ACK (a probe of
        # a closed port, RFC 9293 §3.10.7.1); any ACK number will do.
        ack = self.stack_iss + 1 if self.stack_iss is not None else self._ack_all()
        if variant == BAD_ACK:
            # SEG.ACK =< ISS: unacceptable in SYN_SENT (RFC 9293 §3.10.7.3, first)
            if self.stack_iss is None:
                raise SegmentError("a SYN_ACK (bad_ack) answers the stack's SYN, and it has sent none")
            ack = self.stack_iss
        elif variant:
            raise SegmentError(f"unknown SYN_ACK variant {variant!r}; use bad_ack")
        return self._packet(SYN | ACK, self._syn_seq(), ack, options=mss_option())

    def _build_ack(self, variant: str, payload: bytes) -> Packet:
        return self._packet(ACK, self.snd_nxt, self._ack_all())

    def _build_ack_of_fin(self, variant: str, payload: bytes) -> Packet:
        self._need_stack_fin("ACK_OF_FIN")
        return self._packet(ACK, self.snd_nxt, self._ack_all())

    def _fin(self, ack: int) -> Packet:
        if self.fin_seq is None:
            self.fin_seq = self.snd_nxt
            self.snd_nxt = (self.snd_nxt + 1) & MASK32
        # A second FIN is a retransmission of the first (same sequence number).
        self.sent["FIN"] = self._packet(FIN | ACK, self.fin_seq, ack)
        return self.sent["FIN"]

    def _build_fin(self, variant: str, payload: bytes) -> Packet:
        if variant in (OLD, OLD_ACCEPTABLE):
            return self._old("FIN", variant)
        if variant:
            raise SegmentError(f"unknown FIN variant {variant!r}; use {OLD} or {OLD_ACCEPTABLE}")
        return self._fin(self._ack_not_fin())

    def _build_fin_ack_of_fin(self, variant: str, payload: bytes) -> Packet:
        self._need_stack_fin("FIN_ACK_OF_FIN")
        return self._fin(self._ack_all())

    def _rst_seq(self, variant: str) -> int:
        if variant == OUT_OF_WINDOW_VARIANT:
            return self.snd_nxt + OUT_OF_WINDOW
        if variant == IN_WINDOW:
            # In the window but not RCV.NXT: RFC 5961 §3.2 answers with a
            # challenge ACK instead of resetting.
            return self.snd_nxt + 1
        if variant not in ("", BAD_ACK):
            raise SegmentError(f"unknown RST variant {variant!r}; use out_of_window, in_window or bad_ack")
        return self.snd_nxt

    def _build_rst(self, variant: str, payload: bytes) -> Packet:
        self.reset = self.reset or variant == ""
        return self._packet(RST, self._rst_seq(variant))

    def _build_rst_ack(self, variant: str, payload: bytes) -> Packet:
        # In SYN_SENT a RST is acceptable only if its ACK acknowledges the
        # SYN (RFC 9293 §3.10.7.3); ``bad_ack`` acknowledges one byte less.
        ack = self._ack_all() - (1 if variant == BAD_ACK else 0)
        self.reset = self.reset or variant == ""
        return self._packet(RST | ACK, self._rst_seq(variant), ack)

    def _build_data(self, variant: str, payload: bytes) -> Packet:
        if variant in (OLD, OLD_ACCEPTABLE):
            return self._old("DATA", variant)
        if variant == DUPLICATE:
            # This incarnation's first DATA again, below RCV.NXT once the
            # stack took it: not acceptable, answered with an ACK (RFC 9293 §3.10.7.4, first).
            if "DATA" not in self.sent:
                raise SegmentError("DATA (duplicate) repeats the peer's first DATA, but it sent none")
            first = self.sent["DATA"]
            return self._packet(PSH | ACK, first.seq, self._ack_all(), payload=first.payload)
        if variant == STALE_TIMESTAMP:
            # New data at RCV.NXT, but stamped long ago: PAWS (RFC 7323 §5.3)
            # drops it, so the peer's send sequence does not advance.
            if not self.timestamps:
                raise SegmentError("DATA (stale_timestamp) needs timestamps: set 'timestamps' on the scenario")
            stale = timestamp_option(self.ts_clock - STALE_TICKS, self.stack_tsval)
            return self._packet(PSH | ACK, self.snd_nxt, self._ack_all(), payload, stale, replay=True)
        if variant:
            raise SegmentError(f"unknown DATA variant {variant!r}; use {OLD}, {OLD_ACCEPTABLE}, {DUPLICATE} "
                               f"or {STALE_TIMESTAMP}")
        packet = self._packet(PSH | ACK, self.snd_nxt, self._ack_all(), payload=payload)
        self.snd_nxt = (self.snd_nxt + len(payload)) & MASK32
        self.sent.setdefault("DATA", packet)  # the first: it starts the old sequence space
        return packet

    # -- what the stack sends -------------------------------------------------------

    def is_retransmission(self, packet: Packet) -> bool:
        """A segment occupying sequence space that the stack already sent
        (SYN, FIN or data again after a retransmission timeout, RFC 9293
        §3.8.1): allowed at any time, so no expectation is about it."""
        return packet.seg_len > 0 and (packet.flags, packet.seq, len(packet.payload)) in self._seen

    def absorb(self, packet: Packet) -> None:
        """Learn the stack's sequence numbers from a packet it sent."""
        stamp = timestamps_of(packet.options)
        if stamp is not None:
            self.stack_tsval = stamp[0]
        if packet.seg_len > 0:
            self._seen.add((packet.flags, packet.seq, len(packet.payload)))
        if packet.flags & RST:
            self.reset = self.reset or not self.unacceptable
            return
        if packet.flags & SYN:
            self.stack_iss = packet.seq
        end = (packet.seq + packet.seg_len) & MASK32
        if self.rcv_nxt is None or seq_after(end, self.rcv_nxt):
            self.rcv_nxt = end
        if packet.flags & FIN:
            self.stack_fin_seq = (packet.seq + len(packet.payload)) & MASK32
