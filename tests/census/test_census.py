"""The census names each pathology of the troubleshooting articles, made
for real inside the test's private network namespace (the runner's
``Harness``): a server that never closes, a SYN flood from the TUN peer
(syncookies off, then on), a client that closes first in a loop, a peer
that never sends its FIN, a lost final ACK. Each finding must name the
right process."""

from __future__ import annotations

import json
import os
import select
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tcpcheck.model.spec import load_spec
from tcpcheck.tools.census.collect import Target, take_snapshot
from tcpcheck.tools.census.findings import Census, Thresholds, analyse
from tcpcheck.tools.runner.harness import Harness
from tcpcheck.tools.runner.packets import SYN, Packet, mss_option
from tcpcheck.tools.runner.profile import load_profile

PILE = 12
BOUND = 10.0  # seconds any wait below may take at most

# A server that accepts and never closes (its connections pile up in
# CLOSE_WAIT once the clients close).
HOARDER = """
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(int(sys.argv[3]))
print("ready", flush=True)
kept = []
if sys.argv[4] == "accept":
    while True:
        kept.append(s.accept()[0])
else:
    sys.stdin.read()
"""
# A client that half-closes N connections and keeps the descriptors.
HALF_CLOSER = """
import socket, sys
kept = []
for _ in range(int(sys.argv[3])):
    c = socket.create_connection((sys.argv[1], int(sys.argv[2])))
    c.shutdown(socket.SHUT_WR)
    kept.append(c)
print("ready", flush=True)
sys.stdin.read()
"""
# A client that opens, talks and closes first, N times; the server waits
# for end of stream before it closes, so the client is the active closer.
CLOSER_FIRST = """
import socket, sys, threading
srv = socket.socket(); srv.bind((sys.argv[1], int(sys.argv[2]))); srv.listen(64)
def serve():
    while True:
        c = srv.accept()[0]
        while c.recv(100):
            pass
        c.close()
threading.Thread(target=serve, daemon=True).start()
for _ in range(int(sys.argv[3])):
    c = socket.create_connection((sys.argv[1], int(sys.argv[2])))
    c.sendall(b"ping")
    c.close()
print("ready", flush=True)
sys.stdin.read()
"""


@pytest.fixture(scope="module")
def harness(tcp_harness: Harness) -> Iterator[Harness]:
    """A namespace of this module's own, so that no other test's sockets
    are counted (``tcp_harness`` skips, or fails in CI, without root)."""
    with Harness() as own:
        yield own


@pytest.fixture(scope="module")
def spec_and_profile() -> tuple[Any, Any]:
    spec = load_spec()
    return spec, load_profile(known_transitions={t.id for t in spec.transitions})


def _target(harness: Harness) -> Target:
    tid = harness.ns.call(threading.get_native_id)
    return Target("test namespace", f"/proc/{os.getpid()}/task/{tid}/ns/net")


def _spawn(harness: Harness, code: str, *args: object) -> subprocess.Popen[str]:
    """A Python process started from the namespace thread (so inside the
    namespace), once it prints ``ready``."""
    proc: subprocess.Popen[str] = harness.ns.call(lambda: subprocess.Popen(
        [sys.executable, "-c", code, *map(str, args)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], BOUND)
    assert ready and proc.stdout.readline().strip() == "ready", "helper process did not start"
    return proc


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.kill()
    proc.wait(BOUND)


def _census_until(harness: Harness, spec_and_profile: tuple[Any, Any], done: Any) -> Census:
    """Take censuses until ``done(census)`` holds (bounded): the kernel
    moves sockets on its own time, so the test waits for a state, not a
    fixed delay."""
    spec, profile = spec_and_profile
    deadline = time.monotonic() + BOUND
    while True:
        census = analyse(take_snapshot(_target(harness)), spec, profile, Thresholds(pile=PILE, age_s=3600))
        if done(census) or time.monotonic() > deadline:
            return census
        time.sleep(0.02)  # between censuses: the kernel is doing the work


def _finding(census: Census, ident: str) -> Any:
    found = [f for f in census.findings if f.id == ident]
    assert found, f"no {ident} finding in {[f.id for f in census.findings]}: {census.by_state}"
    return found[0]


def test_close_wait_pile_names_the_server(harness: Harness, spec_and_profile: tuple[Any, Any]) -> None:
    server = _spawn(harness, HOARDER, "127.0.0.1", 9101, 64, "accept")
    clients = []
    try:
        for _ in range(PILE):
            c = harness.ns.call(socket.socket)
            c.connect(("127.0.0.1", 9101))
            clients.append(c)
        for c in clients:
            c.close()  # the clients close first; the server never does
        census = _census_until(harness, spec_and_profile, lambda c: c.by_state.get("CLOSE_WAIT", 0) >= PILE)
        f = _finding(census, "close_wait_pile")
        assert f.count >= PILE and f.severity == "warning"
        assert [p.pid for p in f.processes] == [server.pid]
        assert f"pid {server.pid}" in f.summary
        assert any("passive closer" in r for r in f.reason)  # from the spec's graph
        assert any("CLOSE_WAIT --the application's CLOSE" in r for r in f.reason)
    finally:
        _stop(server)


def _flood(harness: Harness, port: int, count: int, first_port: int) -> None:
    for n in range(count):
        syn = Packet(harness.ns.peer_addr, harness.ns.local_addr, first_port + n, port, 7_000_000 + n * 100_000, 0, SYN,
                     options=mss_option())
        harness.wire.send(syn)


@pytest.mark.parametrize("cookies", ["0", "1"])
def test_syn_flood_from_the_tun_peer(harness: Harness, spec_and_profile: tuple[Any, Any], cookies: str) -> None:
    port = 9200 + int(cookies)
    old = harness.ns.set_sysctls({"tcp_syncookies": cookies})
    server = _spawn(harness, HOARDER, harness.ns.local_addr, port, 8, "idle")
    try:
        before = take_snapshot(_target(harness)).counters
        _flood(harness, port, 40, 30000 + 1000 * int(cookies))
        census = _census_until(harness, spec_and_profile, lambda c: c.by_state.get("SYN_RCVD", 0) >= 8)
        f = _finding(census, "syn_rcvd_pile")
        assert f.evidence["per_listener"][f"{harness.ns.local_addr}:{port}"] >= 8  # the listen() backlog
        assert [p.pid for p in f.processes] == [server.pid]
        assert f.evidence["syncookies"] == cookies
        after = f.evidence["counters"]
        if cookies == "0":
            assert after["TcpExt.TCPReqQFullDrop"] > before.get("TcpExt.TCPReqQFullDrop", 0)
            assert any("SYN cookies are off" in a for a in f.advice)
        else:
            assert after["TcpExt.SyncookiesSent"] > before.get("TcpExt.SyncookiesSent", 0)
            assert any("SYN cookies are on and were used" in a for a in f.advice)
    finally:
        _stop(server)
        harness.ns.set_sysctls(old)


def test_time_wait_on_a_client_that_closes_first(harness: Harness, spec_and_profile: tuple[Any, Any]) -> None:
    old = harness.ns.set_sysctls({"net/ipv4/ip_local_port_range": "41000 41199"})
    try:
        client = _spawn(harness, CLOSER_FIRST, "127.0.0.1", 9300, 150)
        try:
            census = _census_until(harness, spec_and_profile, lambda c: c.by_state.get("TIME_WAIT", 0) >= 150)
        finally:
            _stop(client)
    finally:
        harness.ns.set_sysctls(old)
    f = _finding(census, "time_wait_pile")
    assert f.evidence["client_side"] >= 150 and f.evidence["server_side"] == 0
    assert f.evidence["port_range"] == [41000, 41199]
    assert f.evidence["ports_at_risk"]["127.0.0.1:9300"] >= 0.75
    assert f.severity == "warning"
    assert any("active closer (the side that sent the first FIN)" in r for r in f.reason)


def test_fin_wait_2_when_the_peer_never_closes(harness: Harness, spec_and_profile: tuple[Any, Any]) -> None:
    server = _spawn(harness, HOARDER, "127.0.0.1", 9400, 64, "accept")
    client = _spawn(harness, HALF_CLOSER, "127.0.0.1", 9400, PILE)
    try:
        census = _census_until(harness, spec_and_profile, lambda c: c.by_state.get("FIN_WAIT_2", 0) >= PILE)
        f = _finding(census, "fin_wait_2_stuck")
        assert f.evidence["held"] >= PILE
        assert [p.pid for p in f.processes] == [client.pid]
        assert any(f"CLOSE_WAIT held by pid {server.pid}" in d for d in f.details)
        cw = _finding(census, "close_wait_pile")
        assert server.pid in [p.pid for p in cw.processes]
    finally:
        _stop(client)
        _stop(server)


def test_last_ack_when_the_final_ack_is_lost(harness: Harness, spec_and_profile: tuple[Any, Any]) -> None:
    conversations = []
    try:
        for _ in range(PILE):
            conv = harness.conversation()
            conversations.append(conv)
            conv.call("listen")
            conv.inject("SYN")
            assert conv.expect("SYN_ACK").ok
            conv.inject("ACK")
            conv.call("accept")
            conv.inject("FIN")
            assert conv.expect("ACK").ok
            conv.call("shutdown_wr")  # this process keeps the descriptor
            assert conv.expect("FIN").ok
            # ... and the peer never acknowledges it.
        census = _census_until(harness, spec_and_profile,
                               lambda c: any(f.id == "last_ack_stuck" and f.evidence["retransmitting"]
                                             for f in c.findings))
        f = _finding(census, "last_ack_stuck")
        assert f.count >= PILE and f.evidence["retransmitting"] >= 1
        assert os.getpid() in [p.pid for p in f.processes]
        assert any("LAST_ACK: waiting for the ACK of the FIN" in r for r in f.reason)
    finally:
        for conv in conversations:
            conv.close()


def test_census_command(harness: Harness) -> None:
    server = _spawn(harness, HOARDER, "127.0.0.1", 9500, 64, "accept")
    try:
        for _ in range(PILE):
            c = harness.ns.call(socket.socket)
            c.connect(("127.0.0.1", 9500))
            c.close()
        deadline = time.monotonic() + BOUND
        while True:
            out = subprocess.run([sys.executable, "-m", "tcpcheck", "census", "--pid", str(server.pid), "--json"],
                                 capture_output=True, text=True, timeout=60)
            doc = json.loads(out.stdout)
            if doc["by_state"].get("CLOSE_WAIT", 0) >= PILE or time.monotonic() > deadline:
                break
        assert out.returncode == 1, out.stderr  # a warning finding
        assert doc["target"] == f"netns of pid {server.pid}"
        ids = {f["id"] for f in doc["findings"]}
        assert "close_wait_pile" in ids
        text = subprocess.run([sys.executable, "-m", "tcpcheck", "census", "--pid", str(server.pid), "--watch",
                               "0.1", "--count", "2"], capture_output=True, text=True, timeout=60)
        assert "close_wait_pile" in text.stdout and text.stdout.count("sockets") >= 2
    finally:
        _stop(server)


@pytest.mark.parametrize("args, message", [
    (["--netns", "no-such-namespace-here"], "no network namespace named"),
    (["--pid", "999999999"], "no process 999999999"),
    (["--netns", "x", "--pid", "1"], "name one namespace"),
])
def test_census_bad_target_is_one_line(args: list[str], message: str) -> None:
    out = subprocess.run([sys.executable, "-m", "tcpcheck", "census", *args], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and message in out.stderr and "Traceback" not in out.stderr
