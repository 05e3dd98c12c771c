"""Playing a generated scenario from a pytest test, through the runner.

The generated files in ``generated_tests/`` stay plain: each test builds a
``Scenario`` from its literal step list and hands it to the
``tcpcheck_play`` fixture defined here (re-exported by the generated
``conftest.py``). The runner (``tcpcheck.tools.runner``) plays it against the stack
and judges every step; a test passes when every step passed or differed in
a way the stack's profile documents.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from functools import cache
from typing import Any

import pytest

from tcpcheck.tools.scenario import Scenario, Step

Player = Callable[..., Any]


@cache
def _spec() -> Any:
    # One spec object per process: the loopback judge caches its composed
    # model by the spec's identity (building it takes most of a second).
    from tcpcheck.model.spec import load_spec

    return load_spec()


@cache
def _profile(name: str) -> Any:
    from tcpcheck.tools.runner.profile import load_profile, profile_path

    return load_profile(profile_path(name), {t.id for t in _spec().transitions}, _spec().told_calls)


def explain(result: Any) -> str:
    """The runner's per-step verdicts as a readable table."""
    lines = [f"scenario {result.scenario}: {result.verdict}"]
    for s in result.steps:
        seen = f" (expected {s.expected}, observed {s.observed})" if s.expected or s.observed else ""
        note = f"  -- {s.note}" if s.note else ""
        went = f"; went {s.path}" if getattr(s, "path", "") else ""
        lines.append(f"  {s.index:>3} {s.verdict:<9} {s.step:<28} state {s.state}{went}{seen}{note}")
    return "\n".join(lines)


def play(stack: Any, scenario: Scenario, profile: str = "linux", pcap_dir: str | None = None) -> Any:
    """Run ``scenario`` on ``stack`` (a ``tcpcheck.tools.runner.stack.Stack``)
    and judge it with the stack's profile (``profile``: the one the suite
    was generated for, which judges a stack that has it); AssertionError
    (with the step table) unless every step passed or is a documented
    deviation. Returns the runner's ``ScenarioResult``."""
    from tcpcheck.tools.runner.execute import execute

    result = execute(stack, scenario, stack.profile(profile))
    if pcap_dir:
        from tcpcheck.tools.runner.pcap import pcap_name, write_pcap

        write_pcap(os.path.join(pcap_dir, pcap_name(scenario.name)), result.packets)
    if result.verdict == "not drivable":
        pytest.skip(f"not drivable on {stack.name}: {result.note}")
    if result.verdict not in ("pass", "deviation"):
        raise AssertionError(explain(result))
    return result


@pytest.fixture
def tcpcheck_play(tcp_harness: Any, request: pytest.FixtureRequest) -> Player:
    """``tcpcheck_play(name, steps, transitions=..., sysctls=..., profile=...)``:
    play one generated scenario on the per-process stack (``--tcpcheck-stack``)."""

    def run(
        name: str,
        steps: Iterable[Step],
        transitions: Iterable[str] = (),
        walk: Iterable[str] = (),
        sysctls: dict[str, str] | None = None,
        profile: str = "linux",
        slow: bool = False,
    ) -> Any:
        scenario = Scenario(name, tuple(steps), tuple(transitions), sysctls=dict(sysctls or {}), slow=slow,
                            walk=tuple(walk))
        return play(tcp_harness, scenario, profile, request.config.getoption("--tcpcheck-pcap"))

    return run


def explain_pair(result: Any) -> str:
    """A loopback result's steps, both paths and the judge's problems."""
    lines = [explain(result)]
    if result.check is not None:
        for side, path in result.check.paths.items():
            lines.append(f"  {side}: {path.text()}" + (f"  -- {path.problem}" if path.problem else ""))
        lines.extend(f"  model check: {p}" for p in result.check.problems)
    return "\n".join(lines)


def play_loopback(harness: Any, scenario: Scenario, profile: str = "linux", pcap_dir: str | None = None) -> Any:
    """Run a two-sided ``scenario`` on ``lo`` and check it against the
    composed model; AssertionError unless it passed or deviated as the
    profile documents. Returns the ``PairResult``."""
    from tcpcheck.tools.runner.loopback.execute import execute_pair

    result = execute_pair(harness, scenario, _spec(), _profile(profile))
    if pcap_dir:
        from tcpcheck.tools.runner.pcap import pcap_name, write_pcap

        write_pcap(os.path.join(pcap_dir, pcap_name(scenario.name)), result.packets)
    if result.verdict not in ("pass", "deviation"):
        raise AssertionError(explain_pair(result))
    return result


@pytest.fixture
def tcpcheck_play_loopback(tcp_loopback: Any, request: pytest.FixtureRequest) -> Player:
    """``tcpcheck_play_loopback(name, steps, transitions=..., profile=...)``:
    play one generated two-sided scenario on the per-process loopback harness."""

    def run(
        name: str,
        steps: Iterable[Step],
        transitions: Iterable[str] = (),
        sysctls: dict[str, str] | None = None,
        profile: str = "linux",
    ) -> Any:
        scenario = Scenario(name, tuple(steps), tuple(transitions), sysctls=dict(sysctls or {}), loopback=True)
        return play_loopback(tcp_loopback, scenario, profile, request.config.getoption("--tcpcheck-pcap"))

    return run
