"""The emitted packetdrill scripts: packetdrill's grammar accepts every one,
each says what it claims (exact 4-tuples, per-segment timing, the settings
it needs, a stray-segment check at the end), the close scenarios say what
Linux does line for line, and what cannot be written is listed with the
reason. ``test_packetdrill_real.py`` runs them under real packetdrill."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tcpcheck.model.spec import Spec
from tcpcheck.tools.generate import CRITERIA, build_suite
from tcpcheck.tools.generate.drivable import DriveModel
from tcpcheck.tools.generate.emit_packetdrill import (
    DELAYED_ACKS,
    EXPECTED,
    FRESH_NAMESPACE,
    LOCAL_IP,
    NORMAL_PRIORITY,
    PORT,
    REMOTE_IP,
    TOLERANCE_USECS,
    NotWritable,
    emit_packetdrill,
    emit_packetdrill_suite,
    sent_as_expected,
)
from tcpcheck.tools.generate.paths import Explorer
from tcpcheck.tools.runner.netns import BASE_SYSCTLS
from tcpcheck.tools.scenario import Call, Expect, ExpectState, Inject, Scenario
from tests.generator.pktgrammar import check

ROOT = Path(__file__).resolve().parents[2]
FOLDER = ROOT / "generated_tests" / "packetdrill"
SCRIPTS = sorted(FOLDER.glob("*.pkt"))


def test_every_scenario_has_a_script_or_a_reason(linux: DriveModel, explorer: Explorer) -> None:
    for criterion in CRITERIA:
        suite = build_suite(linux, criterion, 1, explorer)
        index = (FOLDER / f"{criterion}.txt").read_text()
        written = {p.name for p in FOLDER.glob(f"{criterion}_*.pkt")}
        left_out = re.findall(r"^  (\S+): (.+)$", index.split("Left out", 1)[1], re.M) if "Left out" in index else []
        assert {f"{criterion}_{s.name}.pkt" for s in suite.scenarios} == written | {
            f"{criterion}_{name}.pkt" for name, _ in left_out}
        assert not written & {f"{criterion}_{name}.pkt" for name, _ in left_out}
        assert f"{len(suite.scenarios)} scenarios: {len(written)} scripts, {len(left_out)} left out." in index
        assert "unshare -n packetdrill" in index
        for tid, reason in suite.not_drivable.items():
            assert f"  {tid}: {reason}" in index


def test_what_is_left_out_cannot_be_written(linux: DriveModel, explorer: Explorer) -> None:
    """A second handshake whose initial sequence number the stack picks
    afresh: packetdrill has no wildcard for it. The TIME_WAIT reopen is
    written (Linux derives that ISN from the old connection)."""
    suite = build_suite(linux, "pairs", 1, explorer)
    (scenario,) = [s for s in suite.scenarios if s.name == "p031_syn_rcvd_rst_then_syn"]
    with pytest.raises(NotWritable, match="initial sequence number"):
        emit_packetdrill(scenario, linux.profile)
    files = emit_packetdrill_suite(suite, linux.profile, "cmd")
    assert "  p031_syn_rcvd_rst_then_syn: a new connection on the same 4-tuple" in files["packetdrill/pairs.txt"]
    assert "packetdrill/pairs_p031_syn_rcvd_rst_then_syn.pkt" not in files


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
        ("--local_ip=192.168.0\n0 close(3) = 0\n", "expected INTEGER or WORD"),
        ("", "at least one event"),
    ],
)
def test_the_checker_rejects_what_packetdrill_rejects(script: str, error: str) -> None:
    errors = check(script)
    assert errors and error in errors[0]


def _events(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith(("//", "--", "`"))]


def _init(text: str) -> str:
    return next(line for line in text.splitlines() if line.startswith("`"))


def _script(linux: DriveModel, explorer: Explorer, last: str) -> str:
    suite = build_suite(linux, "transitions", 0, explorer)
    (scenario,) = [s for s in suite.scenarios if s.walk[-1] == last]
    return emit_packetdrill(scenario, linux.profile)


TUPLE = f"src {LOCAL_IP}:{PORT} dst {REMOTE_IP}:{PORT}"
PEER = f"set -- $(ss -Hltn sport != :{PORT}); [ $# = 5 ] || exit 1; "
PASSIVE = f"src {LOCAL_IP}:{PORT} dst {REMOTE_IP}:${{4##*:}}"
ACTIVE_OPEN = [
    "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3",
    "+0 bind(3, ..., ...) = 0",
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
        f"+0 `ss -Htn state fin-wait-1 {TUPLE} | grep -q .`",
        "+0 < . 1:1(0) ack 2 win 65535",
        f"+0 `ss -Htn state fin-wait-2 {TUPLE} | grep -q .`",
        "+0 < F. 1:1(0) ack 2 win 65535",
        "+0 > . 2:2(0) ack 2",
        f"+0 `ss -Htn state time-wait {TUPLE} | grep -q .`",
        # The end: a quiet wait, then an out-of-window probe that TIME_WAIT answers with an ACK.
        "+0 `sleep 0.3`",
        "+0 < . 1000002:1000002(0) ack 2 win 65535",
        "+0 > . 2:2(0) ack 2",
        f"+0 `{sent_as_expected(5)}`",  # SYN, ACK, FIN, the ACK of the peer's FIN, the probe's answer
    ]


def test_passive_close_script(linux: DriveModel, explorer: Explorer) -> None:
    assert _events(_script(linux, explorer, "LAST_ACK--ACK_OF_FIN-->CLOSED")) == [
        *ACTIVE_OPEN,
        "+0 < F. 1:1(0) ack 1 win 65535",
        # Linux delays this ACK (tcp_fin() enters pingpong mode): the range Linux allows, not +0.
        "+0~+0.04 > . 1:1(0) ack 2",
        "+0 %{ assert tcpi_state == TCP_CLOSE_WAIT, tcpi_state }%",
        "+0 close(3) = 0",
        "+0 > F. 1:1(0) ack 2",
        f"+0 `ss -Htn state last-ack {TUPLE} | grep -q .`",
        "+0 < . 2:2(0) ack 2 win 65535",
        f"+0 `out=$(ss -Htn state connected {TUPLE}) && [ -z \"$out\" ]`",
        # No connection left: the probe gets a RST <SEQ=SEG.ACK>.
        "+0 `sleep 0.3`",
        "+0 < . 2:2(0) ack 1000002 win 65535",
        "+0 > R 1000002:1000002(0)",
        f"+0 `{sent_as_expected(5)}`",  # SYN, ACK, the delayed ACK, FIN, the probe's answer
    ]


def test_simultaneous_close_script(linux: DriveModel, explorer: Explorer) -> None:
    # The peer's FIN crosses ours: it acknowledges only up to our FIN (ack 1, not 2).
    assert _events(_script(linux, explorer, "CLOSING--ACK_OF_FIN-->TIME_WAIT"))[len(ACTIVE_OPEN):-4] == [
        "+0 close(3) = 0",
        "+0 > F. 1:1(0) ack 1",
        f"+0 `ss -Htn state fin-wait-1 {TUPLE} | grep -q .`",
        "+0 < F. 1:1(0) ack 1 win 65535",
        "+0 > . 2:2(0) ack 2",
        f"+0 `ss -Htn state closing {TUPLE} | grep -q .`",
        "+0 < . 2:2(0) ack 2 win 65535",
        f"+0 `ss -Htn state time-wait {TUPLE} | grep -q .`",
    ]


def test_passive_open_uses_ss_until_accept(spec: Spec, linux: DriveModel, explorer: Explorer) -> None:
    # A passive SYN_RCVD has no descriptor, and packetdrill watches the
    # child from the first segment on: ss by 4-tuple; after accept(), TCP_INFO.
    events = _events(_script(linux, explorer, "TIME_WAIT--SYN(implementation)-->SYN_RCVD"))
    assert events[:5] == ["0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3",
                          "+0 setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0",
                          "+0 bind(3, ..., ...) = 0", "+0 listen(3, 1) = 0",
                          "+0 %{ assert tcpi_state == TCP_LISTEN, tcpi_state }%"]
    assert f"+0 `{PEER}ss -Htn state syn-recv {PASSIVE} | grep -q .`" in events
    i = events.index("+0 accept(3, ..., ...) = 4")
    assert events[i - 1] == f"+0 `{PEER}ss -Htn state established {PASSIVE} | grep -q .`"
    assert events[i + 1] == "+0 %{ assert tcpi_state == TCP_ESTABLISHED, tcpi_state }%"


def test_the_time_wait_reopen_gets_the_isn_linux_derives(linux: DriveModel, explorer: Explorer) -> None:
    # tcp_timewait_state_process(): ISN = the old SND.NXT (2) + 65535 + 2.
    events = _events(_script(linux, explorer, "TIME_WAIT--SYN(implementation)-->SYN_RCVD"))
    assert events[-7:-4] == ["+0 < S 1048578:1048578(0) win 65535 <mss 1460>",
                             "+0 > S. 65539:65539(0) ack 1048579 <...>",
                             f"+0 `{PEER}ss -Htn state syn-recv {PASSIVE} | grep -q .`"]


def test_a_documented_deviation_is_asserted_as_linux_does_it(linux: DriveModel, explorer: Explorer) -> None:
    text = _script(linux, explorer, "TIME_WAIT--abort-->CLOSED")
    assert "// RFC 9293: CLOSED; Linux: TIME_WAIT" in text
    assert _events(text)[-5] == f"+0 `ss -Htn state time-wait {TUPLE} | grep -q .`"


def test_a_deviation_mid_walk_ends_the_script(linux: DriveModel, explorer: Explorer) -> None:
    """As the runner stops at a documented deviation, the script stops
    there: what follows is not the RFC machine's to predict."""
    (base,) = [s for s in build_suite(linux, "transitions", 0, explorer).scenarios
               if s.walk[-1] == "TIME_WAIT--abort-->CLOSED"]
    more = (Inject("ACK"), Expect("RST"), ExpectState("CLOSED"))
    scenario = Scenario("more", base.steps + more, (*base.transitions, "CLOSED--ACK-->CLOSED"),
                        walk=(*base.walk, "CLOSED--ACK-->CLOSED"))
    text = emit_packetdrill(scenario, linux.profile)
    assert "the scenario's last 3 steps are not asserted" in text
    assert "// stops after TIME_WAIT--abort-->CLOSED: profile deviation time_wait_outlives_the_descriptor" in text
    assert "// covers CLOSED--ACK-->CLOSED" not in text
    # The end probe answers as TIME_WAIT does (an ACK), not as CLOSED (a RST).
    assert _events(text)[-5:] == _events(emit_packetdrill(base, linux.profile))[-5:]


def _close_after(linux: DriveModel, data: bool) -> Scenario:
    steps = (Call("connect"), Expect("SYN"), ExpectState("SYN_SENT"), Inject("SYN_ACK"), Expect("ACK"),
             ExpectState("ESTABLISHED"), *((Inject("DATA"), Expect("ACK"), ExpectState("ESTABLISHED")) if data
                                           else ()), Call("close"), Expect("FIN"), ExpectState("FIN_WAIT_1"))
    walk = ("CLOSED--connect-->SYN_SENT", "SYN_SENT--SYN_ACK-->ESTABLISHED",
            *(("ESTABLISHED--DATA-->ESTABLISHED",) if data else ()), "ESTABLISHED--close-->FIN_WAIT_1")
    return Scenario("close", steps, walk, walk=walk)


def test_a_segment_linux_sends_instead_is_left_out(linux: DriveModel) -> None:
    """Close with unread data resets (profile: after_injects = ["DATA"]);
    the state Linux is in after that is not stated anywhere, so no end probe
    can be written. Without data, the RFC's FIN."""
    with pytest.raises(NotWritable, match="close_with_unread_data_sends_rst"):
        emit_packetdrill(_close_after(linux, data=True), linux.profile)
    assert "+0 > F. 1:1(0) ack 1" in emit_packetdrill(_close_after(linux, data=False), linux.profile)


# -- what every script claims ------------------------------------------------

TEXTS = {p.name: p.read_text() for p in SCRIPTS}


def loose_ss_checks(text: str) -> list[str]:
    """The ``ss`` filters of ``text`` that do not name the exact 4-tuple
    (or, for a listener or an unused port, the exact local address)."""
    here = f"src {LOCAL_IP}:{PORT}"
    loose = []
    for cmd in re.findall(r"`([^`]*)`", text):
        for flt in re.findall(r"ss -Ht\w* ([^|)]*)", cmd):
            flt = flt.strip()
            if here not in flt:
                loose.append(flt)
            elif "listening" in flt or flt == here:
                continue
            elif f"dst {REMOTE_IP}:${{4##*:}}" in flt:
                if PEER not in cmd:  # the peer's port must be found, or the check fails
                    loose.append(cmd)
            elif f"dst {REMOTE_IP}:{PORT}" not in flt:
                loose.append(flt)
    return loose


def test_every_ss_check_names_the_exact_4_tuple() -> None:
    assert {name: loose_ss_checks(text) for name, text in TEXTS.items() if loose_ss_checks(text)} == {}
    text = TEXTS["transitions_t58_time_wait_syn_implementation_syn_rcvd.pkt"]
    assert loose_ss_checks(text.replace(" dst 192.0.2.1:${4##*:}", "", 1))
    assert loose_ss_checks(text.replace("[ $# = 5 ] || exit 1; ", "", 1))
    assert loose_ss_checks(text.replace(f"src {LOCAL_IP}:{PORT} ", "sport = :8080 ", 1))


def test_every_script_pins_its_settings_in_its_own_namespace() -> None:
    wanted = {k.replace("/", ".") for k in BASE_SYSCTLS}
    for name, text in TEXTS.items():
        init = _init(text)
        assert init.startswith("`" + FRESH_NAMESPACE + "; sysctl -q "), name
        assert wanted <= set(re.findall(r"(net\.[\w.]+)=", init)), name
        assert ("tcp_fin_timeout=1 " in init) == ("timeout_fin_wait_2" in text), name
        assert ("tcp_syn_linear_timeouts=0" in init) == ("timeout_syn" in text), name


def test_timing_is_per_segment() -> None:
    """One tolerance for what Linux sends at once; the delayed-ACK range
    only where Linux delays the ACK; the SYN retransmission at the RTO."""
    for name, text in TEXTS.items():
        assert f"--tolerance_usecs={TOLERANCE_USECS}\n" in text and TOLERANCE_USECS <= 2000, name
        current = ""
        for line in text.splitlines():
            if line.startswith("// ") and "-->" in line and " " not in line[3:]:
                current = line[3:]
            if re.match(r"^\+?[0-9.~+]+ > ", line):
                when = line.split(" > ")[0]
                if "~" in when:
                    assert current in DELAYED_ACKS and when == f"+0~+{DELAYED_ACKS[current]:g}", (name, line)
                else:
                    assert when in ("+0", "0") or (when == "+1" and line.startswith("+1 > S ")), (name, line)


def test_every_script_ends_with_a_quiet_wait_a_probe_and_a_count() -> None:
    for name, text in TEXTS.items():
        lines = text.splitlines()
        assert lines[-4] == "+0 `sleep 0.3`", name
        assert re.fullmatch(r"\+0 < \. \d+:\d+\(0\) ack \d+ win 65535", lines[-3]), name
        assert re.fullmatch(r"\+0 > (R|\.) \d+:\d+\(0\)( ack \d+)?", lines[-2]), name
        assert lines[-1] == f"+0 `{sent_as_expected(_expected_segments(text))}`", name


def _expected_segments(text: str) -> int:
    return sum(1 for line in text.splitlines() if re.match(r"^\+?[0-9.~+]+ > ", line))


def test_the_count_is_the_number_of_lines_that_expect_a_segment() -> None:
    text = TEXTS["transitions_t10_syn_sent_timeout_syn_closed.pkt"]
    assert _expected_segments(text) == 3  # SYN, its retransmission, the probe's answer
    assert text.splitlines()[-1] == f"+0 `{sent_as_expected(3)}`"
    assert all(EXPECTED.match(line) for line in text.splitlines() if " > " in line and not line.startswith("//"))


def test_the_count_reads_the_namespaces_packets_sent(tcp_harness: object) -> None:
    # tcp_harness: root and namespaces, or the runner's skip (a failure under TCPCHECK_REQUIRE_NETNS=1).
    # A fresh namespace has sent nothing; a connect() to a closed port on its
    # own lo sends two IPv4 packets (the SYN and the RST that answers it).
    def holds(shell: str) -> bool:
        return subprocess.run(["unshare", "-n", "sh", "-c", shell], capture_output=True).returncode == 0

    assert holds(sent_as_expected(0)) and not holds(sent_as_expected(1))
    refused = (f"ip link set lo up && {sys.executable} -c "
               "'import socket; assert socket.socket().connect_ex((\"127.0.0.1\", 9))' && ")
    assert holds(refused + sent_as_expected(2))
    assert not holds(refused + sent_as_expected(1)) and not holds(refused + sent_as_expected(3))


def test_a_timer_is_polled_at_normal_priority() -> None:
    """packetdrill runs its commands at its real-time priority; a poll that
    waits out a timer drops it, so as not to delay other packetdrills."""
    polls = [line for text in TEXTS.values() for line in text.splitlines() if "while " in line]
    assert len(polls) == sum(text.count(": wait (at most") for text in TEXTS.values()) > 0
    assert all(line.startswith(f"+0 `{NORMAL_PRIORITY}") for line in polls)
    if subprocess.run(["chrt", "-r", "1", "true"], capture_output=True).returncode != 0:
        pytest.skip("no real-time priority here (needs root)")
    shown = subprocess.run(["chrt", "-r", "1", "sh", "-c", NORMAL_PRIORITY + "chrt -p $$"],
                           capture_output=True, text=True).stdout
    assert "SCHED_OTHER" in shown


def test_the_guard_refuses_a_namespace_that_is_not_fresh() -> None:
    # The host's (or this test's) namespace has more than lo and tun0.
    assert subprocess.run(["sh", "-c", FRESH_NAMESPACE], capture_output=True, text=True).returncode == 1


def test_the_guard_accepts_a_fresh_namespace_with_packetdrills_tun(tcp_harness: object) -> None:
    # tcp_harness: root and a TUN device, or the runner's skip (a failure under TCPCHECK_REQUIRE_NETNS=1).
    fresh = f"ip tuntap add dev tun0 mode tun && {FRESH_NAMESPACE}"
    assert subprocess.run(["unshare", "-n", "sh", "-c", fresh], capture_output=True).returncode == 0
    extra = f"ip tuntap add dev tun0 mode tun && ip link add d0 type dummy && {FRESH_NAMESPACE}"
    assert subprocess.run(["unshare", "-n", "sh", "-c", extra], capture_output=True).returncode == 1
