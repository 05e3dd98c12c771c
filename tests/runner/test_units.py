"""Unit tests that need no privileges: packets, peer numbers, judging,
profile and suite files, report, pcap."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tcpcheck.model.errors import InputError
from tcpcheck.model.spec import load_spec
from tcpcheck.tools.runner.judge import classify, match_segment, step_verdict
from tcpcheck.tools.runner.packets import (
    ACK,
    FIN,
    RST,
    SYN,
    Captured,
    Packet,
    checksum,
    mss_option,
    parse,
    timestamp_option,
    timestamps_of,
)
from tcpcheck.tools.runner.pcap import read_pcap, write_pcap
from tcpcheck.tools.runner.peer import OUT_OF_WINDOW, PeerFlow, SegmentError
from tcpcheck.tools.runner.profile import Deviation, Profile, load_profile
from tcpcheck.tools.runner.suite import default_suite, load_suite
from tcpcheck.tools.scenario import Scenario

SPEC_IDS = {t.id for t in load_spec().transitions}


def flow() -> PeerFlow:
    return PeerFlow("198.18.0.1", 20000, "198.18.0.2", 40000, iss=1000)


def from_stack(flags: int, seq: int, ack: int = 0, payload: bytes = b"") -> Packet:
    return Packet("198.18.0.1", "198.18.0.2", 20000, 40000, seq, ack, flags, payload=payload)


def test_packet_round_trip_and_checksums() -> None:
    p = Packet("198.18.0.2", "198.18.0.1", 40000, 20000, 0xFFFFFFF0, 7, SYN | ACK, payload=b"abc",
               options=b"\x02\x04\x05\xb4")
    raw = p.to_bytes()
    assert checksum(raw[:20]) == 0  # IPv4 header checksum verifies
    back = parse(raw)
    assert (back.seq, back.ack, back.flags, back.payload, back.options) == (p.seq, 7, SYN | ACK, b"abc", p.options)
    assert back.checksum_ok
    corrupt = raw[:-1] + bytes([raw[-1] ^ 1])
    assert not parse(corrupt).checksum_ok


def test_peer_timestamps_are_off_by_default_and_echo_the_stack_when_on() -> None:
    """Default: the SYN offers MSS only (every pinned scenario unchanged).
    With timestamps: TSval ticks once per segment the peer sends, TSecr is
    the stack's last TSval (0 in a bare SYN), and ``stale_timestamp`` data
    lies far behind the clock without advancing the send sequence."""
    plain = flow()
    assert plain.build("SYN").options == mss_option()
    f = flow()
    f.timestamps = True
    syn = f.build("SYN")
    assert syn.options.startswith(mss_option()) and timestamps_of(syn.options) == (1000, 0)
    assert timestamps_of(parse(syn.to_bytes()).options) == (1000, 0)  # survives the wire
    f.absorb(Packet("198.18.0.1", "198.18.0.2", 20000, 40000, 77, 1001, SYN | ACK,
                    options=mss_option() + timestamp_option(5555, 1000)))
    ack = f.build("ACK")
    assert timestamps_of(ack.options) == (1001, 5555) and not ack.options.startswith(mss_option())
    data = f.build("DATA")
    assert timestamps_of(data.options) == (1002, 5555)
    stale = f.build("DATA", "stale_timestamp")
    assert stale.seq == f.snd_nxt and timestamps_of(stale.options) == (1003 - 500, 5555)
    with pytest.raises(SegmentError, match="needs timestamps"):
        plain.build("DATA", "stale_timestamp")
    assert timestamps_of(b"\x01\x01\x08\x03") is None  # malformed length: no option, no crash


def test_scenario_timestamps_switch_round_trips() -> None:
    s = Scenario("t", (), timestamps=True)
    assert s.to_json()["timestamps"] is True and Scenario.from_json(s.to_json()).timestamps
    assert "timestamps" not in Scenario("t", ()).to_json()  # default: JSON as before
    with pytest.raises(ValueError, match="field 'timestamps': must be true or false"):
        Scenario.from_json({"name": "t", "steps": [], "timestamps": "yes"})


def test_peer_reopens_in_the_old_window_and_replays_old_segments() -> None:
    """Why TIME_WAIT, reason 2: ``old_window`` reuses the old ISN; ``old``
    replays the old DATA/FIN as sent, ``old_acceptable`` with the new
    connection's ACK; neither exists before a connection has ended."""
    f = flow()
    f.build("SYN")
    with pytest.raises(SegmentError, match="none has ended"):
        f.build("SYN", "old_window")
    f.absorb(from_stack(SYN | ACK, 5000, 1001))
    data = f.build("DATA")
    f.absorb(from_stack(FIN | ACK, 5001, 1009))
    fin = f.build("FIN_ACK_OF_FIN")
    with pytest.raises(SegmentError, match="none"):
        f.build("DATA", "old")  # no earlier incarnation yet
    assert f.build("SYN", "old_window").seq == 1000
    f.absorb(from_stack(SYN | ACK, 9000, 1001))
    assert f.build("DATA", "old") == data  # byte for byte, old ACK field
    assert f.snd_nxt == 1009  # it landed at RCV.NXT: an RFC receiver takes it
    old_fin = f.build("FIN", "old_acceptable")
    assert (old_fin.seq, old_fin.ack, old_fin.flags) == (fin.seq, 9001, fin.flags)
    with pytest.raises(SegmentError, match="variant"):
        f.build("DATA", "stale")
    with pytest.raises(SegmentError, match="variant"):
        f.build("SYN", "stale")


def test_parse_rejects_garbage() -> None:
    with pytest.raises(ValueError):
        parse(b"\x60" + b"\0" * 50)


def test_peer_numbers_through_a_close() -> None:
    f = flow()
    assert f.build("SYN").seq == 1000
    assert f.build("SYN").seq == 1000 and f.snd_nxt == 1001  # a retransmission changes nothing
    f.absorb(from_stack(SYN | ACK, 5000, 1001))
    ack = f.build("ACK")
    assert (ack.seq, ack.ack) == (1001, 5001)
    f.absorb(from_stack(FIN | ACK, 5001, 1001))
    fin = f.build("FIN")  # crossing FINs: does not acknowledge the stack's FIN
    assert (fin.flags, fin.seq, fin.ack) == (FIN | ACK, 1001, 5001)
    again = f.build("FIN_ACK_OF_FIN")  # a retransmission keeps its sequence number
    assert (again.seq, again.ack) == (1001, 5002)
    assert f.build("RST").seq == 1002
    assert f.build("RST", "out_of_window").seq == 1002 + OUT_OF_WINDOW


def test_peer_refuses_impossible_segments() -> None:
    with pytest.raises(SegmentError):
        flow().build("ACK_OF_FIN")
    with pytest.raises(SegmentError):
        flow().build("RST", "sideways")


def test_bad_ack_rst_misses_the_syn() -> None:
    f = flow()
    f.absorb(from_stack(SYN, 5000))
    assert f.build("RST_ACK").ack == 5001
    assert f.build("RST_ACK", "bad_ack").ack == 5000


def test_retransmissions_are_recognised() -> None:
    f = flow()
    syn = from_stack(SYN, 5000)
    assert not f.is_retransmission(syn)
    f.absorb(syn)
    assert f.is_retransmission(syn)
    assert not f.is_retransmission(from_stack(SYN | ACK, 5000, 1001))  # simultaneous open's SYN,ACK


def test_match_checks_numbers_not_only_flags() -> None:
    f = flow()
    f.build("SYN")
    f.absorb(from_stack(SYN | ACK, 5000, 1001))
    f.build("FIN")
    assert match_segment("ACK", from_stack(ACK, 5001, 1002), f).ok
    wrong = match_segment("ACK", from_stack(ACK, 5001, 1001), f)
    assert not wrong.ok and "acknowledges 1001" in wrong.detail
    assert match_segment("RST", from_stack(RST | ACK, 5001, 1002), f).ok  # RST+ACK satisfies RST
    assert not match_segment("NONE", from_stack(ACK, 5001, 1002), f).ok
    assert match_segment("NONE", None, f).ok
    assert classify(from_stack(FIN | ACK, 1, 1)) == "FIN"


def test_verdicts_follow_the_profile() -> None:
    d = Deviation("x", "RFC 1337", transition="TIME_WAIT--RST-->CLOSED", expected="state CLOSED",
                  observed="state TIME_WAIT", condition={"tcp_rfc1337": "1"})
    prof = Profile("p", "s", (d,))
    on = {"net/ipv4/tcp_rfc1337": "1"}
    assert step_verdict(True, "", "", prof, (), on) == ("pass", None)
    assert step_verdict(False, "state CLOSED", "state TIME_WAIT", prof, ("TIME_WAIT--RST-->CLOSED",), on) == (
        "deviation", d)
    assert step_verdict(False, "state CLOSED", "state TIME_WAIT", prof, ("TIME_WAIT--RST-->CLOSED",),
                        {"net/ipv4/tcp_rfc1337": "0"})[0] == "fail"
    assert step_verdict(False, "state CLOSED", "state TIME_WAIT", prof, ("ESTABLISHED--RST-->CLOSED",), on)[0] == "fail"


def test_linux_profile_is_valid() -> None:
    prof = load_profile(known_transitions=SPEC_IDS)
    assert prof.name == "linux"
    ids = {d.id for d in prof.deviations}
    assert {"close_with_unread_data_sends_rst", "rfc1337_ignores_rst_in_time_wait", "challenge_acks",
            "passive_syn_rcvd_is_a_request_socket", "fin_wait_2_orphan_timeout", "syn_reopens_time_wait"} <= ids
    assert all(d.reference for d in prof.deviations)
    assert prof.reason_not_drivable("LISTEN--send-->SYN_SENT")


def test_profile_errors_name_the_entry(tmp_path: Path) -> None:
    bad = tmp_path / "p.toml"
    bad.write_text('[profile]\nname = "x"\n[[deviation]]\nid = "a"\nreference = "r"\ntransition = "NOPE"\n'
                   'expected = "FIN"\nobserved = "RST"\n')
    with pytest.raises(InputError, match=r"\[\[deviation\]\] #1.*unknown transition 'NOPE'"):
        load_profile(bad, known_transitions=SPEC_IDS)
    with pytest.raises(InputError, match="no such file"):
        load_profile(tmp_path / "missing.toml")
    bad.write_text('[profile]\nname = "x"\n[[deviation]]\nid = "a"\nreference = "r"\nexpected = "FIN"\n'
                   'observed = "RST"\nafter_injects = ["DATA", "PING"]\n')
    with pytest.raises(InputError, match=r"\[\[deviation\]\] #1: after_injects must be a list of segments"):
        load_profile(bad)
    head = '[profile]\nname = "x"\n[[deviation]]\nid = "a"\nreference = "r"\nexpected = "FIN"\nobserved = "RST"\n'
    for line, message in (('when = "self.passive and"', r"#1: when 'self\.passive and': column"),
                          ('when = "passive"', r"#1: when names 'passive': a guard reads this endpoint's history"),
                          ('when = "self.sideways"', r"#1: when names 'self.sideways'"),
                          ('options = { warp = true }', r"#1: options: unknown model option 'warp'"),
                          ('options = { note3 = "yes" }', r"#1: options must be a table of model option = true/false")):
        bad.write_text(head + line + "\n")
        with pytest.raises(InputError, match=message):
            load_profile(bad)


def test_profile_precondition_in_the_model_terms() -> None:
    """``when`` is judged on the history the caller gives (none: not
    judged), ``options`` on the model options in force (none: not judged)."""
    entry = Deviation("d", "r", when="self.passive", options={"rfc1337": False})
    assert entry.in_context((), (), frozenset({"passive"})) and not entry.in_context((), (), frozenset())
    assert entry.in_context((), ())
    assert entry.applies({}, {"rfc1337": False, "note3": True}) and not entry.applies({}, {"rfc1337": True})
    assert entry.applies({})


def test_default_suite_names_real_transitions() -> None:
    suite = default_suite()
    assert len({s.name for s in suite}) == len(suite)
    covered = {t for s in suite for t in s.transitions}
    assert covered <= SPEC_IDS
    prof = load_profile(known_transitions=SPEC_IDS)
    # every spec transition is covered or documented as not drivable
    assert {t for t in SPEC_IDS - covered if not prof.reason_not_drivable(t)} == set()
    assert all(s.rfc for s in suite if s.transitions)


def test_suite_file_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "suite.json"
    path.write_text(json.dumps({"scenarios": [s.to_json() for s in default_suite()[:3]]}))
    assert load_suite(path) == default_suite()[:3]


@pytest.mark.parametrize(("text", "message"), [
    ("{", "not valid JSON"),
    ('[{"name": "x", "steps": [{"kind": "warp"}]}]', r"\$\[0\]\.steps\[0\]\.kind: 'warp' is not one of"),
    ('{"nope": 1}', "the format is tools/scenario.schema.json"),
])
def test_bad_suite_files(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "s.json"
    path.write_text(text)
    with pytest.raises(InputError, match=message):
        load_suite(path)


def test_pcap_round_trip(tmp_path: Path) -> None:
    raw = Packet("198.18.0.2", "198.18.0.1", 1, 2, 3, 4, SYN).to_bytes()
    path = write_pcap(tmp_path / "d" / "t.pcap", [Captured(1.5, raw, False)])
    assert read_pcap(path) == [raw]
    assert path.read_bytes()[:4] == b"\xd4\xc3\xb2\xa1"


def test_scenario_json_round_trip() -> None:
    for s in default_suite():
        assert Scenario.from_json(json.loads(json.dumps(s.to_json()))) == s


def test_syn_after_a_reset_starts_a_new_incarnation() -> None:
    f = flow()
    f.build("SYN")
    f.absorb(from_stack(SYN | ACK, 5000, 1001))
    f.build("RST")
    syn = f.build("SYN")
    assert syn.seq != 1000 and f.stack_iss is None  # a new connection: new numbers on both sides


def test_profile_deviation_is_scoped_by_the_calls_made() -> None:
    """The request-socket deviation excuses a silent close() in SYN_RCVD only
    after listen(); after an active open the same silence is a failure."""
    from tcpcheck.tools.runner.profile import load_profile

    profile = load_profile()
    t = ("SYN_RCVD--close-->FIN_WAIT_1",)
    sysctls: dict[str, str] = {}
    passive = profile.find("FIN", "NONE", t, sysctls, ("listen", "close"))
    assert passive is not None and passive.id == "passive_syn_rcvd_is_a_request_socket"
    assert profile.find("FIN", "NONE", t, sysctls, ("connect", "close")) is None


def test_profile_deviation_is_scoped_by_the_segments_received() -> None:
    """Close with unread data resets the connection only after the peer
    sent data that no recv() read; otherwise a RST there is a failure."""
    from tcpcheck.tools.runner.profile import load_profile

    profile = load_profile()
    t = ("ESTABLISHED--close-->FIN_WAIT_1",)
    calls = ("connect", "close")
    found = profile.find("FIN", "RST_ACK", t, {}, calls, ("SYN_ACK", "DATA"))
    assert found is not None and found.id == "close_with_unread_data_sends_rst"
    assert profile.find("FIN", "RST_ACK", t, {}, calls, ("SYN_ACK",)) is None
    assert profile.find("FIN", "RST_ACK", t, {}, ("connect", "recv", "close"), ("SYN_ACK", "DATA")) is None


def test_unacceptable_syn_ack_draws_a_rst_at_its_ack() -> None:
    """SYN_ACK (bad_ack) acknowledges the ISS itself (SEG.ACK =< ISS); the
    RST it draws must be <SEQ=SEG.ACK> (RFC 9293 §3.10.7.3), ends nothing,
    and the right SYN_ACK after it repeats the peer's ISN."""
    f = flow()
    f.absorb(from_stack(SYN, 5000))
    bad = f.build("SYN_ACK", "bad_ack")
    assert (bad.seq, bad.ack) == (1000, 5000)
    assert match_segment("RST", from_stack(RST, 5000), f).ok
    wrong = match_segment("RST", from_stack(RST, 5001), f)
    assert not wrong.ok and "expected the probe's ACK 5000" in wrong.detail
    f.absorb(from_stack(RST, 5000))
    assert not f.reset
    good = f.build("SYN_ACK")
    assert (good.seq, good.ack) == (1000, 5001)
    assert not match_segment("RST", from_stack(RST, 5000), f).ok  # no longer answering an unacceptable ACK
    with pytest.raises(SegmentError):
        flow().build("SYN_ACK", "sideways")


def test_in_window_syn_probes_only_a_synchronized_connection() -> None:
    f = flow()
    with pytest.raises(SegmentError):
        f.build("SYN", "in_window")
    f.build("SYN")
    f.absorb(from_stack(SYN | ACK, 5000, 1001))
    f.build("ACK")
    probe = f.build("SYN", "in_window")
    assert probe.flags == SYN and probe.seq == 1002 and f.snd_nxt == 1001  # in the window, not at RCV.NXT
    assert match_segment("ACK", from_stack(ACK, 5001, 1001), f).ok  # the challenge ACK: <SEQ=SND.NXT><ACK=RCV.NXT>


def test_duplicate_data_repeats_the_first_below_rcv_nxt() -> None:
    f = flow()
    with pytest.raises(SegmentError):
        f.build("DATA", "duplicate")
    f.build("SYN")
    f.absorb(from_stack(SYN | ACK, 5000, 1001))
    first = f.build("DATA")
    again = f.build("DATA", "duplicate")
    assert (again.seq, again.payload) == (first.seq, first.payload) and f.snd_nxt == first.seq + len(first.payload)
