"""The packet lines of the emitted packetdrill scripts are what Linux really
exchanges: each scenario is played through the runner on the kernel and its
capture, written in packetdrill's notation with relative sequence numbers,
must equal the script's ``<`` and ``>`` lines."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tcpcheck.model.spec import load_spec
from tcpcheck.tools.generate import build_suite, load_drive_model
from tcpcheck.tools.generate.emit_packetdrill import emit_packetdrill
from tcpcheck.tools.runner.execute import execute
from tcpcheck.tools.runner.packets import ACK, FIN, PSH, RST, SYN
from tcpcheck.tools.runner.profile import load_profile, profile_path
from tcpcheck.tools.scenario import Elapse, Expect, Inject, Scenario

MODEL = load_drive_model(load_spec(), "linux")
SCENARIOS = [s for c in ("transitions", "pairs", "tour", "wp") for s in build_suite(MODEL, c, 1).scenarios]
# Scenarios where both sides' initial sequence numbers are on the wire (the
# script's numbers are relative to them), without real-time timers.
PLAYABLE = [
    s for s in SCENARIOS
    if not s.slow and not any(isinstance(x, Elapse) for x in s.steps)
    and {"SYN", "SYN_ACK"} & {x.segment for x in s.steps if isinstance(x, Inject)}
    and {"SYN", "SYN_ACK"} & {x.segment for x in s.steps if isinstance(x, Expect)}
    and not any("--SYN(implementation)" in t for t in s.walk)
    # A second handshake on the 4-tuple gets a new ISN from the stack, which
    # a script cannot know in advance.
    and sum(1 for x in s.steps if isinstance(x, Expect) and x.segment in ("SYN", "SYN_ACK")) == 1
]
CLOSES = {
    "active": "FIN_WAIT_2--FIN-->TIME_WAIT",
    "passive": "LAST_ACK--ACK_OF_FIN-->CLOSED",
    "simultaneous": "CLOSING--ACK_OF_FIN-->TIME_WAIT",
}


def _flags(bits: int) -> str:
    text = "".join(letter for bit, letter in ((SYN, "S"), (FIN, "F"), (RST, "R"), (PSH, "P")) if bits & bit)
    return text + "." if bits & ACK else text or "."


def capture_lines(packets: list[Any]) -> list[str]:
    """The capture in packetdrill's notation, numbers relative to each ISN."""
    seen = [c for c in packets if c.packet is not None]
    stack_isn = next(c.packet.seq for c in seen if c.outbound and c.packet.flags & SYN)
    peer_isn = next(c.packet.seq for c in seen if not c.outbound and c.packet.flags & SYN)
    out = []
    synced = False
    for c in seen:
        p = c.packet
        synced |= c.outbound and bool(p.flags & SYN)
        own, other = (stack_isn, peer_isn) if c.outbound else (peer_isn, stack_isn)
        seq = (p.seq - own) & 0xFFFFFFFF
        text = f"{'>' if c.outbound else '<'} {_flags(p.flags)}"
        if not synced:
            # A probe (and its RST) before the stack chose its ISN: its
            # numbers relate to nothing the script can name; flags only.
            out.append(text + " *")
            continue
        text += f" {seq}:{seq + len(p.payload)}({len(p.payload)})"
        if p.flags & ACK:
            text += f" ack {(p.ack - other) & 0xFFFFFFFF}"
        out.append(text)
    return out


def script_lines(scenario: Scenario) -> list[str]:
    """The script's packet lines without time, window and options."""
    out = []
    for line in emit_packetdrill(scenario, MODEL.profile).splitlines():
        m = re.match(r"^\+?[0-9.]+ ([<>] .*)$", line)
        if m:
            out.append(re.sub(r" win \d+| <[^>]*>", "", m.group(1)))
    return out


@pytest.fixture(scope="module")
def profile() -> Any:
    return load_profile(profile_path("linux"), {t.id for t in MODEL.spec.transitions})


def test_the_close_scenarios_are_playable() -> None:
    assert {s.walk[-1] for s in PLAYABLE} >= set(CLOSES.values())
    assert len(PLAYABLE) >= 200
    assert any(x.segment == "RST" for s in PLAYABLE for x in s.steps if isinstance(x, Inject))


@pytest.mark.parametrize("scenario", PLAYABLE, ids=[s.name for s in PLAYABLE])
def test_script_packets_match_linux(scenario: Scenario, tcp_harness: Any, profile: Any) -> None:
    result = execute(tcp_harness, scenario, profile)
    assert result.verdict in ("pass", "deviation"), [s.to_json() for s in result.steps]
    script, capture = script_lines(scenario), capture_lines(result.packets)
    script = [" ".join(line.split()[:2]) + " *" if seen.endswith(" *") else line
              for line, seen in zip(script, capture, strict=False)]
    assert script == capture[: len(script)]
    # After the last step the runner tears the connection down (RSTs); nothing else.
    assert all(" R" in line for line in capture[len(script):]), capture[len(script):]
