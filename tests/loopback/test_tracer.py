"""The tracer against the real kernel: enable, record, remove; only the
run's own sockets; instances of dead runs reaped, live ones never."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from typing import Any

import pytest

from tcpcheck.tools.runner.tracer import Tracer, TracerUnavailable, inspect_tracefs, unavailable_reason

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _wait_instances(pred: Any, timeout: float = 10.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        names = list(inspect_tracefs()["instances"])
        if pred(names) or time.monotonic() > deadline:
            return names
        time.sleep(0.05)


def _sock(ns: Any, addr: str, port: int) -> socket.socket:
    s = ns.call(socket.socket, socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    return s


def test_tracer_records_the_runs_transitions_only_and_removes_its_instance(tracing: None, private_lo: Any) -> None:
    top = inspect_tracefs()
    tag = "test_" + secrets.token_hex(4)
    a, b, decoy = "127.201.0.1", "127.201.0.2", "127.201.0.3"
    port = 30000 + secrets.randbelow(20000)
    tracer = Tracer((port, port + 10), {a, b}, tags=[tag])
    try:
        assert tracer.name in inspect_tracefs()["instances"] and tracer.tag == tag
        tracer.marker("before")
        listener = _sock(private_lo, b, port + 1)
        listener.listen()
        client = _sock(private_lo, a, port)
        client.connect((b, port + 1))
        # A decoy on an address the run does not own, same ports: never traced.
        decoy_listener = _sock(private_lo, decoy, port + 1)
        decoy_listener.listen()
        decoy_client = _sock(private_lo, decoy, port + 2)
        decoy_client.connect((decoy, port + 1))
        server, _ = listener.accept()
        tracer.marker("after handshake")
        client.shutdown(socket.SHUT_WR)
        server.shutdown(socket.SHUT_WR)
        for s in (client, server, listener, decoy_client, decoy_listener):
            s.close()
        events: list[Any] = []
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not any(e.describe() == "LISTEN -> CLOSED" for e in events):
            events += tracer.wait(0.1)
    finally:
        tracer.close()
    assert all(decoy not in (e.local[0], e.remote[0]) for e in events)
    assert [e.text for e in events if e.is_marker] == ["before", "after handshake"]

    def path(local: tuple[str, int], remote_port: int) -> list[str]:
        return [e.describe() for e in events if e.event == "inet_sock_set_state" and e.local == local
                and e.remote[1] == remote_port]

    assert path((a, port), port + 1) == ["CLOSED -> SYN_SENT", "SYN_SENT -> ESTABLISHED",
                                         "ESTABLISHED -> FIN_WAIT_1", "FIN_WAIT_1 -> FIN_WAIT_2",
                                         "FIN_WAIT_2 -> CLOSED"]  # the hand-over to TIME_WAIT
    assert path((b, port + 1), port) == ["LISTEN -> SYN_RCVD", "SYN_RCVD -> ESTABLISHED",
                                         "ESTABLISHED -> CLOSE_WAIT", "CLOSE_WAIT -> LAST_ACK", "LAST_ACK -> CLOSED"]
    assert path((b, port + 1), 0) == ["CLOSED -> LISTEN", "LISTEN -> CLOSED"]
    marks = [n for n, e in enumerate(events) if e.is_marker]
    handshake = [n for n, e in enumerate(events) if e.describe() == "SYN_SENT -> ESTABLISHED"]
    assert marks[0] < handshake[0] < marks[1]  # markers are ordered with the kernel's events
    after = inspect_tracefs()
    assert tracer.name not in after["instances"]
    assert {k: after[k] for k in ("set_event", "tracing_on", "inet_sock_set_state")} == \
        {k: top[k] for k in ("set_event", "tracing_on", "inet_sock_set_state")}


def test_two_live_runs_never_share_a_tag(tracing: None) -> None:
    tags = ["test_" + secrets.token_hex(4), "test_" + secrets.token_hex(4)]
    with Tracer((1, 2), (), tags=tags) as first, Tracer((1, 2), (), tags=tags) as second:
        assert (first.tag, second.tag) == tuple(tags)
        with pytest.raises(TracerUnavailable, match="every candidate tag is in use"):
            Tracer((1, 2), (), tags=tags)


_CHILD = """
import sys, time
from tcpcheck.tools.runner.tracer import Tracer
t = Tracer((1, 2), (), tags=[sys.argv[1]])
print(t.name, t._proc.pid, flush=True)
time.sleep(120)
"""


def _child(tag: str) -> tuple[subprocess.Popen[str], str, int]:
    child = subprocess.Popen([sys.executable, "-c", _CHILD, tag], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert child.stdout is not None
    name, watchdog = child.stdout.readline().split()
    return child, name, int(watchdog)


def test_a_killed_run_leaves_nothing_its_watchdog_cannot_remove(tracing: None) -> None:
    child, name, _ = _child("test_" + secrets.token_hex(4))
    assert name in inspect_tracefs()["instances"]
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=10)
    assert name not in _wait_instances(lambda names: name not in names)


def test_the_reaper_removes_orphans_and_never_a_live_runs_instance(tracing: None) -> None:
    orphan_owner, orphan, orphan_dog = _child("test_" + secrets.token_hex(4))
    live_owner, live, live_dog = _child("test_" + secrets.token_hex(4))
    try:
        for dog in (orphan_dog, live_dog):  # both watchdogs gone: only the reaper can clean up
            os.kill(dog, signal.SIGKILL)
        orphan_owner.send_signal(signal.SIGKILL)
        orphan_owner.wait(timeout=10)
        assert {orphan, live} <= set(inspect_tracefs()["instances"])
        with Tracer((1, 2), (), tags=["test_" + secrets.token_hex(4)]) as reaper:
            assert orphan in reaper.reaped and live not in reaper.reaped
        names = inspect_tracefs()["instances"]
        assert orphan not in names and live in names
    finally:
        live_owner.send_signal(signal.SIGKILL)
        live_owner.wait(timeout=10)
        orphan_owner.kill()
    with Tracer((1, 2), (), tags=["test_" + secrets.token_hex(4)]) as reaper:
        assert live in reaper.reaped
    assert live not in inspect_tracefs()["instances"]


def test_without_root_tracing_says_why_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    reason = unavailable_reason()
    assert reason is not None and "root" in reason and "\n" not in reason
