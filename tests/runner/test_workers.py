"""The one pool both runners use (``tools/runner/workers.py``), on a toy
world, and what the command line says when the environment is wrong:
one line, exit 2, before any work."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tcpcheck.tools.runner.pcap import pcap_name
from tcpcheck.tools.runner.workers import WorkerDied, run_batch
from tests.loopback.test_host_safety import ROOT
from tests.runner.hostnet import process_start_ticks


@contextmanager
def _world() -> Iterator[dict[str, int]]:
    yield {"pid": os.getpid()}


def _work(world: dict[str, int], n: int) -> tuple[int, int]:
    if n < 0:
        raise ValueError(f"task {n} refuses")
    if n == 99:
        os.kill(os.getpid(), signal.SIGKILL)
    return n * n, world["pid"]


def test_results_come_back_in_order_from_worker_processes() -> None:
    seen: list[tuple[int, int]] = []
    info, results = run_batch(range(20), _world, _work, lambda w: w["pid"], jobs=3, on_result=seen.append)
    assert [r[0] for r in results] == [n * n for n in range(20)]
    assert seen == results
    workers = {pid for _, pid in results}
    assert os.getpid() not in workers and info != os.getpid() and 1 <= len(workers) <= 3
    assert all(process_start_ticks(pid) is None for pid in workers)  # all reaped


def test_serial_runs_in_this_process() -> None:
    info, results = run_batch([1, 2], _world, _work, lambda w: w["pid"])
    assert info == os.getpid() and results == [(1, os.getpid()), (4, os.getpid())]


def test_an_error_in_a_worker_is_raised_here_as_itself() -> None:
    with pytest.raises(ValueError, match="task -1 refuses"):
        run_batch([1, -1, 2], _world, _work, lambda w: 0, jobs=2)


def test_an_error_in_a_workers_setup_is_raised_here() -> None:
    @contextmanager
    def broken() -> Iterator[None]:
        raise PermissionError("no CAP_SYS_ADMIN here")
        yield

    with pytest.raises(PermissionError, match="CAP_SYS_ADMIN"):
        run_batch([1, 2], broken, lambda w, n: n, lambda w: 0, jobs=2)


def test_a_worker_that_dies_is_one_clear_error() -> None:
    with pytest.raises(WorkerDied, match="killed by signal 9"):
        run_batch([1, 99, 2], _world, _work, lambda w: 0, jobs=2)


def test_pcap_names_are_file_names() -> None:
    assert pcap_name("active_open") == "active_open.pcap"
    assert pcap_name("../../etc/x y") == "etc_x_y.pcap"
    assert pcap_name("tests/a.py::test[b]") == "tests_a.py_test_b.pcap"
    assert pcap_name("..") == "unnamed.pcap"


def _tcpcheck(*args: str, prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*prefix, sys.executable, "-m", "tcpcheck", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)


@pytest.mark.parametrize("args", [["run", "--pcap", "/proc/tcpcheck-out", "-j", "2"],
                                  ["run", "--junit-xml", "/sys/tcpcheck.xml"],
                                  ["run", "--loopback", "--pcap", "/proc/tcpcheck-out"]])
def test_an_unwritable_output_is_one_line_before_the_run(args: list[str]) -> None:
    done = _tcpcheck(*args)
    assert done.returncode == 2 and done.stdout == "", done.stderr
    assert done.stderr.count("\n") == 1 and "cannot write" in done.stderr


@pytest.mark.parametrize("args", [["run", "-j", "2"], ["run", "--loopback", "-j", "2"], ["run"]])
def test_no_cap_sys_admin_is_one_line(args: list[str], tmp_path: Path) -> None:
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root and setpriv (util-linux)")
    done = _tcpcheck(*args, prefix=("setpriv", "--inh-caps=-sys_admin", "--bounding-set=-sys_admin"))
    assert done.returncode == 2 and done.stdout == "", done.stderr
    assert done.stderr.count("\n") == 1 and "CAP_SYS_ADMIN" in done.stderr, done.stderr
