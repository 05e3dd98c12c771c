"""Scenarios with several connections (issue 15, item 5), in the scenario
vocabulary: each family on the real kernel (the SYN flood under
tcp_syncookies 0, 1 and 2, the CLOSE_WAIT pile, TIME_WAIT reuse, ephemeral
ports exhausted), run with the others (report, junit, pcaps, -j), wrong
expectations failing, the host's sysctls untouched, and one located line
for each bad field."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tcpcheck.model.errors import InputError
from tcpcheck.tools.cli import main
from tcpcheck.tools.runner.execute import ScenarioResult, execute
from tcpcheck.tools.runner.profile import load_profile
from tcpcheck.tools.runner.stack import Stack
from tcpcheck.tools.runner.stacks.linux import LinuxStack
from tcpcheck.tools.runner.suite import EPHEMERAL_RANGE, SYN_QUEUE, crowd_suite
from tcpcheck.tools.scenario import Call, ExpectStates, Inject, Scenario, load_scenarios, scenario_schema

BY_NAME = {s.name: s for s in crowd_suite()}
KEYS = ["net/ipv4/tcp_syncookies", "net/ipv4/ip_local_port_range", "net/ipv4/tcp_max_syn_backlog"]
PROFILE = load_profile()


def _linux(stack: Stack) -> LinuxStack:
    if not isinstance(stack, LinuxStack):
        pytest.skip("several connections are played on the Linux namespace")
    return stack


def _host(key: str) -> str:
    return Path("/proc/sys", key).read_text()


def _run(stack: Stack, scenario: Scenario) -> ScenarioResult:
    return execute(stack, scenario, PROFILE)


def _states_steps(result: ScenarioResult) -> list[str]:
    return [s.state for s in result.steps if s.step.startswith("expect_states")]


@pytest.mark.parametrize("scenario", crowd_suite(), ids=[s.name for s in crowd_suite()])
def test_crowd_scenario_on_the_kernel(scenario: Scenario, tcp_harness: Stack) -> None:
    stack = _linux(tcp_harness)
    host = {k: _host(k) for k in KEYS}
    inside = stack.ns.sysctls(KEYS)
    result = _run(stack, scenario)
    assert result.verdict == "pass", [s.to_json() for s in result.steps]
    assert len(result.steps) >= 3 and all(s.verdict == "pass" for s in result.steps)
    assert result.packets, "every connection's packets are captured"
    assert stack.ns.sysctls(KEYS) == inside
    assert {k: _host(k) for k in KEYS} == host


def test_syn_flood_counts(tcp_harness: Stack) -> None:
    """Without cookies the SYN queue holds backlog + 1 request sockets and
    the other SYNs get nothing; with cookies on overflow every SYN gets a
    SYN,ACK but no more request sockets; with cookies always, none. The
    steps whose ``when`` the setting does not meet are not part of the run."""
    stack = _linux(tcp_harness)
    none = _run(stack, BY_NAME["syn_flood_no_cookies"])
    held = ", ".join(f"a{i}" for i in range(1, SYN_QUEUE + 1))
    assert _states_steps(none)[0].startswith(f"{held}: SYN_RCVD; a6, a7, a8: CLOSED; listener: LISTEN")
    assert [s.step for s in none.steps[2:4]] == ["a1..a5: expect SYN_ACK",
                                                 "a6..a8: expect NONE (when tcp_syncookies=0)"]
    assert len(none.steps) == 5 and "5 request sockets" in none.steps[-1].note
    cookies = _run(stack, BY_NAME["syn_flood_cookies"])
    assert _states_steps(cookies)[0].startswith(f"{held}: SYN_RCVD; a6, a7, a8: CLOSED")
    assert [s.step for s in cookies.steps[2:4]] == ["a1..a5: expect SYN_ACK",
                                                    "a6..a8: expect SYN_ACK (when tcp_syncookies=1|2)"]
    # the cookie's ACK lands in the accept queue
    assert "a8: ESTABLISHED" in _states_steps(cookies)[1] and "listener accept queue 1/4" in _states_steps(cookies)[1]
    always = _run(stack, BY_NAME["syn_flood_cookies_always"])
    assert _states_steps(always)[0].startswith("a1, a2, a3, a4, a5, a6, a7, a8: CLOSED")


def _unconditional(scenario: Scenario, setting: str) -> tuple[Any, ...]:
    """The steps the scenario makes under ``setting``, with no ``when``."""
    from tcpcheck.tools.scenario import when_holds

    name, _, value = setting.partition("=")
    return tuple(dataclasses.replace(s, when="") for s in scenario.steps
                 if when_holds(getattr(s, "when", ""), {name: value}))


def test_a_wrong_expectation_fails(tcp_harness: Stack) -> None:
    """The no-cookie expectations under tcp_syncookies=1: the SYNs beyond the
    queue are answered (with cookies), so the scenario fails there; and a
    CLOSE_WAIT pile expected one connection short fails at the accept queue."""
    stack = _linux(tcp_harness)
    flood = BY_NAME["syn_flood_no_cookies"]
    mixed = dataclasses.replace(flood, steps=_unconditional(flood, "tcp_syncookies=0"),
                                sysctls={"tcp_syncookies": "1"})
    result = _run(stack, mixed)
    failed = [s for s in result.steps if s.verdict == "fail"]
    assert result.verdict == "fail" and [(s.step, s.expected) for s in failed] == [("a6..a8: expect NONE", "NONE")]
    assert [o.split(" ")[:2] for o in failed[0].observed.split("; ")] == [["a6:", "SYN_ACK"], ["a7:", "SYN_ACK"],
                                                                        ["a8:", "SYN_ACK"]]
    assert {s.verdict for s in result.steps[4:]} == {"skipped"}
    pile = BY_NAME["close_wait_pile"]
    short = dataclasses.replace(pile, steps=pile.steps[:5] + (ExpectStates((("c", "ESTABLISHED"),),
                                                                           (("listener", 4),)),))
    wrong = _run(stack, short)
    assert wrong.verdict == "fail" and wrong.steps[-1].observed == "listener accept queue 5"


def test_ephemeral_ports_run_out_inside_the_namespace(tcp_harness: Stack) -> None:
    stack = _linux(tcp_harness)
    result = _run(stack, BY_NAME["ephemeral_ports_exhausted"])
    low, high = EPHEMERAL_RANGE
    ports = next(s for s in result.steps if "ip_local_port_range" in s.step)
    assert ports.verdict == "pass" and "e1, e2, e3, e4: TIME_WAIT" in ports.state
    assert result.steps[-1].step == "e5: call connect, says EADDRNOTAVAIL" and result.steps[-1].verdict == "pass"
    assert result.sysctls == {"net/ipv4/ip_local_port_range": f"{low} {high}"}
    # a range one port wider leaves the fifth connect() a port: the same expectation fails
    wider = dataclasses.replace(BY_NAME["ephemeral_ports_exhausted"],
                                sysctls={"ip_local_port_range": f"{low} {high + 1}"})
    failed = _run(stack, wider)
    assert failed.verdict == "fail" and failed.steps[8].expected == f"every port of {low}-{high + 1} once"
    assert len(failed.steps[8].observed.split(", ")) == 4  # four of the five, whichever Linux chose


def test_repeats_give_the_same_verdicts(tcp_harness: Stack) -> None:
    """Fresh ports per run: the TIME_WAIT sockets of earlier runs change nothing."""
    stack = _linux(tcp_harness)
    for _ in range(3):
        assert [_run(stack, s).verdict for s in crowd_suite()] == ["pass"] * len(crowd_suite())


def test_a_step_that_cannot_be_made_fails_the_scenario(tcp_harness: Stack) -> None:
    stack = _linux(tcp_harness)
    base = BY_NAME["close_wait_pile"]
    impossible = dataclasses.replace(base, steps=(base.steps[0], Inject("ACK_OF_FIN", on="c1")))  # no FIN was sent
    result = _run(stack, impossible)
    assert result.verdict == "fail" and result.steps[-1].observed == "error" and "FIN" in result.steps[-1].note
    # close() with no descriptor (c1 was never accepted) is the scenario's mistake, not a pass
    unaccepted = dataclasses.replace(base, steps=(base.steps[0], Call("close", on="c1")))
    closed = _run(stack, unaccepted)
    assert closed.verdict == "fail" and closed.steps[-1].observed.startswith("c1: none (never accepted")


def test_a_setting_the_namespace_refuses_fails_the_scenario_alone(tcp_harness: Stack) -> None:
    """ip_local_port_range high below low: the kernel refuses it (EINVAL);
    the scenario fails in one note, nothing is left set, the next one runs."""
    stack = _linux(tcp_harness)
    inside = stack.ns.sysctls(KEYS)
    refused = dataclasses.replace(BY_NAME["ephemeral_ports_exhausted"],
                                  sysctls={"tcp_syncookies": "2", "ip_local_port_range": "61003 61000"})
    result = _run(stack, refused)
    assert result.verdict == "fail" and not result.steps and "cannot set the scenario's sysctls" in result.note
    assert stack.ns.sysctls(KEYS) == inside
    assert _run(stack, BY_NAME["close_wait_pile"]).verdict == "pass"


def test_other_stacks_say_not_drivable() -> None:
    from tcpcheck.tools.runner.stacks.model import ModelStack

    stack = ModelStack()
    try:
        result = execute(stack, BY_NAME["close_wait_pile"], stack.profile())
    finally:
        stack.close()
    assert result.verdict == "not drivable" and "several connections" in result.note and not result.steps


def test_cli_lists_selects_and_refuses() -> None:
    listed = CliRunner().invoke(main, ["run", "--crowd", "--list", "--json"])
    assert listed.exit_code == 0 and [s["name"] for s in json.loads(listed.stdout)["scenarios"]] == list(BY_NAME)
    every = CliRunner().invoke(main, ["run", "--list", "--json"])
    assert set(BY_NAME) <= {s["name"] for s in json.loads(every.stdout)["scenarios"]}
    one = CliRunner().invoke(main, ["run", "--crowd", "active_open"])
    assert one.exit_code == 2 and "has one connection; --crowd selects" in one.stderr
    assert one.stderr.count("\n") == 1
    both = CliRunner().invoke(main, ["run", "--crowd", "--loopback"])
    assert both.exit_code == 2 and "--loopback" in both.stderr


def test_cli_runs_them_with_the_others(tcp_harness: Stack, tmp_path: Path) -> None:
    """-j 2, JSON, JUnit and pcaps as for any scenario; a one-connection
    scenario in the same run."""
    _linux(tcp_harness)
    junit = tmp_path / "junit.xml"
    done = CliRunner().invoke(main, ["run", "close_wait_pile", "syn_flood_cookies", "active_open", "-j", "2",
                                     "--json", "--junit-xml", str(junit), "--pcap", str(tmp_path / "pcaps")])
    assert done.exit_code == 0, done.output
    out = json.loads(done.stdout)
    assert [r["verdict"] for r in out["results"]] == ["pass", "pass", "pass"]
    pile = out["results"][0]["steps"]
    assert any("c1, c2, c3, c4, c5: CLOSE_WAIT" in s.get("state", "") for s in pile)
    rows = {(r["transition"], r["scenario"], r["verdict"]) for r in out["matrix"]}
    assert ("(none)", "close_wait_pile", "pass") in rows
    import xml.etree.ElementTree as ET

    cases = {c.get("name"): c for c in ET.parse(junit).getroot().iter("testcase")}
    assert sorted(cases) == ["active_open", "close_wait_pile", "syn_flood_cookies"]
    assert cases["close_wait_pile"].find("failure") is None
    pcaps = sorted(p.name for p in (tmp_path / "pcaps").iterdir())
    assert pcaps == ["active_open.pcap", "close_wait_pile.pcap", "syn_flood_cookies.pcap"]
    assert (tmp_path / "pcaps" / "close_wait_pile.pcap").stat().st_size > 24 + 35 * 40


# -- the vocabulary: the built-in ones are valid data, and each bad field is one located line ------------------


def test_crowd_scenarios_are_data_in_the_schema(tmp_path: Path) -> None:
    import jsonschema

    doc = {"scenarios": [s.to_json() for s in crowd_suite()]}
    assert list(jsonschema.Draft202012Validator(scenario_schema()).iter_errors(doc)) == []
    path = tmp_path / "crowd.json"
    path.write_text(json.dumps(doc))
    assert load_scenarios(path) == crowd_suite()


def _crowd(**change: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "name": "s", "sysctls": {"tcp_syncookies": "1"},
        "connections": [{"name": "listener", "role": "listener"}, {"name": "a", "role": "peer", "count": 2,
                                                                   "to": "listener"}],
        "steps": [{"kind": "call", "op": "listen", "arg": "4", "on": "listener"},
                  {"kind": "inject", "segment": "SYN", "on": "a"},
                  {"kind": "expect_states", "states": {"a1..a2": "SYN_RCVD"}, "accept_queue": {"listener": 0}}],
    }
    row.update(change)
    return row


def _step(step: dict[str, Any]) -> dict[str, Any]:
    return _crowd(steps=[*_crowd()["steps"], step])


@pytest.mark.parametrize(("doc", "message"), [
    # connections
    (_crowd(connections=[{"name": "a", "role": "crowd"}]), r"\$\[0\]\.connections\[0\]\.role: 'crowd' is not one"),
    (_crowd(connections=[{"name": "a", "role": "peer", "count": 2}]),
     r"\$\[0\]: connections\[0\] field 'to': a peer connection names the listener"),
    (_crowd(connections=[{"name": "a", "role": "peer", "count": 40, "to": "l"}]),
     r"\$\[0\]\.connections\[0\]\.count: 40 is greater than the maximum of 16"),
    (_crowd(connections=[{"name": "l", "role": "listener"}, {"name": "a", "role": "peer", "count": 2, "to": "b"}]),
     r"\$\[0\]: connections\[1\]: field 'to': 'b' is not a listener"),
    (_crowd(connections=[{"name": "a", "role": "listener"}, {"name": "a", "role": "client", "count": 1}]),
     r"\$\[0\]: field 'connections': 'a' is declared twice"),
    # on
    (_step({"kind": "inject", "segment": "SYN", "on": "b1"}),
     r"\$\[0\]: steps\[3\] 'b1' names no connection; declared: listener, a1, a2"),
    (_step({"kind": "inject", "segment": "SYN"}), r"\$\[0\]: steps\[3\] field 'on': 'inject SYN' names the conn"),
    (_step({"kind": "inject", "segment": "SYN", "on": "listener"}), r"steps\[3\] field 'on': a listener neither"),
    ([{"name": "s", "steps": [{"kind": "call", "op": "listen", "on": "l"}]}],
     r"\$\[0\]: steps\[0\]: 'l: call listen' is about several connections: declare them in 'connections'"),
    # errno, arg, op
    (_step({"kind": "call", "op": "connect", "on": "a1", "errno": "ENOPE"}), r"steps\[3\]: field 'errno': unknown"),
    (_step({"kind": "call", "op": "close", "on": "a1", "errno": "EINVAL"}), r"field 'errno': only connect says"),
    (_step({"kind": "call", "op": "listen", "on": "listener", "arg": "many"}), r"field 'arg': listen's backlog"),
    (_step({"kind": "call", "op": "accept", "on": "listener"}), r"field 'arg': the connections accept\(\) must"),
    (_step({"kind": "call", "op": "connect", "on": "a1", "errno": "EINPROGRESS"}), r"field 'op': connect is not"),
    (_step({"kind": "expect_state", "state": "LISTEN"}), r"steps\[3\] 'expect_state LISTEN': with several conn"),
    # when
    (_step({"kind": "expect", "segment": "SYN_ACK", "on": "a", "when": "tcp_syncookies"}),
     r"\$\[0\]\.steps\[3\]\.when: 'tcp_syncookies' does not match"),
    (_step({"kind": "expect", "segment": "SYN_ACK", "on": "a", "when": "tcp_rfc1337=1"}),
     r"steps\[3\] field 'when': 'tcp_rfc1337' is not among the scenario's sysctls \(tcp_syncookies\)"),
    # expect_states
    (_step({"kind": "expect_states", "states": {"a": "SYN_SENDING"}}),
     r"steps\[3\]: field 'states': unknown state 'SYN_SENDING'"),
    (_step({"kind": "expect_states", "states": {"a": "LISTEN"}, "accept_queue": {"a1": 0}}),
     r"steps\[3\] field 'accept_queue': 'a1' is not a listener"),
    (_step({"kind": "expect_states", "states": {"a": "LISTEN"}, "accept_queue": {"listener": -1}}),
     r"\$\[0\]\.steps\[3\]\.accept_queue\.listener: -1 is less than the minimum of 0"),
    (_step({"kind": "expect_states", "states": {"a": "LISTEN"}, "held": "a3"}), r"steps\[3\] 'a3' names no conn"),
    (_step({"kind": "expect_states", "states": {"a": "LISTEN"}, "port_range": "z"}), r"steps\[3\] 'z' names no"),
    (_step({"kind": "expect_states", "states": {}}), r"\$\[0\]\.steps\[3\]\.states: {} should be non-empty"),
])
def test_bad_crowd_fields_are_one_located_line(tmp_path: Path, doc: object, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps([doc] if isinstance(doc, dict) else doc))
    with pytest.raises(InputError, match=message) as err:
        load_scenarios(path)
    assert "\n" not in str(err.value) and str(err.value).startswith(str(path))


def test_a_good_crowd_file_loads_and_a_bad_one_is_exit_2(tmp_path: Path) -> None:
    """The base of the bad cases above is itself valid (each case breaks one
    field); the command line says a bad one in one line, exit 2."""
    assert Scenario.from_json(_crowd()).connections[1].members() == ["a1", "a2"]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps([_step({"kind": "inject", "segment": "SYN", "on": "b1"})]))
    result = CliRunner().invoke(main, ["run", "--list", str(path)])
    assert result.exit_code == 2 and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "'b1' names no connection" in result.stderr
