"""Signals to ``tcpcheck run``, serial and ``-j 2``, TUN and loopback:
SIGINT ends at once with one line and exit 130; after SIGINT, SIGTERM or
SIGKILL of the command no process of the run is left (workers, trace
watchdogs), no task is in any of its namespaces (so no TUN device either),
and the host's links, routes, sysctls, mounts, nftables and trace
instances are as they were."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.loopback.conftest import unavailable
from tests.loopback.test_host_safety import ROOT, settle, snapshot
from tests.runner.hostnet import children, private_netns, process_start_ticks, tasks_in_netns

SIGNALS = [signal.SIGINT, signal.SIGTERM, signal.SIGKILL]
# Ctrl-C "at once": well under the command's 5 s grace before it exits by force.
AT_ONCE_SECONDS = 3.0


def _require_kernel() -> None:
    from tcpcheck.tools.runner.loopback.pair import unavailable_reason
    from tcpcheck.tools.runner.tracer import unavailable_reason as trace_reason

    reason = unavailable_reason() or trace_reason()
    if reason:
        unavailable(reason)


def _descendants(pid: int) -> dict[int, int | None]:
    """Every process below ``pid``, with its start time."""
    out: dict[int, int | None] = {}
    todo = [pid]
    while todo:
        for child in children(todo.pop()):
            out[child] = process_start_ticks(child)
            todo.append(child)
    return out


# A pair closed into TIME_WAIT, then Linux's fixed 60 s TIME_WAIT waited
# out: each copy keeps a worker busy until the signal comes.
_TIME_WAIT_STEPS = [
    {"kind": "call", "op": "listen", "side": "B"},
    {"kind": "call", "op": "connect", "side": "A"},
    {"kind": "expect_state", "state": "ESTABLISHED", "side": "A"},
    {"kind": "call", "op": "accept", "side": "B"},
    {"kind": "call", "op": "close", "side": "A"},
    {"kind": "expect_state", "state": "FIN_WAIT_2", "side": "A"},
    {"kind": "call", "op": "close", "side": "B"},
    {"kind": "expect_state", "state": "TIME_WAIT", "side": "A"},
    {"kind": "elapse", "timer": "timeout_2msl", "side": "A"},
]


def _long_loopback_suite(path: Path) -> Path:
    scenarios = [{"name": f"time_wait_{n}", "loopback": True, "steps": _TIME_WAIT_STEPS} for n in range(2)]
    path.write_text(json.dumps({"scenarios": scenarios}))
    return path


def _run_and_signal(args: list[str], jobs: int, signum: int) -> None:
    before = snapshot(set())
    command = [sys.executable, "-m", "tcpcheck", "run", "--json", *args] + (["-j", str(jobs)] if jobs > 1 else [])
    # A session of its own: Ctrl-C on a terminal is SIGINT to the whole
    # foreground process group (workers included), SIGTERM and SIGKILL are
    # sent to the command alone.
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                             start_new_session=True)
    try:
        # Working: every namespace holder (the command itself, or each
        # worker) has a task in a private namespace.
        deadline = time.monotonic() + 60
        while True:
            holders = [child.pid] if jobs == 1 else children(child.pid)
            namespaces = [ns for pid in holders for ns in private_netns(pid)]
            if len(namespaces) >= jobs:
                break
            assert child.poll() is None, child.stderr.read() if child.stderr else ""
            assert time.monotonic() < deadline, "the run never entered its namespaces"
            time.sleep(0.02)
        tree = {child.pid: process_start_ticks(child.pid), **_descendants(child.pid)}
        sent = time.monotonic()
        if signum == signal.SIGINT:
            os.killpg(child.pid, signum)
        else:
            child.send_signal(signum)
        _, err = child.communicate(timeout=30)
        took = time.monotonic() - sent
    finally:
        child.kill()
        child.wait()
    if signum == signal.SIGINT:
        assert child.returncode == 130, err
        assert err == "tcpcheck: interrupted\n"
        assert took < AT_ONCE_SECONDS, f"Ctrl-C took {took:.1f} s"
    else:
        assert child.returncode == -signum, err
    deadline = time.monotonic() + 10
    while True:
        alive = sorted(pid for pid, start in tree.items() if start is not None and process_start_ticks(pid) == start)
        holding = [ns for ns in namespaces if tasks_in_netns(ns)]
        if (not alive and not holding) or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert alive == [], "processes of the run are left"
    assert holding == [], "namespaces of the run are left"
    assert settle(before, set(tree)) == before


@pytest.mark.parametrize("jobs", [1, 2], ids=["serial", "j2"])
@pytest.mark.parametrize("signum", SIGNALS, ids=[s.name for s in SIGNALS])
def test_a_signal_to_run_leaves_nothing(jobs: int, signum: int) -> None:
    _require_kernel()
    # --slow: Linux's fixed 60 s TIME_WAIT keeps the run (and, under -j,
    # every worker) alive until the signal comes.
    _run_and_signal(["--slow"], jobs, signum)


@pytest.mark.parametrize("jobs", [1, 2], ids=["serial", "j2"])
@pytest.mark.parametrize("signum", SIGNALS, ids=[s.name for s in SIGNALS])
def test_a_signal_to_run_loopback_leaves_nothing(jobs: int, signum: int, tmp_path: Path) -> None:
    _require_kernel()
    _run_and_signal(["--loopback", str(_long_loopback_suite(tmp_path / "long.json"))], jobs, signum)
