"""Several connections per scenario (issue 15, item 5) on the real kernel:
the SYN flood with and without cookies, the CLOSE_WAIT pile, TIME_WAIT
reused by a new SYN, ephemeral ports running out behind TIME_WAIT. States
come from one sock_diag dump of the private namespace; the sysctls are the
namespace's, put back afterwards, and the host's are never touched."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from tcpcheck.tools.runner.crowd import CROWD, EPHEMERAL_RANGE, SYN_QUEUE, Crowd, CrowdScenario, run_crowd, syn_flood
from tcpcheck.tools.runner.execute import ScenarioResult
from tcpcheck.tools.runner.stack import Stack
from tcpcheck.tools.runner.stacks.linux import LinuxStack

BY_NAME = {s.name: s for s in CROWD}
KEYS = ["net/ipv4/tcp_syncookies", "net/ipv4/ip_local_port_range", "net/ipv4/tcp_max_syn_backlog"]


def _linux(stack: Stack) -> LinuxStack:
    if not isinstance(stack, LinuxStack):
        pytest.skip("several connections are played on the Linux namespace")
    return stack


def _host(key: str) -> str:
    return Path("/proc/sys", key).read_text()


def _states_steps(result: ScenarioResult) -> list[str]:
    return [s.state for s in result.steps if s.step.startswith("expect_states")]


@pytest.mark.parametrize("scenario", CROWD, ids=[s.name for s in CROWD])
def test_crowd_scenario_on_the_kernel(scenario: CrowdScenario, tcp_harness: Stack) -> None:
    stack = _linux(tcp_harness)
    host = {k: _host(k) for k in KEYS}
    inside = stack.ns.sysctls(KEYS)
    result = run_crowd(stack, scenario)
    assert result.verdict == "pass", [s.to_json() for s in result.steps]
    assert len(result.steps) >= 3 and all(s.verdict == "pass" for s in result.steps)
    assert result.packets, "every connection's packets are captured"
    assert stack.ns.sysctls(KEYS) == inside
    assert {k: _host(k) for k in KEYS} == host


def test_syn_flood_counts(tcp_harness: Stack) -> None:
    """Without cookies the SYN queue holds backlog + 1 request sockets and
    the other SYNs get nothing; with cookies on overflow every SYN gets a
    SYN,ACK but no more request sockets; with cookies always, none."""
    stack = _linux(tcp_harness)
    none = run_crowd(stack, BY_NAME["syn_flood_no_cookies"])
    held = ", ".join(f"a{i}" for i in range(1, SYN_QUEUE + 1))
    assert _states_steps(none)[0].startswith(f"{held}: SYN_RCVD; a6, a7, a8: CLOSED; listener: LISTEN")
    assert none.steps[1].step == "a1..a8: inject SYN (tcp_syncookies=0)" and none.steps[1].verdict == "pass"
    cookies = run_crowd(stack, BY_NAME["syn_flood_cookies"])
    assert _states_steps(cookies)[0].startswith(f"{held}: SYN_RCVD; a6, a7, a8: CLOSED")
    # the cookie's ACK lands in the accept queue
    assert "a8: ESTABLISHED" in _states_steps(cookies)[1] and "listener accept queue 1/4" in _states_steps(cookies)[1]
    always = run_crowd(stack, BY_NAME["syn_flood_cookies_always"])
    assert _states_steps(always)[0].startswith("a1, a2, a3, a4, a5, a6, a7, a8: CLOSED")


def test_a_wrong_expectation_fails(tcp_harness: Stack) -> None:
    """The no-cookie expectations under tcp_syncookies=1: the SYNs beyond the
    queue are answered (with cookies), so the scenario fails there; and a
    CLOSE_WAIT pile expected one connection short fails at the accept queue."""
    stack = _linux(tcp_harness)
    mixed = CrowdScenario("mixed", lambda c: syn_flood(c, "0"), {"tcp_syncookies": "1"}, "")
    result = run_crowd(stack, mixed)
    failed = [s for s in result.steps if s.verdict == "fail"]
    assert result.verdict == "fail" and [(s.expected, s.observed) for s in failed] == \
        [("SYN_ACK to a1..a5", "SYN_ACK to a1..a8")]

    def short(crowd: Crowd) -> None:
        port = crowd.listen("listener", 8)
        names = crowd.peers("c", 3, port)
        crowd.inject(names, "SYN", "SYN_ACK")
        crowd.inject(names, "ACK", "NONE")
        crowd.states(dict.fromkeys(names, "ESTABLISHED"), ("listener", 2))

    wrong = run_crowd(stack, dataclasses.replace(BY_NAME["close_wait_pile"], play=short))
    assert wrong.verdict == "fail" and wrong.steps[-1].observed == "listener accept queue 3"


def test_ephemeral_ports_run_out_inside_the_namespace(tcp_harness: Stack) -> None:
    stack = _linux(tcp_harness)
    result = run_crowd(stack, BY_NAME["ephemeral_ports_exhausted"])
    low, high = EPHEMERAL_RANGE
    ports = next(s for s in result.steps if s.step.endswith("ephemeral ports"))
    assert ports.verdict == "pass"
    assert result.steps[-1].step == "e_next: call connect" and result.steps[-1].verdict == "pass"
    assert result.sysctls == {"net/ipv4/ip_local_port_range": f"{low} {high}"}


def test_repeats_give_the_same_verdicts(tcp_harness: Stack) -> None:
    """Fresh ports per run: the TIME_WAIT sockets of earlier runs change nothing."""
    stack = _linux(tcp_harness)
    for _ in range(3):
        assert [run_crowd(stack, s).verdict for s in CROWD] == ["pass"] * len(CROWD)


def test_cli_lists_runs_and_refuses() -> None:
    from click.testing import CliRunner

    from tcpcheck.tools.cli.run import run

    listed = CliRunner().invoke(run, ["--crowd", "--list", "--json"])
    assert listed.exit_code == 0 and [s["name"] for s in json.loads(listed.output)] == [s.name for s in CROWD]
    unknown = CliRunner().invoke(run, ["--crowd", "nope"])
    assert unknown.exit_code == 2 and "unknown --crowd scenario" in unknown.output
    assert len(unknown.output.strip().splitlines()) == 1
    other = CliRunner().invoke(run, ["--crowd", "--stack", "model"])
    assert other.exit_code == 2 and "runs on Linux" in other.output


def test_cli_runs_one(tcp_harness: Stack) -> None:
    _linux(tcp_harness)
    from click.testing import CliRunner

    from tcpcheck.tools.cli.run import run

    done = CliRunner().invoke(run, ["--crowd", "close_wait_pile", "--json"])
    assert done.exit_code == 0, done.output
    out = json.loads(done.output)
    assert out["summary"] == {"scenarios": 1, "fail": 0, "pass": 1}
    assert any("c1, c2, c3, c4, c5: CLOSE_WAIT" in s.get("state", "") for s in out["results"][0]["steps"])


def test_a_step_that_cannot_be_made_fails_the_scenario(tcp_harness: Stack) -> None:
    stack = _linux(tcp_harness)

    def impossible(crowd: Crowd) -> None:
        port = crowd.listen("listener", 8)
        crowd.inject(crowd.peers("x", 1, port), "ACK_OF_FIN", "NONE")  # the stack sent no FIN

    result = run_crowd(stack, CrowdScenario("impossible", impossible, {}, ""))
    assert result.verdict == "fail" and result.steps[-1].step == "error" and "FIN" in result.steps[-1].note
