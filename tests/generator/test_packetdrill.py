"""The emitted packetdrill scripts: packetdrill's grammar accepts every one,
and the close scenarios say what Linux does, line for line."""

from __future__ import annotations

from pathlib import Path

import pytest

from tcpcheck.model.spec import Spec
from tcpcheck.tools.generate import build_suite
from tcpcheck.tools.generate.drivable import DriveModel
from tcpcheck.tools.generate.emit_packetdrill import emit_packetdrill
from tcpcheck.tools.generate.paths import Explorer
from tests.generator.pktgrammar import check

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = sorted((ROOT / "generated_tests" / "packetdrill").glob("*.pkt"))


def test_there_is_one_script_per_scenario(linux: DriveModel, explorer: Explorer) -> None:
    expected = {f"{c}_{s.name}.pkt" for c in ("states", "transitions", "pairs", "w", "wp", "tour")
                for s in build_suite(linux, c, 1, explorer).scenarios}
    assert {p.name for p in SCRIPTS} == expected


@pytest.mark.parametrize("path", SCRIPTS, ids=[p.stem for p in SCRIPTS])
def test_packetdrill_grammar_accepts(path: Path) -> None:
    assert check(path.read_text()) == []


@pytest.mark.parametrize(
    ("script", "error"),
    [
        ("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 < . 1:1(0) ack 1\n", "window must be specified"),
        ("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0~+1 < . 1:1(0) ack 1 win 9\n", "range"),
        ("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 < S 0:0(0) win 9 <...>\n", "outbound"),
        ("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 > Q 1:1(0)\n", "Invalid TCP flag"),
        ("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 > . 1:3(0)\n", "inconsistent"),
        ("0 close(3)\n", "expected ="),
        ("0 setsockopt(3, SOL_SOCKET, SO_LINGER, {onoff=1 linger=0}, 8) = 0\n", "expected ,"),
        ("+0 > S 0:0(0) <mss>\n", "expected INTEGER"),
        ("", "at least one event"),
    ],
)
def test_the_checker_rejects_what_packetdrill_rejects(script: str, error: str) -> None:
    errors = check(script)
    assert errors and error in errors[0]


def _events(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith(("//", "--"))]


def _script(linux: DriveModel, explorer: Explorer, last: str) -> str:
    suite = build_suite(linux, "transitions", 0, explorer)
    (scenario,) = [s for s in suite.scenarios if s.walk[-1] == last]
    return emit_packetdrill(scenario, linux.profile)


SS = "'( sport = :8080 or dport = :8080 )' | grep -q .`"
ACTIVE_OPEN = [
    "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3",
    "+0 fcntl(3, F_SETFL, O_RDWR|O_NONBLOCK) = 0",
    "+0 connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)",
    "+0 > S 0:0(0) <...>",
    "+0 %{ assert tcpi_state == TCP_SYN_SENT, tcpi_state }%",
    "+0 < S. 0:0(0) ack 1 win 65535 <mss 1460>",
    "+0 > . 1:1(0) ack 1",
    "+0 %{ assert tcpi_state == TCP_ESTABLISHED, tcpi_state }%",
]


def test_active_close_script(linux: DriveModel, explorer: Explorer) -> None:
    assert _events(_script(linux, explorer, "FIN_WAIT_2--FIN-->TIME_WAIT")) == [
        *ACTIVE_OPEN,
        "+0 close(3) = 0",
        "+0 > F. 1:1(0) ack 1",
        f"+0 `ss -Htan state fin-wait-1 {SS}",
        "+0 < . 1:1(0) ack 2 win 65535",
        f"+0 `ss -Htan state fin-wait-2 {SS}",
        "+0 < F. 1:1(0) ack 2 win 65535",
        "+0 > . 2:2(0) ack 2",
        f"+0 `ss -Htan state time-wait {SS}",
    ]


def test_passive_close_script(linux: DriveModel, explorer: Explorer) -> None:
    assert _events(_script(linux, explorer, "LAST_ACK--ACK_OF_FIN-->CLOSED")) == [
        *ACTIVE_OPEN,
        "+0 < F. 1:1(0) ack 1 win 65535",
        "+0 > . 1:1(0) ack 2",
        "+0 %{ assert tcpi_state == TCP_CLOSE_WAIT, tcpi_state }%",
        "+0 close(3) = 0",
        "+0 > F. 1:1(0) ack 2",
        f"+0 `ss -Htan state last-ack {SS}",
        "+0 < . 2:2(0) ack 2 win 65535",
        f"+0 `! ss -Htan state connected {SS}",
    ]


def test_simultaneous_close_script(linux: DriveModel, explorer: Explorer) -> None:
    # The peer's FIN crosses ours: it acknowledges only up to our FIN (ack 1, not 2).
    assert _events(_script(linux, explorer, "CLOSING--ACK_OF_FIN-->TIME_WAIT")) == [
        *ACTIVE_OPEN,
        "+0 close(3) = 0",
        "+0 > F. 1:1(0) ack 1",
        f"+0 `ss -Htan state fin-wait-1 {SS}",
        "+0 < F. 1:1(0) ack 1 win 65535",
        "+0 > . 2:2(0) ack 2",
        f"+0 `ss -Htan state closing {SS}",
        "+0 < . 2:2(0) ack 2 win 65535",
        f"+0 `ss -Htan state time-wait {SS}",
    ]


def test_passive_open_uses_ss_until_accept(spec: Spec, linux: DriveModel, explorer: Explorer) -> None:
    # A passive SYN_RCVD has no descriptor: ss sees the request socket; after accept(), TCP_INFO.
    text = _script(linux, explorer, "TIME_WAIT--SYN(implementation)-->SYN_RCVD")
    events = _events(text)
    assert "+0 listen(3, 1) = 0" in events
    assert f"+0 `ss -Htan state syn-recv {SS}" in events
    i = events.index("+0 accept(3, ..., ...) = 4")
    assert events[i + 1] == "+0 %{ assert tcpi_state == TCP_ESTABLISHED, tcpi_state }%"
    assert check(text) == []
