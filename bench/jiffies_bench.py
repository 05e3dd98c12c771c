"""How exactly user space can read the kernel's jiffies (what the runner's
TIME_WAIT timer check stands on; tools/runner/stacks/linux.py: jiffy_at).
Needs root (a private network namespace).

    python bench/jiffies_bench.py [--seconds 60] [--mode sleep|spin]

A TIME_WAIT socket's timer expiry E (jiffies) is fixed, and sock_diag shows
(E - J) ticks left at the jiffy J of the read; so J + left is E for every
read with J right. Read after read (``sleep``: a random 0-6 ms wait on
select between reads, the CPU goes idle as in a scenario's packet waits;
``spin``: none), this counts, for J from (a) the coarse clock alone
(CLOCK_MONOTONIC_COARSE unchanged across the read), (b) CLOCK_MONOTONIC
alone (floor of it over the tick), (c) jiffy_at, how many reads give an E
other than the most common (the true one: most reads are right), and by
how much. The socket is made again before its 60 s run out. Exit 1 when
jiffy_at is ever more than one tick off, or early (jiffies taken as
less than they are), which the runner's check does not allow for.
"""

from __future__ import annotations

import argparse
import random
import resource
import select
import socket
import sys
import time
from collections import Counter

from tcpcheck.tools.runner import sockdiag
from tcpcheck.tools.runner.netns import NetNamespace, unavailable_reason
from tcpcheck.tools.runner.stacks.linux import CLOCK_MONOTONIC_COARSE, TICK_GUARD_NS, jiffy_at

SOCKET_LIFE = 50.0  # s, under TIME_WAIT's 60


def _time_wait(ns: NetNamespace) -> tuple[int, int]:
    """A TIME_WAIT socket on the namespace's loopback: (its port, the peer's)."""
    def make() -> tuple[int, int]:
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen()
        cli = socket.socket()
        cli.connect(srv.getsockname())
        conn, _ = srv.accept()
        ports = cli.getsockname()[1], srv.getsockname()[1]
        cli.close()  # the active closer: TIME_WAIT once the peer's FIN comes
        conn.recv(1)
        conn.close()
        srv.close()
        return ports

    return ns.call(make)  # type: ignore[no-any-return]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--mode", choices=("sleep", "spin"), default="sleep")
    args = parser.parse_args()
    reason = unavailable_reason()
    if reason:
        print(f"jiffies_bench: {reason}", file=sys.stderr)
        return 2
    tick_ns = round(time.clock_getres(CLOCK_MONOTONIC_COARSE) * 1e9)
    off = {"coarse": Counter[int](), "fine": Counter[int](), "jiffy_at": Counter[int]()}
    reads = Counter[str]()
    ns = NetNamespace(tun=False)
    try:
        nl = ns.call(sockdiag.open_sock_diag)
        end = time.monotonic() + args.seconds
        while time.monotonic() < end:
            lport, rport = _time_wait(ns)
            renew = min(end, time.monotonic() + SOCKET_LIFE)
            per = {k: Counter[int]() for k in off}  # expiry -> reads
            while time.monotonic() < renew:
                if args.mode == "sleep":
                    select.select([], [], [], random.uniform(0, 0.006))  # a bench: idles the CPU on purpose
                c1, m1 = time.clock_gettime_ns(CLOCK_MONOTONIC_COARSE), time.monotonic_ns()
                found = sockdiag.lookup(nl, socket.AF_INET, "127.0.0.1", lport, "127.0.0.1", rport)
                m2, c2 = time.monotonic_ns(), time.clock_gettime_ns(CLOCK_MONOTONIC_COARSE)
                if found is None:
                    break
                left = round(found.expires_ms * 1_000_000 / tick_ns)
                reads["all"] += 1
                if c1 == c2:
                    per["coarse"][round(c1 / tick_ns) + left] += 1
                per["fine"][m1 // tick_ns + left] += 1
                jiffy = jiffy_at(c1, m1, m2, c2, tick_ns)
                if jiffy is not None:
                    per["jiffy_at"][jiffy + left] += 1
            for name, seen in per.items():
                if seen:
                    # the coarse clock's constant offset differs: compare each method with its own usual value
                    usual = seen.most_common(1)[0][0]
                    off[name].update({e - usual: n for e, n in seen.items()})
    finally:
        ns.close()
    print(f"{reads['all']} reads ({args.mode}), tick {tick_ns / 1e6:g} ms, guard {TICK_GUARD_NS / 1e6:g} ms")
    for name, counts in off.items():
        n = sum(counts.values())
        wrong = {k: v for k, v in sorted(counts.items()) if k}
        wrongs = ", ".join(f"{v} by {k:+d}" for k, v in wrong.items())
        print(f"  {name:9}: {n} reads used, {n - counts[0]} off ({wrongs})")
    print(f"peak memory (ru_maxrss): {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f} MiB")
    bad = [k for k in off["jiffy_at"] if k not in (0, 1)]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
