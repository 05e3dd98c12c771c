"""The stack interface on its own: every adapter offers the same calls and
the runner drives each the same way; the model stack runs the spec (or a
mutant) in-process, needing no privileges."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from tcpcheck.tools.cli import main
from tcpcheck.tools.pytest_plugin import skip_or_fail
from tcpcheck.tools.runner.execute import execute
from tcpcheck.tools.runner.stack import CallError, Endpoint, Stack
from tcpcheck.tools.runner.stacks import STACKS, make_stack, unavailable
from tcpcheck.tools.runner.stacks.model import ModelStack
from tcpcheck.tools.runner.suite import default_suite
from tcpcheck.tools.scenario import Call, Expect, ExpectState, Inject, Scenario

MUTANTS = Path(__file__).resolve().parents[1] / "mutants"


@pytest.fixture(params=sorted(STACKS))
def stack(request: pytest.FixtureRequest) -> Iterator[Stack]:
    """Each registered stack: the model in-process, Linux through the
    plugin's per-process namespace (skipped without root, failed in CI)."""
    if request.param == request.config.getoption("--tcpcheck-stack") or request.param == "linux":
        yield request.getfixturevalue("tcp_harness")
        return
    reason = unavailable(request.param)
    if reason:
        skip_or_fail(reason)
    made = make_stack(request.param)
    yield made
    made.close()


def test_a_stack_must_offer_every_call() -> None:
    class Partial(Stack):
        name = "partial"

    with pytest.raises(TypeError, match="abstract"):
        Partial()  # type: ignore[abstract]


def test_the_same_handshake_and_close_on_every_stack(stack: Stack) -> None:
    with stack.conversation() as conv:
        assert isinstance(conv.endpoint, Endpoint)
        assert conv.observe().state == "CLOSED"
        conv.call("connect")
        assert conv.expect("SYN").ok and conv.observe().state == "SYN_SENT"
        conv.inject("SYN_ACK")
        assert conv.expect("ACK").ok and conv.observe().state == "ESTABLISHED"
        conv.call("shutdown_wr")
        assert conv.expect("FIN").ok and conv.observe().state == "FIN_WAIT_1"
        conv.inject("ACK_OF_FIN")
        assert conv.expect("NONE").ok and conv.observe().state == "FIN_WAIT_2"
        conv.inject("FIN")
        assert conv.expect("ACK").ok and conv.observe().state == "TIME_WAIT"
        assert [c.outbound for c in conv.packets] == [True, False, True, True, False, False, True]
    with stack.conversation() as conv:
        conv.call("listen")
        with pytest.raises(CallError):
            conv.call("accept")  # nothing is queued yet
        conv.inject("SYN")
        assert conv.expect("SYN_ACK").ok and conv.observe().state == "SYN_RCVD"


def test_every_stack_describes_itself_and_its_timers(stack: Stack) -> None:
    info = stack.info()
    assert info.name == stack.name and info.release and info.title()
    timers = stack.timers()
    assert set(timers) == {"timeout_syn", "timeout_2msl", "timeout_fin_wait_2"}
    assert all(t.timer == name and t.bound >= 0 and t.how for name, t in timers.items())
    slow = next(s for s in default_suite() if s.name == "time_wait_expires")
    assert stack.needs_wait(slow) == (timers["timeout_2msl"].bound > 10)
    assert stack.profile().name == stack.name


def test_model_stack_fires_timers_when_asked() -> None:
    stack = ModelStack()
    scenario = next(s for s in default_suite() if s.name == "time_wait_expires")
    assert not stack.needs_wait(scenario)
    result = execute(stack, scenario, stack.profile())
    assert result.verdict == "pass", result.to_json()
    assert result.seconds < 1.0


def test_model_stack_runs_a_mutant() -> None:
    """tests/mutants/established_fin_no_ack.toml: a FIN in ESTABLISHED is
    not acknowledged. The spec's model stack passes the scenario, the
    mutant's fails it at the step that shows the fault."""
    steps = (Call("connect"), Expect("SYN"), Inject("SYN_ACK"), Expect("ACK"), ExpectState("ESTABLISHED"),
             Inject("FIN"), Expect("ACK"), ExpectState("CLOSE_WAIT"))
    scenario = Scenario("passive_close", steps, ("ESTABLISHED--FIN-->CLOSE_WAIT",))
    spec, mutant = ModelStack(), ModelStack(MUTANTS / "established_fin_no_ack.toml")
    assert execute(spec, scenario, spec.profile()).verdict == "pass"
    result = execute(mutant, scenario, mutant.profile())
    assert result.verdict == "fail"
    bad = next(s for s in result.steps if s.verdict == "fail")
    assert (bad.index, bad.expected, bad.observed) == (7, "ACK", "NONE")


def test_model_stack_numbers_are_the_judges(stack: Stack) -> None:
    """Refusals on a closed port take their numbers from the probe (RFC 9293
    §3.10.7.1); an abort resets at SND.NXT: the judge checks both."""
    for name in ("closed_port_syn", "closed_port_ack", "closed_port_fin", "abort_in_established",
                 "simultaneous_open_abort", "time_wait_syn_reopens"):
        scenario = next(s for s in default_suite() if s.name == name)
        result = execute(stack, scenario, stack.profile())
        # lwIP has no TIME_WAIT reopen: its profile says so (not drivable).
        allowed = ("pass", "deviation", "not drivable") if stack.profile().reason_not_drivable(
            "TIME_WAIT--SYN(implementation)-->SYN_RCVD") else ("pass", "deviation")
        assert result.verdict in allowed, name


def test_run_on_the_model_stack_from_the_command_line(tmp_path: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(main, ["run", "--stack", "model", "--json", "active_open", "passive_open"])
    assert ok.exit_code == 0, ok.output
    doc = json.loads(ok.output)
    assert doc["stack"]["name"] == "model" and doc["summary"]["pass"] == 2
    mutant = MUTANTS / "established_fin_no_ack.toml"
    failed = runner.invoke(main, ["run", "--stack", "model", "--spec", str(mutant), "passive_close"])
    assert failed.exit_code == 1 and "fail" in failed.output
    bad = runner.invoke(main, ["run", "--spec", str(mutant), "active_open"])
    assert bad.exit_code == 2 and "goes with --stack model" in bad.output


def test_plugin_runs_generated_tests_on_the_model_stack(tmp_path: Path) -> None:
    """The generated suites run on the model stack without root: no
    namespace is made (a netns that cannot be made would fail the test)."""
    generated = Path(__file__).resolve().parents[2] / "generated_tests"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", "-m", "",
         "--tcpcheck-stack", "model", str(generated / "test_generated_transitions.py")],
        capture_output=True, text=True, cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "TCPCHECK_REQUIRE_NETNS": "1", "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "skipped" not in result.stdout
    usage = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", "--tcpcheck-stack", "bsd",
         str(generated / "test_generated_states.py")], capture_output=True, text=True, cwd=tmp_path,
    )
    assert usage.returncode != 0 and "--tcpcheck-stack 'bsd'" in usage.stdout + usage.stderr
