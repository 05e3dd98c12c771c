"""``tcpcheck check`` throughput against ``tshark`` (TCP analysis on) on the
same capture, side by side. The capture is made here: tcpdump on the
loopback of a private namespace (MTU 1500, like Ethernet) while clients
fetch from a server, until it holds at least N packets. Needs root,
tcpdump, tshark and ethtool (apt-get install tcpdump tshark ethtool).

    python bench/check_bench.py [--packets 100000] [--bytes 60000] [--keep FILE]

``--bytes`` is what each connection transfers: large values give a capture
of mostly data segments, 0 one of short connections (handshake, request,
close: the checker's worst case, every segment a state change).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path

from tcpcheck.model.spec import load_spec
from tcpcheck.tools.check.analyse import check_capture
from tcpcheck.tools.check.capture import read_capture
from tcpcheck.tools.runner.harness import Harness
from tcpcheck.tools.runner.netns import unavailable_reason
from tcpcheck.tools.runner.profile import load_profile

PORT = 7100


def _workload(harness: Harness, connections: int, size: int) -> None:
    """``connections`` fetches of ``size`` bytes each over loopback."""
    def run() -> None:
        server = socket.socket()
        server.bind(("127.0.0.1", PORT))
        server.listen(128)
        body = b"x" * size

        def serve() -> None:
            for _ in range(connections):
                conn = server.accept()[0]
                conn.recv(100)
                conn.sendall(body)
                conn.close()

        thread = threading.Thread(target=serve)
        thread.start()
        for _ in range(connections):
            client = socket.create_connection(("127.0.0.1", PORT))
            client.sendall(b"GET /\r\n")
            while client.recv(65536):
                pass
            client.close()
        thread.join()
        server.close()

    harness.ns.call(run)


def _capture(harness: Harness, path: Path, packets: int, size: int) -> int:
    # Ethernet-sized segments on the wire tcpdump sees: MTU 1500 and no
    # segmentation offload on the namespace's own loopback.
    harness.ns.call(lambda: subprocess.run(["ip", "link", "set", "lo", "mtu", "1500"], check=True))
    harness.ns.call(lambda: subprocess.run(["ethtool", "-K", "lo", "tso", "off", "gso", "off", "gro", "off"],
                                           check=True, capture_output=True))
    dump = harness.ns.call(lambda: subprocess.Popen(["tcpdump", "-i", "lo", "-n", "-w", str(path), "tcp"],
                                                    stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True))
    assert dump.stderr is not None
    while "listening on" not in dump.stderr.readline():
        pass
    per = 8 + 3 * (size // 1448 + 1) // 2  # handshake, request, close; data, an ACK for every other segment
    _workload(harness, packets // per + 1, size)
    # tcpdump writes what it has read when it stops; give its reader the
    # packets already queued (it drains the ring before exiting on SIGINT).
    dump.send_signal(signal.SIGINT)
    _, err = dump.communicate(timeout=60)
    return int(next(line.split()[0] for line in err.splitlines() if "captured" in line))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--packets", type=int, default=100000)
    parser.add_argument("--bytes", type=int, default=60000, help="bytes each connection transfers")
    parser.add_argument("--keep", type=Path, help="also keep the capture here")
    args = parser.parse_args()
    reason = unavailable_reason()
    missing = [t for t in ("tcpdump", "tshark", "ethtool") if shutil.which(t) is None]
    if reason or missing:
        print(f"check_bench: {reason or 'needs ' + ', '.join(missing)}", file=sys.stderr)
        return 2
    spec = load_spec()
    profile = load_profile(known_transitions={t.id for t in spec.transitions})
    with tempfile.TemporaryDirectory() as tmp, Harness() as harness:
        path = Path(tmp) / "bench.pcap"
        captured = _capture(harness, path, args.packets, args.bytes)
        if args.keep:
            shutil.copy(path, args.keep)
        size = os.path.getsize(path)
        # tcpcheck: reading and checking, in this process.
        t0, c0 = time.perf_counter(), time.process_time()
        capture = read_capture(str(path))
        connections = check_capture(capture, spec, profile)
        ours, ours_cpu = time.perf_counter() - t0, time.process_time() - c0
        bad = sum(1 for c in connections if c.observer.flag)
        tracemalloc.start()  # a separate run: tracing slows what it measures
        check_capture(read_capture(str(path)), spec, profile)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        # tshark with its TCP analysis (sequence analysis is what checks a
        # connection's segments); -z expert forces every packet through it.
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run(["tshark", "-r", str(path), "-n", "-o", "tcp.analyze_sequence_numbers:TRUE", "-q", "-z",
                        "expert"], check=True, capture_output=True)
        theirs = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        theirs_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    n = capture.packets
    print(f"capture: {n} packets ({captured} captured by tcpdump), {size / 2**20:.1f} MiB, {len(connections)}"
          f" connections of {args.bytes} bytes each; {bad} unexplained")
    print(f"tcpcheck check: {ours:.2f} s wall, {ours_cpu:.2f} s CPU: {n / ours:,.0f} packets/s;"
          f" peak Python memory {peak / 2**20:.1f} MiB")
    print(f"tshark -z expert (TCP analysis): {theirs:.2f} s wall, {theirs_cpu:.2f} s CPU: {n / theirs:,.0f} packets/s;"
          f" max RSS {after.ru_maxrss / 1024:.0f} MiB")
    print(f"ratio tcpcheck / tshark: wall {ours / theirs:.2f}, CPU {ours_cpu / max(theirs_cpu, 1e-9):.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
