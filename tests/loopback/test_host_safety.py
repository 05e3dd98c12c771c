"""A loopback run changes nothing on the host, and leaves nothing behind
after it ends, is interrupted (SIGINT) or is killed (SIGKILL): no trace
instance, no tracefs mount, no enabled tracepoint, no nftables rule, no
namespace, no changed link, route or sysctl (compared before and after)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from typing import Any

from tcpcheck.tools.runner.tracer import inspect_tracefs
from tcpcheck.tools.runner.tracewatch import parse_name
from tests.loopback.conftest import unavailable
from tests.runner.hostnet import host_snapshot, process_start_ticks, task_start_ticks, tasks_in_netns

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _mounts() -> list[str]:
    # This process's mount namespace is the host's: the tracer never mounts here.
    with open("/proc/self/mountinfo") as f:
        return sorted(" ".join(line.split()[3:5]) + " " + line.split(" - ")[1].split()[0] for line in f)


def _owned(instances: Any, owners: set[int]) -> list[str]:
    # Other tests (another xdist worker) trace at the same time: only the
    # instances of the processes under test are compared.
    out = []
    for name in instances:
        parsed = parse_name(str(name))
        if parsed is not None and parsed[1] in owners:
            out.append(str(name))
    return sorted(out)


def snapshot(owners: set[int] | None = None) -> dict[str, Any]:
    """The host's network configuration, mounts, nftables and tracefs
    (the instances of ``owners``, this process by default)."""
    tracefs = inspect_tracefs()
    snap = {**host_snapshot(), "mounts": _mounts(), "tracefs": {k: v for k, v in tracefs.items() if k != "instances"},
            "our_instances": _owned(tracefs["instances"], {os.getpid()} if owners is None else owners)}
    if shutil.which("nft"):
        snap["nft"] = subprocess.run(["nft", "list", "ruleset"], capture_output=True, text=True).stdout
    return snap


def settle(before: dict[str, Any], owners: set[int], timeout: float = 10.0) -> dict[str, Any]:
    # The watchdog removes a dead run's instance when it notices: bounded wait.
    deadline = time.monotonic() + timeout
    while True:
        after = snapshot(owners)
        if after == before or time.monotonic() > deadline:
            return after
        time.sleep(0.05)


def _kernel() -> None:
    from tcpcheck.tools.runner.loopback.pair import unavailable_reason
    from tcpcheck.tools.runner.tracer import unavailable_reason as trace_reason

    reason = unavailable_reason() or trace_reason()
    if reason:
        unavailable(reason)


def test_a_loopback_run_leaves_the_host_as_it_was() -> None:
    _kernel()
    from tcpcheck.model.spec import load_spec
    from tcpcheck.tools.cli.loopback import builtin_suite
    from tcpcheck.tools.runner.loopback.execute import execute_pair
    from tcpcheck.tools.runner.loopback.pair import LoopbackHarness
    from tcpcheck.tools.runner.profile import load_profile

    before = snapshot()
    suite = builtin_suite()
    spec, profile = load_spec(), load_profile()
    with LoopbackHarness() as harness:
        harness.ns.set_sysctls({"tcp_fin_timeout": "7", "tcp_rfc1337": "1"})
        during = snapshot()
        assert harness.tracer is not None and harness.tracer.name in inspect_tracefs()["instances"]
        for name in ("pair_closing__closing", "deviation_listener_close_resets_unaccepted"):
            assert execute_pair(harness, suite[name], spec, profile).verdict != "fail"
    after = snapshot()
    assert {k: v for k, v in during.items() if k != "our_instances"} == \
        {k: v for k, v in before.items() if k != "our_instances"}
    assert after == before


_CHILD = """
import sys
from tcpcheck.model.spec import load_spec
from tcpcheck.tools.cli.loopback import builtin_suite
from tcpcheck.tools.runner.loopback.execute import execute_pair
from tcpcheck.tools.runner.loopback.pair import LoopbackHarness
from tcpcheck.tools.runner.profile import load_profile
suite, spec, profile = builtin_suite(), load_spec(), load_profile()
h = LoopbackHarness()
print(h.ns.inode, h.tracer.name, flush=True)
n = 0
while True:
    for s in list(suite.values())[:20]:
        execute_pair(h, s, spec, profile)
    n += 1
    if n == 1:
        print("running", flush=True)
"""


def _start_child() -> tuple[subprocess.Popen[str], int, str]:
    child = subprocess.Popen([sys.executable, "-c", _CHILD], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert child.stdout is not None
    inode, name = child.stdout.readline().split()
    assert child.stdout.readline().strip() == "running"
    assert name in inspect_tracefs()["instances"] and tasks_in_netns(int(inode))
    return child, int(inode), name


def _uptime_ticks() -> float:
    with open("/proc/uptime") as f:
        return float(f.read().split()[0]) * os.sysconf("SC_CLK_TCK")


def test_sigkill_mid_run_leaves_nothing() -> None:
    _kernel()
    before = snapshot(set())
    child, inode, name = _start_child()
    try:
        killed_at = _uptime_ticks()
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait(timeout=10)
    assert child.returncode == -signal.SIGKILL
    after = settle(before, {child.pid})
    assert name not in inspect_tracefs()["instances"]
    assert [t for t in tasks_in_netns(inode) if task_start_ticks(*t) <= killed_at] == []
    assert after == before


def _owns_instance(pid: int) -> bool:
    start = process_start_ticks(pid)
    return any(parsed is not None and parsed[1:3] == (pid, start)
               for parsed in map(parse_name, map(str, inspect_tracefs()["instances"])))


def test_sigint_of_the_command_leaves_nothing(tmp_path: Any) -> None:
    _kernel()
    before = snapshot(set())
    child = subprocess.Popen([sys.executable, "-m", "tcpcheck", "run", "--loopback", "--json"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        # Interrupt once the run owns a trace instance (it is working). Its
        # instance, by pid and start time: pids are reused (pid_max can be
        # 32768), and an instance another process left under this pid (its
        # watchdog not done yet, under load) once made this interrupt land
        # while Python was still starting, before the command's handler:
        # exit by signal -2 instead of 130.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not _owns_instance(child.pid):
            assert child.poll() is None, child.stderr.read() if child.stderr else ""
            time.sleep(0.05)
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=30)
    finally:
        child.kill()
    assert child.returncode == 130, err
    assert err.strip().splitlines()[-1] == "tcpcheck: interrupted"
    assert settle(before, {child.pid}) == before
