"""Running many scenarios: in this process, or in N worker processes that
each own a stack (for Linux, a private namespace, like pytest-xdist
workers)."""

from __future__ import annotations

import multiprocessing
import signal
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from tcpcheck.tools.runner.execute import ScenarioResult, execute
from tcpcheck.tools.runner.pcap import write_pcap
from tcpcheck.tools.runner.profile import Profile
from tcpcheck.tools.runner.stack import Stack, StackInfo
from tcpcheck.tools.runner.stacks import make_stack
from tcpcheck.tools.scenario import Scenario

_WORKER: Stack | None = None


def _init_worker(name: str, options: dict[str, Any]) -> None:
    global _WORKER
    # Ctrl-C reaches the whole process group: the parent stops the run and
    # says so in one line; a worker finishes its scenario quietly.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _WORKER = make_stack(name, **options)


def _run_in_worker(scenario: Scenario, profile: Profile) -> ScenarioResult:
    assert _WORKER is not None
    return execute(_WORKER, scenario, profile)


def _info_in_worker(extra: dict[str, str]) -> StackInfo:
    assert _WORKER is not None
    return _WORKER.info(extra)


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
    results: list[ScenarioResult] = []
    if jobs <= 1:
        with make_stack(stack, **options) as made:
            info = made.info(extra)
            for scenario in scenarios:
                result = execute(made, scenario, profile)
                results.append(result)
                if on_result:
                    on_result(result)
    else:
        # fork: the parent has made no namespace thread, so nothing odd is
        # copied; each worker makes its own stack in its initializer.
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=_init_worker,
                                 initargs=(stack, options)) as pool:
            try:
                info = pool.submit(_info_in_worker, extra).result()
                futures = [pool.submit(_run_in_worker, s, profile) for s in scenarios]
                for future in futures:
                    result = future.result()
                    results.append(result)
                    if on_result:
                        on_result(result)
            except KeyboardInterrupt:
                pool.shutdown(wait=False, cancel_futures=True)  # what has not started never will
                raise
    if pcap_dir is not None:
        for result in results:
            write_pcap(Path(pcap_dir) / f"{result.scenario}.pcap", result.packets)
    return info, results
