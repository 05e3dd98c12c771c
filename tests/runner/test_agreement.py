"""The model stack agrees with Linux on every generated scenario where the
Linux profile documents no deviation: same verdict, same state after every
step (the model stack runs the spec with the Linux profile's options, so
the transitions Linux takes outside RFC 9293 are compared too). Scenarios
that are a prefix of another are covered by the longer one
(both stacks are deterministic); those that wait for Linux's 60 s TIME_WAIT
run only with ``-m slow``."""

from __future__ import annotations

from functools import cache

import pytest

from tcpcheck.model.spec import load_spec
from tcpcheck.tools.generate import CRITERIA, build_suite, load_drive_model
from tcpcheck.tools.generate.paths import Explorer
from tcpcheck.tools.runner.execute import ScenarioResult, execute, needs_slow
from tcpcheck.tools.runner.stack import Stack
from tcpcheck.tools.runner.stacks.model import ModelStack
from tcpcheck.tools.scenario import Scenario


def maximal_scenarios() -> list[Scenario]:
    """Every generated scenario (all criteria, as committed), less those whose
    steps are a prefix of another's."""
    spec = load_spec()
    model = load_drive_model(spec, "linux")
    explorer = Explorer(model)
    scenarios = [s for c in CRITERIA for s in build_suite(model, c, 1, explorer).scenarios]
    by_steps: dict[object, Scenario] = {}
    for s in scenarios:
        by_steps.setdefault(s.steps, s)
    kept: list[Scenario] = []
    prefixes: set[object] = set()
    for steps in sorted(by_steps, key=lambda st: -len(st)):  # type: ignore[arg-type]
        if steps not in prefixes:
            kept.append(by_steps[steps])
            prefixes.update(steps[:n] for n in range(len(steps) + 1))  # type: ignore[index]
    return sorted(kept, key=lambda s: s.name)


SCENARIOS = maximal_scenarios()


@cache
def _model() -> ModelStack:
    return ModelStack(capture=False)


def _states(result: ScenarioResult) -> list[str]:
    # What the user is told ("told recv: ...") is asked of a sockets API, and
    # a timer's time left ("timer time_wait restarted") of a clock: the model stack has neither.
    return [s.state.split(" ", 1)[0] for s in result.steps if not s.step.startswith(("told ", "timer "))]


def test_the_comparison_covers_every_generated_transition() -> None:
    covered = {t for s in SCENARIOS for t in s.transitions}
    explorer = Explorer(load_drive_model(load_spec(), "linux"))
    assert covered == explorer.drivable_ids()
    assert len(SCENARIOS) > 200


@pytest.mark.parametrize("scenario", [pytest.param(s, marks=[pytest.mark.slow] if needs_slow(s) else [], id=s.name)
                                      for s in SCENARIOS])
def test_model_stack_agrees_with_linux(scenario: Scenario, tcp_harness: Stack) -> None:
    if tcp_harness.name != "linux":
        pytest.skip("compares against Linux (run without --tcpcheck-stack)")
    linux = execute(tcp_harness, scenario, tcp_harness.profile("linux"))
    model = execute(_model(), scenario, _model().profile())
    assert model.verdict == "pass", model.to_json()
    # what the user is told, or a timer's clock, differing leaves the path as it is
    departed = [s for s in linux.steps if s.verdict == "deviation" and not s.step.startswith(("told ", "timer "))]
    if departed:
        pytest.skip(f"Linux departs from the RFC machine at step {departed[0].index}: {departed[0].note}")
    # Every step passed on Linux (an "extension" of the profile, a transition
    # outside RFC 9293 that the model has under the profile's options, too).
    assert all(s.verdict == "pass" or s.step.startswith(("told ", "timer ")) for s in linux.steps), linux.to_json()
    assert _states(model) == _states(linux)
