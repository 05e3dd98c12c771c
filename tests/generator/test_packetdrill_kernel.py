"""The packet lines of the emitted packetdrill scripts are what Linux really
exchanges, replayed through the project's own runner: each scenario that
has a script is played on the kernel and its capture, written in
packetdrill's notation with relative sequence numbers, must equal the
script's ``<`` and ``>`` lines. Real packetdrill runs the same scripts in
``test_packetdrill_real.py``; the two must agree on every one."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tcpcheck.model.spec import load_spec
from tcpcheck.tools.generate import CRITERIA, build_suite, load_drive_model
from tcpcheck.tools.generate.emit_packetdrill import NotWritable, emit_packetdrill
from tcpcheck.tools.runner.execute import execute
from tcpcheck.tools.runner.packets import ACK, FIN, PSH, RST, SYN
from tcpcheck.tools.runner.profile import load_profile, profile_path
from tcpcheck.tools.scenario import Elapse, Inject, Scenario

MODEL = load_drive_model(load_spec(), "linux")


def _written() -> dict[str, tuple[Scenario, str]]:
    out = {}
    for criterion in CRITERIA:
        for scenario in build_suite(MODEL, criterion, 1).scenarios:
            try:
                out[f"{criterion}_{scenario.name}"] = (scenario, emit_packetdrill(scenario, MODEL.profile))
            except NotWritable:
                pass
    return out


WRITTEN = _written()
REPLAYS = [pytest.param(name, marks=[pytest.mark.slow] if scenario.slow else [], id=name)
           for name, (scenario, _) in WRITTEN.items()]
CLOSES = {
    "active": "FIN_WAIT_2--FIN-->TIME_WAIT",
    "passive": "LAST_ACK--ACK_OF_FIN-->CLOSED",
    "simultaneous": "CLOSING--ACK_OF_FIN-->TIME_WAIT",
}


def _flags(bits: int) -> str:
    text = "".join(letter for bit, letter in ((SYN, "S"), (FIN, "F"), (RST, "R"), (PSH, "P")) if bits & bit)
    return text + "." if bits & ACK else text or "."


def capture_lines(packets: list[Any]) -> list[str]:
    """The capture in packetdrill's notation, numbers relative to each
    side's first ISN (as packetdrill keeps them across incarnations)."""
    seen = [c for c in packets if c.packet is not None]
    stack_isn = next((c.packet.seq for c in seen if c.outbound and c.packet.flags & SYN), None)
    peer_isn = next((c.packet.seq for c in seen if not c.outbound and c.packet.flags & SYN), None)
    out = []
    synced = False
    for c in seen:
        p = c.packet
        synced |= c.outbound and bool(p.flags & SYN)
        own, other = (stack_isn, peer_isn) if c.outbound else (peer_isn, stack_isn)
        text = f"{'>' if c.outbound else '<'} {_flags(p.flags)}"
        if not synced or own is None or other is None:
            # A probe (and its RST) before the stack chose its ISN: its
            # numbers relate to nothing the runner's capture can name; flags only.
            out.append(text + " *")
            continue
        seq = (p.seq - own) & 0xFFFFFFFF
        text += f" {seq}:{seq + len(p.payload)}({len(p.payload)})"
        if p.flags & ACK:
            text += f" ack {(p.ack - other) & 0xFFFFFFFF}"
        out.append(text)
    return out


def script_lines(text: str) -> list[str]:
    """The scenario's packet lines without time, window and options (not
    the end probe, which only the script sends)."""
    out = []
    for line in text.split("\n// The end:")[0].splitlines():
        m = re.match(r"^\+?[0-9.]+(?:~\+?[0-9.]+)? ([<>] .*)$", line)
        if m:
            out.append(re.sub(r" win \d+| <[^>]*>", "", m.group(1)))
    return out


@pytest.fixture(scope="module")
def profile() -> Any:
    return load_profile(profile_path("linux"), {t.id for t in MODEL.spec.transitions})


def test_the_replay_covers_every_script() -> None:
    """Every criterion, the close scenarios, RST injections, timers and the
    TIME_WAIT reopen: what real packetdrill runs, the replay runs too."""
    assert {s.walk[-1] for s, _ in WRITTEN.values() if s.walk} >= set(CLOSES.values())
    assert {name.split("_", 1)[0] for name in WRITTEN} == set(CRITERIA)
    steps = [x for s, _ in WRITTEN.values() for x in s.steps]
    assert any(isinstance(x, Inject) and x.segment == "RST" for x in steps)
    assert {x.timer for x in steps if isinstance(x, Elapse)} == {"timeout_syn", "timeout_fin_wait_2", "timeout_2msl"}
    assert any("TIME_WAIT--SYN(implementation)" in t for s, _ in WRITTEN.values() for t in s.walk)


@pytest.mark.parametrize("name", REPLAYS)
def test_script_packets_match_linux(name: str, tcp_harness: Any, profile: Any) -> None:
    scenario, text = WRITTEN[name]
    result = execute(tcp_harness, scenario, profile)
    assert result.verdict in ("pass", "deviation"), [s.to_json() for s in result.steps]
    # Where the runner stops at a documented deviation, the script stops too.
    assert ("Linux leaves the RFC machine" in text) == any(s.verdict == "skipped" for s in result.steps)
    script, capture = script_lines(text), capture_lines(result.packets)
    script = [" ".join(line.split()[:2]) + " *" if seen.endswith(" *") else line
              for line, seen in zip(script, capture, strict=False)]
    assert script == capture[: len(script)]
    # After the last step the runner tears the connection down (RSTs); nothing else.
    assert all(" R" in line for line in capture[len(script):]), capture[len(script):]
