"""Deciding correctness: what the stack sent or is in, against what the
scenario expects, with the profile's documented deviations.

Pure functions over packets and the peer's view; no I/O here.
"""

from __future__ import annotations

from dataclasses import dataclass

from tcpcheck.tools.runner.packets import ACK, FIN, RST, SYN, Packet
from tcpcheck.tools.runner.peer import PeerFlow
from tcpcheck.tools.runner.profile import Deviation, Profile


def classify(packet: Packet) -> str:
    """A segment the stack sent, named in the model's vocabulary."""
    if packet.flags & RST:
        return "RST_ACK" if packet.flags & ACK else "RST"
    if packet.flags & SYN:
        return "SYN_ACK" if packet.flags & ACK else "SYN"
    if packet.flags & FIN:
        return "FIN"
    if packet.payload:
        return "DATA"
    return "ACK"


def name_matches(expected: str, observed: str) -> bool:
    """Does a segment ``classify`` names ``observed`` have the flags
    ``Expect(expected)`` asks for? (Its numbers are checked apart.)"""
    want = {"ACK_OF_FIN": "ACK", "FIN_ACK_OF_FIN": "FIN"}.get(expected, expected)
    # RFC 9293 §3.10.7.4: in a synchronized state a RST is judged by its
    # sequence number alone, so RST and RST+ACK both satisfy "RST".
    return observed == want or (want == "RST" and observed == "RST_ACK")


@dataclass(frozen=True)
class Match:
    """The outcome of comparing one expected segment with what came."""

    ok: bool
    observed: str  # segment name, or NONE
    detail: str = ""


def match_segment(expected: str, packet: Packet | None, flow: PeerFlow) -> Match:
    """Does ``packet`` (None: nothing came) satisfy ``Expect(expected)``?

    ``flow`` is the peer's view *before* absorbing the packet, so sequence
    and acknowledgement numbers are checked exactly, not only the flags.
    """
    if packet is None:
        return Match(expected == "NONE", "NONE")
    observed = classify(packet)
    if expected == "NONE":
        return Match(False, observed, packet.summary())
    if not packet.checksum_ok:
        return Match(False, observed, "bad TCP checksum from the stack")
    if not name_matches(expected, observed):
        return Match(False, observed, packet.summary())
    problem = _numbers(expected, packet, flow)
    return Match(problem == "", observed, problem or packet.summary())


def _numbers(expected: str, packet: Packet, flow: PeerFlow) -> str:
    """'' when the numbers are right, else what is wrong."""
    acks_everything = flow.snd_nxt
    if expected in ("SYN_ACK",) and packet.ack != (flow.iss + 1) & 0xFFFFFFFF:
        return f"SYN_ACK acknowledges {packet.ack}, not the peer's SYN ({flow.iss + 1})"
    if expected == "SYN_ACK" and flow.stack_iss is not None and packet.seq != flow.stack_iss:
        # Simultaneous open: the SYN,ACK repeats the stack's own SYN (same ISS).
        return f"SYN_ACK at sequence {packet.seq}, but the stack's SYN was at {flow.stack_iss}"
    if expected in ("ACK", "ACK_OF_FIN", "FIN", "FIN_ACK_OF_FIN", "DATA") and packet.ack != acks_everything:
        return f"{expected} acknowledges {packet.ack}, the peer's next sequence number is {acks_everything}"
    if expected in ("ACK_OF_FIN", "FIN_ACK_OF_FIN") and flow.fin_seq is None:
        return f"{expected} but the peer sent no FIN"
    if expected in ("FIN", "DATA", "ACK", "ACK_OF_FIN", "FIN_ACK_OF_FIN") and flow.rcv_nxt is not None \
            and packet.seq != flow.rcv_nxt:
        return f"{expected} at sequence {packet.seq}, expected {flow.rcv_nxt}"
    if expected == "RST_ACK" and packet.ack != acks_everything:
        return f"RST_ACK acknowledges {packet.ack}, the peer's next sequence number is {acks_everything}"
    if expected in ("RST", "RST_ACK"):
        if flow.rcv_nxt is None or flow.unacceptable:
            # No connection: RFC 9293 §3.10.7.1, <SEQ=SEG.ACK> or <SEQ=0><ACK=SEG.SEQ+SEG.LEN>;
            # an unacceptable ACK in SYN_SENT: <SEQ=SEG.ACK><CTL=RST> (§3.10.7.3).
            if packet.seq != flow.last_probe_ack:
                return f"RST at sequence {packet.seq}, expected the probe's ACK {flow.last_probe_ack}"
        elif packet.seq != flow.rcv_nxt:
            return f"RST at sequence {packet.seq}, outside the peer's view (expected {flow.rcv_nxt})"
    return ""


def state_text(state: str) -> str:
    """How a state appears in profile entries: ``state TIME_WAIT``."""
    return f"state {state}"


def step_verdict(
    ok: bool,
    expected: str,
    observed: str,
    profile: Profile,
    transitions: tuple[str, ...],
    sysctls: dict[str, str],
    calls: tuple[str, ...] = (),
    injects: tuple[str, ...] = (),
    history: frozenset[str] | None = None,
    options: dict[str, bool] | None = None,
) -> tuple[str, Deviation | None]:
    """pass, or deviation when ``profile`` documents exactly this
    difference for one of ``transitions`` under the settings in force,
    after the socket ``calls`` made and the segments ``injects`` received
    so far, with the spec's ``history`` variables that hold and the model
    ``options`` in force, else fail."""
    if ok:
        return "pass", None
    deviation = profile.find(expected, observed, transitions, sysctls, calls, injects, history, options)
    return ("deviation", deviation) if deviation else ("fail", None)
