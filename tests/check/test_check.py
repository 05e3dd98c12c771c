"""``tcpcheck check`` on real captures: the runner's pcaps (whose state
paths the runner observed), tcpdump on loopback of curl against
``python -m http.server`` in a private namespace (closing both ways), the
same capture cut mid-connection, with a segment dropped, and doctored
with an impossible segment; and bad input."""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dpkt
import pytest

from tcpcheck.model.spec import load_spec
from tcpcheck.tools.check.analyse import Connection, check_capture, state_walk
from tcpcheck.tools.check.capture import FIN, SYN, read_capture
from tcpcheck.tools.runner.execute import execute
from tcpcheck.tools.runner.harness import Harness
from tcpcheck.tools.runner.pcap import write_pcap
from tcpcheck.tools.runner.profile import load_profile
from tcpcheck.tools.runner.suite import default_suite

BOUND = 10.0
SCENARIOS = ("active_close", "passive_close", "simultaneous_close", "fin_wait_1_fin_ack", "rst_in_established",
             "rst_in_close_wait", "abort_in_established", "simultaneous_open", "close_with_unread_data")


@pytest.fixture(scope="module")
def spec_profile() -> tuple[Any, Any]:
    spec = load_spec()
    return spec, load_profile(known_transitions={t.id for t in spec.transitions})


@pytest.fixture(scope="module")
def harness(tcp_harness: Harness) -> Iterator[Harness]:
    with Harness() as own:
        yield own


def _check(path: Path, spec_profile: tuple[Any, Any]) -> list[Connection]:
    return check_capture(read_capture(str(path)), *spec_profile, keep_segments=lambda n: True)


def _subsequence(small: list[str], big: list[str]) -> bool:
    it = iter(big)
    return all(any(x == y for y in it) for x in small)


@pytest.mark.parametrize("name", SCENARIOS)
def test_runner_pcaps_give_the_observed_state_path(name: str, harness: Harness, spec_profile: tuple[Any, Any],
                                                   tmp_path: Path) -> None:
    scenario = next(s for s in default_suite() if s.name == name)
    result = execute(harness, scenario, spec_profile[1])
    assert result.verdict != "fail"
    pcap = write_pcap(tmp_path / f"{name}.pcap", result.packets)
    connections = _check(pcap, spec_profile)
    assert [c.verdict for c in connections] == ["explained"], [c.observer.flag for c in connections]
    conn = connections[0]
    stack = "A" if conn.a[0] == harness.ns.local_addr else "B"  # a traced stack numbers its TUN itself
    observed: list[str] = []
    for step in result.steps:
        state = step.state.split(" ", 1)[0]
        if state and (not observed or observed[-1] != state):
            observed.append(state)
    inferred = state_walk(conn.observer, stack)
    # Every state the runner saw the stack in, in order, is on the inferred path...
    assert _subsequence(observed, inferred), (observed, inferred)
    # ... and where the capture ends, the stack is where the runner last saw it.
    assert observed[-1] in conn.final_states(stack), (observed, conn.final_states(stack))


def _wait_line(stream: Any, text: str) -> None:
    while True:
        ready, _, _ = select.select([stream], [], [], BOUND)
        assert ready, f"no {text!r} within {BOUND} s"
        line = stream.readline()
        assert line, f"stream ended before {text!r}"
        if text in line:
            return


def _packets(path: Path) -> list[tuple[float, bytes]]:
    with open(path, "rb") as f:
        return list(dpkt.pcap.Reader(f))


def _has_marker(path: Path) -> bool:
    try:
        return any(len(buf) > 42 and buf[23] == 17 and buf[-6:] == b"marker" for _, buf in _packets(path))
    except (ValueError, dpkt.dpkt.NeedData):
        return False


@pytest.fixture(scope="module")
def curl_pcap(harness: Harness, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tcpdump on the namespace's loopback while curl fetches a page twice
    from ``python -m http.server``: HTTP/1.0 (the server closes first) on
    port 8000, HTTP/1.1 keep-alive (curl closes first) on port 8001."""
    for tool in ("tcpdump", "curl"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not installed: apt-get install {tool} (.ci/run does)")
    work = tmp_path_factory.mktemp("curl")
    (work / "page.html").write_text("<p>" + "tcpcheck " * 400 + "</p>\n")
    pcap = work / "curl.pcap"
    ns = harness.ns

    def start(args: list[str], **kw: Any) -> subprocess.Popen[str]:
        return ns.call(lambda: subprocess.Popen(args, text=True, **kw))

    dump = start(["tcpdump", "-i", "lo", "-U", "-n", "-w", str(pcap), "tcp or udp port 9"],
                 stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
    servers = []
    try:
        _wait_line(dump.stderr, "listening on")
        for port, protocol in ((8000, "HTTP/1.0"), (8001, "HTTP/1.1")):
            server = start([sys.executable, "-u", "-m", "http.server", "-b", "127.0.0.1", "-p", protocol, str(port)],
                           cwd=work, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            servers.append(server)
            _wait_line(server.stdout, "Serving HTTP")
            # On port 8000 curl reads to end of stream, so the server's close comes first.
            extra = ["--ignore-content-length"] if port == 8000 else []
            done = ns.call(lambda p=port, e=extra: subprocess.run(  # type: ignore[misc]
                ["curl", "-s", *e, "-o", os.devnull, f"http://127.0.0.1:{p}/page.html"], timeout=BOUND))
            assert done.returncode == 0
        # A UDP marker after the last TCP packet: once tcpdump has written
        # it, everything before it is in the file.
        probe = ns.call(socket.socket, socket.AF_INET, socket.SOCK_DGRAM)
        probe.sendto(b"marker", ("127.0.0.1", 9))
        probe.close()
        for _ in range(int(BOUND * 100)):
            if _has_marker(pcap):
                break
            select.select([], [], [], 0.01)  # poll the file: tcpdump writes on its own time
        assert _has_marker(pcap)
    finally:
        for server in servers:
            server.kill()
            server.wait(BOUND)
        dump.send_signal(signal.SIGINT)
        dump.wait(BOUND)
    return pcap


def _by_port(connections: list[Connection], port: int) -> tuple[Connection, str, str]:
    conn = next(c for c in connections if port in (c.a[1], c.b[1]))
    server = "A" if conn.a[1] == port else "B"
    return conn, server, "B" if server == "A" else "A"


def test_curl_against_http_server_closing_both_ways(curl_pcap: Path, spec_profile: tuple[Any, Any]) -> None:
    capture = read_capture(str(curl_pcap))
    assert capture.skipped["not TCP"] == 1  # the UDP marker
    connections = check_capture(capture, *spec_profile)
    assert len(connections) == 2
    assert [c.verdict for c in connections] == ["explained", "explained"], [c.observer.flag for c in connections]
    # HTTP/1.0: the server closes first, so it holds TIME_WAIT.
    conn, server, client = _by_port(connections, 8000)
    assert conn.observer.start == "handshake"
    assert _subsequence(["LISTEN", "SYN_RCVD", "ESTABLISHED", "FIN_WAIT_1", "TIME_WAIT"],
                        state_walk(conn.observer, server))
    assert conn.final_states(server) == ["TIME_WAIT"]
    assert _subsequence(["SYN_SENT", "ESTABLISHED", "CLOSE_WAIT", "LAST_ACK", "CLOSED"],
                        state_walk(conn.observer, client))
    # HTTP/1.1 keep-alive: curl closes first.
    conn, server, client = _by_port(connections, 8001)
    assert _subsequence(["LISTEN", "SYN_RCVD", "ESTABLISHED", "CLOSE_WAIT", "LAST_ACK", "CLOSED"],
                        state_walk(conn.observer, server))
    assert _subsequence(["SYN_SENT", "ESTABLISHED", "FIN_WAIT_1"], state_walk(conn.observer, client))
    assert conn.final_states(client) == ["TIME_WAIT"]


def _rewrite(source: Path, target: Path, keep: Any, change: Any = None, pcapng: bool = False) -> None:
    with open(source, "rb") as f:
        reader = dpkt.pcap.Reader(f)
        linktype = reader.datalink()
        packets = list(reader)
    with open(target, "wb") as out:
        writer = dpkt.pcapng.Writer(out, linktype=linktype) if pcapng else dpkt.pcap.Writer(out, linktype=linktype)
        for n, (ts, buf) in enumerate(packets, start=1):
            if keep(n, buf):
                writer.writepkt(change(n, buf) if change else buf, ts)


def _tcp_flags(buf: bytes) -> int:
    return buf[14 + 20 + 13] if len(buf) > 14 + 20 + 13 and buf[23] == 6 else 0


def test_pcapng_reads_the_same(curl_pcap: Path, tmp_path: Path, spec_profile: tuple[Any, Any]) -> None:
    ng = tmp_path / "curl.pcapng"
    _rewrite(curl_pcap, ng, lambda n, buf: True, pcapng=True)
    a = [c.to_json() for c in _check(curl_pcap, spec_profile)]
    b = [c.to_json() for c in _check(ng, spec_profile)]
    assert a == b and read_capture(str(ng)).format == "pcapng"


def test_capture_cut_mid_connection(curl_pcap: Path, tmp_path: Path, spec_profile: tuple[Any, Any]) -> None:
    cut = tmp_path / "cut.pcap"
    _rewrite(curl_pcap, cut, lambda n, buf: n > 4)  # the handshake (and a request segment) are gone
    connections = _check(cut, spec_profile)
    conn, server, client = _by_port(connections, 8000)
    assert conn.observer.start == "mid-connection" and conn.verdict == "explained"
    assert any("starts mid-connection" in n for n in conn.observer.notes)
    # What the close shows is still inferred; what came before is not claimed.
    assert conn.final_states(server) == ["TIME_WAIT"]
    assert conn.final_states(client) == ["CLOSED"]
    assert "SYN_SENT" not in state_walk(conn.observer, client)


def test_capture_with_a_dropped_segment(curl_pcap: Path, tmp_path: Path, spec_profile: tuple[Any, Any]) -> None:
    first_fin = next(n for n, (_, buf) in enumerate(_packets(curl_pcap), start=1) if _tcp_flags(buf) & FIN)
    dropped = tmp_path / "dropped.pcap"
    _rewrite(curl_pcap, dropped, lambda n, buf: n != first_fin)
    conn, server, client = _by_port(_check(dropped, spec_profile), 8000)
    assert conn.verdict == "explained", conn.observer.flag
    assert any("does not show" in n and "a FIN: cannot tell" in n for n in conn.observer.notes)
    # Data or the server's FIN: both fit what follows, and both are said.
    assert set(conn.final_states(server)) == {"CLOSE_WAIT", "TIME_WAIT"}
    assert any(c.fin_at is not None and c.state == "TIME_WAIT" for c in conn.observer.best(server))


def test_doctored_capture_is_flagged_at_the_right_packet(curl_pcap: Path, tmp_path: Path,
                                                         spec_profile: tuple[Any, Any]) -> None:
    packets = _packets(curl_pcap)
    # The server's first data segment (port 8000 -> client), made a SYN,ACK:
    # no transition sends a SYN from ESTABLISHED.
    target = next(n for n, (_, buf) in enumerate(packets, start=1)
                  if _tcp_flags(buf) and int.from_bytes(buf[34:36], "big") == 8000 and len(buf) > 14 + 20 + 32 + 20)

    def doctor(n: int, buf: bytes) -> bytes:
        return buf[:47] + bytes([buf[47] | SYN]) + buf[48:] if n == target else buf

    doctored = tmp_path / "doctored.pcap"
    _rewrite(curl_pcap, doctored, lambda n, buf: True, doctor)
    out = subprocess.run([sys.executable, "-m", "tcpcheck", "check", str(doctored), "--json"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1, out.stderr
    doc = json.loads(out.stdout)
    flagged = [r for r in doc["results"] if r["flag"]]
    assert len(flagged) == 1 and doc["unexplained"] == 1
    flag = flagged[0]["flag"]
    assert flag["packet"] == target
    assert flag["segment"].startswith("SYN,ACK") and flag["states"] == ["ESTABLISHED"]
    assert "RFC 9293 §3.10.7.4" in flag["rfc"]


def test_chart_of_a_connection(curl_pcap: Path, tmp_path: Path) -> None:
    svg = tmp_path / "chart.svg"
    out = subprocess.run([sys.executable, "-m", "tcpcheck", "check", str(curl_pcap), "--connection", "2", "--chart",
                          str(svg)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "connection 2:" in out.stdout and "TIME_WAIT" in out.stdout
    root = ET.parse(svg).getroot()
    texts = {t.text for t in root.iter("{http://www.w3.org/2000/svg}text")}
    assert {"SYN_SENT", "ESTABLISHED", "TIME_WAIT", "LAST_ACK"} <= texts


def _udp_only(path: Path) -> None:
    udp = dpkt.udp.UDP(sport=1, dport=9, data=b"x")
    udp.ulen = len(udp)
    ip = dpkt.ip.IP(src=b"\x7f\0\0\x01", dst=b"\x7f\0\0\x01", p=17, data=udp)
    eth = dpkt.ethernet.Ethernet(data=ip)
    with open(path, "wb") as f:
        dpkt.pcap.Writer(f).writepkt(bytes(eth), 1.0)


@pytest.mark.parametrize("kind, message", [
    ("text", "not a pcap or pcapng capture"),
    ("truncated", "truncated"),
    ("udp", "no TCP segments"),
    ("empty", "empty file"),
    ("missing", "no such file"),
])
def test_bad_input_is_one_line_and_exit_2(kind: str, message: str, curl_pcap: Path, tmp_path: Path) -> None:
    path = tmp_path / f"{kind}.pcap"
    if kind == "text":
        path.write_text("GET / HTTP/1.0\r\n\r\n")
    elif kind == "truncated":
        path.write_bytes(curl_pcap.read_bytes()[:300])
    elif kind == "udp":
        _udp_only(path)
    elif kind == "empty":
        path.write_bytes(b"")
    out = subprocess.run([sys.executable, "-m", "tcpcheck", "check", str(path)], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 2
    assert out.stdout == "" and out.stderr.count("\n") == 1, out.stderr
    assert message in out.stderr and str(path) in out.stderr and "Traceback" not in out.stderr
