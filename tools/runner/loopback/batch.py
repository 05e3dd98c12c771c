"""Running many loopback scenarios: in this process, or in N worker
processes that each own a namespace and a trace instance (``workers``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from tcpcheck.model.spec import Spec
from tcpcheck.tools.runner.loopback.execute import PairResult, execute_pair
from tcpcheck.tools.runner.loopback.pair import LoopbackHarness
from tcpcheck.tools.runner.pcap import write_pcaps
from tcpcheck.tools.runner.profile import Profile
from tcpcheck.tools.runner.workers import run_batch
from tcpcheck.tools.scenario import Scenario


def run_pairs(
    scenarios: Sequence[Scenario],
    spec: Spec,
    profile: Profile | None,
    jobs: int = 1,
    trace: bool = True,
    pcap_dir: str | Path | None = None,
    on_result: Callable[[PairResult], None] | None = None,
) -> tuple[dict[str, object], list[PairResult]]:
    """Run loopback ``scenarios`` (results in the same order); one pcap per
    scenario into ``pcap_dir`` when given."""

    # The spec and profile reach a worker through the fork, not once per
    # task: the judge caches the composed model by the spec object.
    def work(harness: LoopbackHarness, scenario: Scenario) -> PairResult:
        return execute_pair(harness, scenario, spec, profile)

    info, results = run_batch(scenarios, lambda: LoopbackHarness(trace=trace), work, LoopbackHarness.info, jobs,
                              on_result)
    if pcap_dir is not None:
        write_pcaps(pcap_dir, results)
    return info, results
