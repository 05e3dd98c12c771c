"""Two real endpoints on lo: races that really happen, a wrong expectation
that fails naming the event, sampling when tracing is off, the command."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tcpcheck.model.spec import load_spec
from tcpcheck.tools.check.analyse import check_capture
from tcpcheck.tools.check.capture import read_capture
from tcpcheck.tools.cli import main
from tcpcheck.tools.cli.loopback import builtin_suite
from tcpcheck.tools.runner.loopback.execute import execute_pair
from tcpcheck.tools.runner.pcap import read_pcap, write_pcap
from tcpcheck.tools.runner.profile import load_profile
from tcpcheck.tools.scenario import Call, Deliver, Expect, ExpectState, Hold, Release, Scenario

SPEC = load_spec()
PROFILE = load_profile(known_transitions={t.id for t in SPEC.transitions})


@pytest.fixture(scope="module")
def suite() -> dict[str, Scenario]:
    return builtin_suite()


def _pair(*steps: Any) -> Scenario:
    return Scenario("handwritten", tuple(steps), loopback=True)


def test_a_wrong_expectation_fails_naming_the_event(tcp_loopback: Any) -> None:
    # The passive closer does not reach TIME_WAIT: LAST_ACK -> CLOSED.
    wrong = _pair(Call("listen", side="B"), Call("connect", side="A"), ExpectState("ESTABLISHED", side="B"),
                  Call("accept", side="B"), Call("close", side="A"), ExpectState("CLOSE_WAIT", side="B"),
                  Call("close", side="B"), ExpectState("TIME_WAIT", side="B"), ExpectState("TIME_WAIT", side="A"))
    result = execute_pair(tcp_loopback, wrong, SPEC, PROFILE)
    assert result.verdict == "fail"
    failed = [s for s in result.steps if s.verdict == "fail"]
    assert [s.index for s in failed] == [8]
    assert (failed[0].expected, failed[0].observed) == ("state TIME_WAIT", "state CLOSED")
    assert "the event that took it there was B: LAST_ACK -> CLOSED" in failed[0].note
    assert result.steps[8].verdict == "skipped"
    # What did happen is still a behaviour of the model.
    assert result.check is not None and result.check.model.explained


def test_simultaneous_close_happens_on_the_real_stack(tcp_loopback: Any, suite: dict[str, Scenario]) -> None:
    result = execute_pair(tcp_loopback, suite["pair_closing__closing"], SPEC, PROFILE)
    assert result.verdict == "pass", result.note
    events = result.observed.events
    fins = [e for e in events if e.kind in ("send", "deliver") and result.observed.segments[e.segment].wire == "FIN"]
    # Both FINs left before either arrived: the FINs crossed.
    assert [e.kind for e in fins] == ["send", "send", "deliver", "deliver"]
    closing = [e for e in events if e.kind == "state" and e.new == "CLOSING"]
    assert sorted(e.side for e in closing) == ["A", "B"] and all(e.source == "trace" for e in closing)


def test_simultaneous_open_happens_on_the_real_stack(tcp_loopback: Any, suite: dict[str, Scenario]) -> None:
    result = execute_pair(tcp_loopback, suite["pair_syn_rcvd__syn_rcvd"], SPEC, PROFILE)
    assert result.verdict == "pass", result.note
    assert result.check is not None
    assert result.check.paths["A"].states == result.check.paths["B"].states == ["CLOSED", "SYN_SENT", "SYN_RCVD"]


def test_a_step_note_says_where_the_kernel_went(tcp_loopback: Any) -> None:
    # Holding nothing: A's close runs the whole exchange before returning.
    scenario = _pair(Call("listen", side="B"), Call("connect", side="A"), ExpectState("ESTABLISHED", side="B"),
                     Call("accept", side="B"), Hold("B"), Call("shutdown_wr", side="A"),
                     Expect("FIN", side="A"), Call("shutdown_wr", side="B"), Release("B"),
                     ExpectState("TIME_WAIT", side="A"))
    result = execute_pair(tcp_loopback, scenario, SPEC, PROFILE)
    assert result.verdict == "pass", result.note
    release = next(s for s in result.steps if s.step == "B: release")
    assert "A: went FIN_WAIT_1 -> TIME_WAIT" in release.note or "A: went FIN_WAIT_1 -> FIN_WAIT_2 -> TIME_WAIT" \
        in release.note


def test_without_tracing_states_are_sampled(suite: dict[str, Scenario]) -> None:
    from tcpcheck.tools.runner.loopback.pair import LoopbackHarness, unavailable_reason
    from tests.loopback.conftest import unavailable

    if unavailable_reason():
        unavailable(str(unavailable_reason()))
    with LoopbackHarness(trace=False) as harness:
        assert harness.tracer is None and harness.observer.startswith("sampling")
        result = execute_pair(harness, suite["pair_closing__closing"], SPEC, PROFILE)
    assert result.verdict == "pass", result.note
    states = [e for e in result.observed.events if e.kind == "state"]
    assert states and all(e.source == "sample" for e in states)
    assert result.observed.observer == "sample"


def test_the_command_writes_json_and_pcaps(tcp_loopback: Any, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["run", "--loopback", "pair_fin_wait_2__close_wait",
                                       "deviation_listener_close_resets_unaccepted", "--json", "--pcap",
                                       str(tmp_path)])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["stack"]["mode"] == "loopback" and "trace instance" in doc["stack"]["observer"]
    first, second = doc["results"]
    assert (first["verdict"], second["verdict"]) == ("pass", "deviation")
    assert second["deviations"] == ["listener_close_resets_unaccepted"]
    assert first["check"]["paths"]["A"]["states"][-1] == "FIN_WAIT_2"
    assert first["check"]["paths"]["B"]["states"][-1] == "CLOSE_WAIT"
    props = {p["property"]: p for p in doc["properties"]}
    assert props["half_close_reachable"]["verdict"] == "witnessed"
    assert props["time_wait_active_closer"]["verdict"] == "holds" and props["time_wait_active_closer"]["states"] > 10
    packets = read_pcap(tmp_path / "pair_fin_wait_2__close_wait.pcap")
    assert len(packets) == len(first["observed"]["segments"]) >= 5


def _suite_file(tmp_path: Path, scenarios: list[dict[str, Any]]) -> str:
    path = tmp_path / "suite.json"
    path.write_text(json.dumps({"scenarios": scenarios}))
    return str(path)


@pytest.mark.parametrize("scenario, flags, message", [
    ({"name": "x", "loopback": True, "steps": [{"kind": "call", "op": "listen"}]}, ["--loopback"],
     "steps[0]: a loopback scenario names the side of every step (A or B)"),
    ({"name": "x", "loopback": True, "steps": [{"kind": "call", "op": "listen", "side": "C"}]}, ["--loopback"],
     "$.scenarios[0].steps[0].side: 'C' is not one of ['A', 'B']"),
    ({"name": "x", "loopback": True, "steps": [{"kind": "deliver"}]}, ["--loopback"],
     "$.scenarios[0].steps[0]: 'side' is a required property"),
    ({"name": "x", "loopback": True, "steps": [{"kind": "inject", "segment": "SYN"}]}, ["--loopback"],
     "has no two-sided form"),
    ({"name": "x", "loopback": "yes", "steps": []}, ["--loopback"],
     "$.scenarios[0].loopback: 'yes' is not of type 'boolean'"),
    ({"name": "x", "steps": [{"kind": "call", "op": "listen"}]}, ["--loopback"], "is one-sided"),
    ({"name": "x", "loopback": True, "steps": [{"kind": "hold", "side": "A"}]}, [], "is two-sided"),
    ({"name": "x", "steps": [{"kind": "hold", "side": "A"}]}, [], "only a loopback scenario"),
])
def test_bad_scenario_files_are_one_line_naming_the_field(tmp_path: Path, scenario: dict[str, Any],
                                                          flags: list[str], message: str) -> None:
    result = CliRunner().invoke(main, ["run", *flags, _suite_file(tmp_path, [scenario])])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "suite.json" in lines[0], lines


def test_a_handwritten_deliver_checks_the_segment(tcp_loopback: Any) -> None:
    scenario = _pair(Hold("A"), Call("listen", side="B"), Call("connect", side="A"), Deliver("A", "FIN"))
    result = execute_pair(tcp_loopback, scenario, SPEC, PROFILE)
    assert result.verdict == "fail"
    bad = next(s for s in result.steps if s.verdict == "fail")
    assert (bad.expected, bad.observed) == ("FIN", "SYN")


def test_a_rst_of_sequence_zero_leaves_syn_rcvd_alone(tcp_loopback: Any, tmp_path: Path) -> None:
    # Simultaneous open in which A closes before B's SYN reaches it: A answers
    # with <SEQ=0><CTL=RST,ACK> (RFC 9293 §3.10.7.1). B is in SYN_RCVD and
    # checks sequence numbers first (§3.10.7.4): zero is outside its window,
    # so the RST is dropped and B stays. The model says so (a RST sent with
    # sequence number zero), the kernel does so, and `check` explains the
    # capture with the same rule.
    scenario = _pair(Hold("A"), Hold("B"), Call("connect", side="A"), Expect("SYN", side="A"),
                     Call("close", side="A"), ExpectState("CLOSED", side="A"),
                     Call("connect", side="B"), Expect("SYN", side="B"),
                     Deliver("A", "SYN"), Expect("SYN_ACK", side="B"), ExpectState("SYN_RCVD", side="B"),
                     Deliver("B", "SYN"), Expect("RST_ACK", side="A"),
                     Deliver("A", "RST_ACK"), ExpectState("SYN_RCVD", side="B"))
    result = execute_pair(tcp_loopback, scenario, SPEC, PROFILE)
    assert result.verdict == "pass", result.note
    rst = [p for p in result.packets if p.packet.flags & 0x04]
    assert rst and rst[0].packet.seq == 0
    pcap = write_pcap(tmp_path / "rst_seq_zero.pcap", result.packets)
    connections = check_capture(read_capture(str(pcap)), SPEC, PROFILE)
    assert [c.verdict for c in connections] == ["explained"], [c.observer.flag for c in connections]
