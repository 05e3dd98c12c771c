"""Census benchmark: time to take and explain a census of N sockets in a
private namespace, side by side with ``ss -tanp`` (iproute2, which also
reads sock_diag and finds owning processes) on the same sockets. Needs root.

    python bench/census_bench.py [--sockets 10000] [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import resource
import socket
import statistics
import subprocess
import sys
import threading
import time
import tracemalloc

from tcpcheck.model.spec import load_spec
from tcpcheck.tools.census.collect import Target, take_snapshot
from tcpcheck.tools.census.findings import analyse
from tcpcheck.tools.runner.harness import Harness
from tcpcheck.tools.runner.netns import unavailable_reason
from tcpcheck.tools.runner.profile import load_profile


def _fill(harness: Harness, pairs: int) -> list[socket.socket]:
    """``pairs`` loopback connections: 2 x pairs sockets, held open."""
    def make() -> list[socket.socket]:
        listener = socket.socket()
        listener.bind(("127.0.0.1", 7000))
        listener.listen(4096)
        held = [listener]
        for _ in range(pairs):
            client = socket.create_connection(("127.0.0.1", 7000))
            held += [client, listener.accept()[0]]
        return held

    return harness.ns.call(make)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sockets", type=int, default=10000, help="TCP sockets to create (pairs of ends)")
    parser.add_argument("--runs", type=int, default=5, help="censuses to time (the median is printed)")
    args = parser.parse_args()
    reason = unavailable_reason()
    if reason:
        print(f"census_bench: {reason}", file=sys.stderr)
        return 2
    need = args.sockets + 200
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, max(hard, need)))
    spec = load_spec()
    profile = load_profile(known_transitions={t.id for t in spec.transitions})
    with Harness() as harness:
        held = _fill(harness, args.sockets // 2)
        tid = harness.ns.call(threading.get_native_id)
        target = Target("bench namespace", f"/proc/{os.getpid()}/task/{tid}/ns/net")
        ours, theirs = [], []
        count = 0
        for _ in range(args.runs):
            t0 = time.perf_counter()
            census = analyse(take_snapshot(target), spec, profile)
            ours.append(time.perf_counter() - t0)
            count = census.total
            t0 = time.perf_counter()
            out = harness.ns.call(lambda: subprocess.run(["ss", "-tanp"], capture_output=True, text=True))
            theirs.append(time.perf_counter() - t0)
            rows = len(out.stdout.splitlines()) - 1
        ss_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        tracemalloc.start()  # a separate run: tracing slows what it measures
        analyse(take_snapshot(target), spec, profile)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        for sock in held:
            sock.close()
    mine, ss = statistics.median(ours), statistics.median(theirs)
    print(f"sockets in the namespace: census {count}, ss {rows}")
    print(f"tcpcheck census (sock_diag + owners + findings): median {mine * 1000:.1f} ms over {args.runs} runs,"
          f" peak Python memory {peak / 2**20:.1f} MiB")
    print(f"ss -tanp (same namespace, same sockets):          median {ss * 1000:.1f} ms, max RSS {ss_rss / 1024:.1f}"
          " MiB")
    print(f"ratio census / ss: {mine / ss:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
