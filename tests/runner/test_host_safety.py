"""The runner never touches the host, and leaves nothing behind, even
when killed with SIGKILL in the middle of a run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from tcpcheck.tools.runner.harness import Harness
from tcpcheck.tools.runner.netns import TUN_NAME
from tcpcheck.tools.runner.profile import load_profile
from tcpcheck.tools.runner.suite import default_suite
from tests.runner.hostnet import host_snapshot, task_start_ticks, tasks_in_netns


def test_run_leaves_host_network_unchanged(tcp_harness: Harness) -> None:
    """Host links, routes, namespaces and net.ipv4.tcp_* sysctls are equal
    before, during and after a run that changes sysctls in its namespace."""
    from tcpcheck.tools.runner.execute import execute

    before = host_snapshot()
    with Harness() as harness:
        harness.ns.set_sysctls({"tcp_fin_timeout": "7", "tcp_rfc1337": "1", "tcp_syn_retries": "2"})
        assert harness.ns.sysctls(["net/ipv4/tcp_fin_timeout"]) == {"net/ipv4/tcp_fin_timeout": "7"}
        during = host_snapshot()
        profile = load_profile()
        for scenario in default_suite():
            if not scenario.slow and "timeout" not in scenario.name:
                assert execute(harness, scenario, profile).verdict != "fail", scenario.name
    after = host_snapshot()
    assert during == before
    assert after == before
    assert TUN_NAME not in str(after["links"])


_CHILD = """
import sys
from tcpcheck.tools.runner.harness import Harness
from tcpcheck.tools.runner.execute import execute
from tcpcheck.tools.runner.profile import load_profile
from tcpcheck.tools.runner.suite import default_suite
h = Harness()
print(h.ns.inode, flush=True)
profile = load_profile()
fast = [s for s in default_suite() if not s.slow and "timeout" not in s.name]
n = 0
while True:
    for s in fast:
        execute(h, s, profile)
    n += 1
    if n == 1:
        print("running", flush=True)
"""


def test_sigkill_mid_run_leaves_nothing(tcp_harness: Harness) -> None:
    before = host_snapshot()
    child = subprocess.Popen([sys.executable, "-c", _CHILD], stdout=subprocess.PIPE, text=True,
                             cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    try:
        assert child.stdout is not None
        inode = int(child.stdout.readline())
        assert child.stdout.readline().strip() == "running"
        assert tasks_in_netns(inode), "the child's namespace should exist while it runs"
        with open("/proc/uptime") as f:
            killed_at = float(f.read().split()[0]) * os.sysconf("SC_CLK_TCK")
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait(timeout=10)
    assert child.returncode == -signal.SIGKILL
    # The namespace is gone: no task is in it (bar an unrelated namespace
    # that was created after the kill and happened to reuse the number).
    holders = [t for t in tasks_in_netns(inode) if task_start_ticks(*t) <= killed_at]
    assert holders == []
    after = host_snapshot()
    assert after == before
    assert TUN_NAME not in str(after["links"])
