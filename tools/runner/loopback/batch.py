"""Running many loopback scenarios: in this process, or in N worker
processes that each own a namespace and a trace instance."""

from __future__ import annotations

import multiprocessing
import re
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from tcpcheck.model.spec import Spec
from tcpcheck.tools.runner.loopback.execute import PairResult, execute_pair
from tcpcheck.tools.runner.loopback.pair import LoopbackHarness
from tcpcheck.tools.runner.pcap import write_pcap
from tcpcheck.tools.runner.profile import Profile
from tcpcheck.tools.scenario import Scenario

_WORKER: tuple[LoopbackHarness, Spec, Profile | None] | None = None


def _init_worker(trace: bool, spec: Spec, profile: Profile | None) -> None:
    # The spec and profile travel once per worker, not once per task: the
    # judge caches the composed model by the spec object it was built from.
    global _WORKER
    _WORKER = (LoopbackHarness(trace=trace), spec, profile)


def _run_in_worker(scenario: Scenario) -> PairResult:
    assert _WORKER is not None
    harness, spec, profile = _WORKER
    return execute_pair(harness, scenario, spec, profile)


def _info_in_worker() -> dict[str, object]:
    assert _WORKER is not None
    return _WORKER[0].info()


def pcap_name(scenario: str) -> str:
    """The pcap file of a scenario (safe as a file name)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", scenario) + ".pcap"


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
    results: list[PairResult] = []
    if jobs <= 1:
        with LoopbackHarness(trace=trace) as harness:
            info = harness.info()
            for scenario in scenarios:
                result = execute_pair(harness, scenario, spec, profile)
                results.append(result)
                if on_result:
                    on_result(result)
    else:
        # fork: the parent has made no namespace thread and no trace
        # instance; each worker makes its own in its initializer.
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=_init_worker,
                                 initargs=(trace, spec, profile)) as pool:
            info = pool.submit(_info_in_worker).result()
            futures = [pool.submit(_run_in_worker, s) for s in scenarios]
            for future in futures:
                result = future.result()
                results.append(result)
                if on_result:
                    on_result(result)
    if pcap_dir is not None:
        for result in results:
            write_pcap(Path(pcap_dir) / pcap_name(result.scenario), result.packets)
    return info, results
