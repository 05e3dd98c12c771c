"""What the tests of the in-process user-space stacks (lwIP, PyTCP) share:
the stack for a test module, the generated transition suite, its verdicts
pinned, and the negative control on a wrong expected state."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from tcpcheck.model.spec import load_spec
from tcpcheck.tools.generate import build_suite, load_drive_model
from tcpcheck.tools.generate.paths import Explorer
from tcpcheck.tools.pytest_plugin import skip_or_fail
from tcpcheck.tools.runner.execute import ScenarioResult, execute
from tcpcheck.tools.runner.stack import Stack
from tcpcheck.tools.runner.stacks import make_stack, unavailable
from tcpcheck.tools.scenario import ExpectState, Scenario


def module_stack(request: pytest.FixtureRequest, name: str) -> Iterator[Stack]:
    """Stack ``name`` for a test module (skipped without it, failed in CI);
    the plugin's own when ``--tcpcheck-stack`` chose it (one per process:
    both keep their state in globals)."""
    reason = unavailable(name)
    if reason:
        skip_or_fail(reason)
    if request.config.getoption("--tcpcheck-stack") == name:
        yield request.getfixturevalue("tcp_harness")
        return
    stack = make_stack(name)
    yield stack
    stack.close()


def transitions_suite() -> tuple[Scenario, ...]:
    """The generated transition suite (52 scenarios)."""
    model = load_drive_model(load_spec(), "linux")
    return build_suite(model, "transitions", 1, Explorer(model)).scenarios


def run_suite(stack: Stack, suite: tuple[Scenario, ...]) -> dict[str, ScenarioResult]:
    """Every scenario of ``suite`` on ``stack``, judged by its profile."""
    profile = stack.profile()
    return {s.name: execute(stack, s, profile) for s in suite}


def expected_verdicts(suite: tuple[Scenario, ...], deviates: dict[str, str],
                      not_drivable: set[str]) -> dict[str, tuple[str, tuple[str, ...]]]:
    """The pinned verdict of each scenario: not drivable, a deviation by the
    named profile entry, else pass."""
    return {
        s.name: ("not drivable", ()) if s.name in not_drivable
        else ("deviation", (deviates[s.name],)) if s.name in deviates
        else ("pass", ())
        for s in suite
    }


def check_a_wrong_expected_state_fails(stack: Stack) -> None:
    """The scenario that passes, with ESTABLISHED replaced by CLOSE_WAIT in
    its last expectation, fails at that step."""
    scenario = next(s for s in transitions_suite() if s.name == "t06_syn_sent_syn_ack_established")
    assert execute(stack, scenario, stack.profile()).verdict == "pass"
    last = max(i for i, s in enumerate(scenario.steps) if isinstance(s, ExpectState))
    steps = list(scenario.steps)
    steps[last] = ExpectState("CLOSE_WAIT")
    result = execute(stack, replace(scenario, steps=tuple(steps)), stack.profile())
    assert result.verdict == "fail"
    bad = next(s for s in result.steps if s.verdict == "fail")
    assert (bad.index, bad.expected, bad.observed) == (last + 1, "state CLOSE_WAIT", "state ESTABLISHED")


def check_settings_it_lacks_are_not_drivable(stack: Stack) -> None:
    """A scenario that needs a setting the stack cannot set, and does not
    have (its profile's [[setting]]), is ``not drivable`` with the reason,
    never run; one whose setting the stack has always runs and is judged
    (here, the stack ignores a RST in TIME_WAIT: tcp_rfc1337 = 1)."""
    from tcpcheck.tools.runner.suite import default_suite

    suite = {s.name: s for s in default_suite()}
    profile = stack.profile()
    for name, needs in (("no_time_wait_old_segments_accepted", "needs tcp_max_tw_buckets = 0"),
                        ("no_time_wait_fin_again", "needs tcp_max_tw_buckets = 0"),
                        ("rst_in_time_wait", "needs tcp_rfc1337 = 0")):
        result = execute(stack, suite[name], profile)
        assert (result.verdict, result.steps) == ("not drivable", []), (name, result.to_json())
        assert result.note.startswith(f"{needs}: {profile.name} cannot set it"), result.note
    assert "behaves as tcp_rfc1337 = 1" in execute(stack, suite["rst_in_time_wait"], profile).note
    held = execute(stack, suite["rst_in_time_wait_rfc1337"], profile)
    assert held.verdict == "deviation" and held.deviations == ["rst_ignored_in_time_wait"]
    # the same scenario without the [[setting]]: not drivable
    bare = replace(profile, settings={})
    assert execute(stack, suite["rst_in_time_wait_rfc1337"], bare).verdict == "not drivable"
