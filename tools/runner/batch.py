"""Running many scenarios: in this process, or in N worker processes that
each own a stack (for Linux, a private namespace); see ``workers``."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from tcpcheck.tools.runner.execute import ScenarioResult, execute
from tcpcheck.tools.runner.pcap import write_pcaps
from tcpcheck.tools.runner.profile import Profile
from tcpcheck.tools.runner.stack import Stack, StackInfo
from tcpcheck.tools.runner.stacks import make_stack
from tcpcheck.tools.runner.workers import run_batch
from tcpcheck.tools.scenario import Scenario


def run_scenarios(
    scenarios: Sequence[Scenario],
    profile: Profile,
    jobs: int = 1,
    pcap_dir: str | Path | None = None,
    on_result: Callable[[ScenarioResult], None] | None = None,
    stack: str = "linux",
    stack_options: Mapping[str, Any] | None = None,
) -> tuple[StackInfo, list[ScenarioResult]]:
    """Run ``scenarios`` on stack ``stack`` (made with ``stack_options``), in
    order, results in the same order; write one pcap per scenario into
    ``pcap_dir`` when given."""
    extra: dict[str, str] = {}
    for s in scenarios:
        extra.update(s.sysctls)
    options = dict(stack_options or {})

    def describe(made: Stack) -> StackInfo:
        return made.info(extra)

    def work(made: Stack, scenario: Scenario) -> ScenarioResult:
        return execute(made, scenario, profile)

    info, results = run_batch(scenarios, lambda: make_stack(stack, **options), work, describe, jobs, on_result)
    if pcap_dir is not None:
        write_pcaps(pcap_dir, results)
    return info, results
