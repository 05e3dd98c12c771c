"""The loopback judge on recorded runs (no privileges needed).

``runs/*.json`` are observed runs of generated loopback scenarios, recorded
on Linux 6.18 by the loopback runner (``*_sampled.json``: with tracing
off, sock_diag after every step). Each must be explained by the composed
model; each edit that makes it impossible must be rejected, naming the
event; a mutant spec must reject a run the real spec explains.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from tcpcheck.model.properties import load_properties
from tcpcheck.model.spec import load_spec
from tcpcheck.tools.runner.loopback.judge import augmented, check_run
from tcpcheck.tools.runner.loopback.observe import Reconciler, SideView
from tcpcheck.tools.runner.loopback.observed import Classifier, ObservedRun
from tcpcheck.tools.runner.packets import ACK, FIN, RST, SYN
from tcpcheck.tools.runner.profile import Profile, load_profile
from tcpcheck.tools.runner.sockdiag import DiagSocket
from tcpcheck.tools.runner.tracer import TraceEvent, parse_line

RUNS = Path(__file__).with_name("runs")
MUTANTS = Path(__file__).resolve().parents[1] / "mutants"
SPEC = load_spec()
PROFILE = load_profile(known_transitions={t.id for t in SPEC.transitions})


def _data(name: str) -> dict[str, Any]:
    return json.loads((RUNS / f"{name}.json").read_text())


def _run(data: dict[str, Any]) -> ObservedRun:
    return ObservedRun.from_json(data)


def _index(data: dict[str, Any], **match: str) -> int:
    return next(n for n, e in enumerate(data["events"]) if all(e.get(k) == v for k, v in match.items()))


@pytest.mark.parametrize("path", sorted(RUNS.glob("*.json")), ids=lambda p: p.stem)
def test_recorded_runs_are_behaviours_of_the_model(path: Path) -> None:
    check = check_run(SPEC, PROFILE, _run(json.loads(path.read_text())))
    assert check.verdict in ("pass", "deviation"), check.problems
    assert check.model.explained and all(p.ok for p in check.paths.values())
    # Properties of the steps the model allows (X.can) are not decided by one run.
    invariants = [p for p in check.properties if p.kind == "invariant" and p.verdict != "skipped"]
    assert all("not decided by one run" in p.where or "does not apply" in p.where
               for p in check.properties if p.verdict == "skipped")
    assert invariants and all(p.verdict == "holds" and p.states == len(check.model.steps) + 1 for p in invariants)


def test_simultaneous_close_is_both_closing_and_the_properties_see_it() -> None:
    check = check_run(SPEC, PROFILE, _run(_data("pair_closing__closing")))
    assert check.paths["A"].states[-1] == check.paths["B"].states[-1] == "CLOSING"
    closing = next(p for p in check.properties if p.name == "closing_only_simultaneous")
    assert closing.verdict == "holds"
    witnessed = {p.name for p in check.properties if p.verdict == "witnessed"}
    assert "reach_CLOSING" in witnessed and "reach_TIME_WAIT" not in witnessed


def test_an_impossible_transition_is_rejected_naming_the_event() -> None:
    data = _data("pair_closing__closing")
    n = _index(data, kind="state", side="B", new="CLOSING")
    data["events"][n]["new"] = "TIME_WAIT"  # FIN_WAIT_1 -> TIME_WAIT on a FIN that does not ack B's FIN
    check = check_run(SPEC, PROFILE, _run(data))
    assert check.verdict == "fail" and not check.model.explained
    assert check.model.unmatched == n
    assert f"event #{n} (B: FIN_WAIT_1 -> TIME_WAIT)" in check.model.problem
    assert "B to enter CLOSING" in check.model.problem


def test_a_transition_outside_the_machine_fails_the_path_check() -> None:
    data = _data("pair_fin_wait_2__close_wait")
    n = _index(data, kind="state", side="B", new="CLOSE_WAIT")
    data["events"][n]["new"] = "LISTEN"
    check = check_run(SPEC, PROFILE, _run(data))
    assert check.verdict == "fail"
    assert not check.paths["B"].ok and "no transition ESTABLISHED -> LISTEN" in check.paths["B"].problem


def test_a_missing_segment_is_what_the_model_still_expects() -> None:
    data = _data("pair_fin_wait_2__close_wait")
    last_ack = max(n for n, e in enumerate(data["events"]) if e["kind"] == "send" and e["side"] == "B")
    del data["events"][last_ack]
    check = check_run(SPEC, PROFILE, _run(data))
    assert not check.model.explained and "B to send ACK_OF_FIN" in check.model.problem


def test_a_state_change_nobody_caused_is_rejected() -> None:
    data = _data("pair_syn_rcvd__syn_rcvd")
    extra = copy.deepcopy(data["events"][-1])
    extra.update(kind="state", side="A", old="SYN_RCVD", new="ESTABLISHED", source="trace")
    extra["ns"] += 1
    extra.pop("segment", None)
    data["events"].append(extra)
    check = check_run(SPEC, PROFILE, _run(data))
    assert check.model.unmatched == len(data["events"]) - 1


def test_a_mutant_spec_rejects_a_run_the_spec_explains() -> None:
    mutant = load_spec(MUTANTS / "fin_wait_1_fin_to_time_wait.toml")
    data = _data("pair_closing__closing")
    run = _run(data)
    assert check_run(SPEC, PROFILE, run).verdict == "pass"
    check = check_run(mutant, PROFILE, run)
    assert check.verdict == "fail" and not check.paths["B"].ok
    first = _index(data, kind="state", new="CLOSING")
    assert check.model.unmatched == first
    assert "waits for" in check.model.problem and "to enter TIME_WAIT" in check.model.problem


def test_a_property_the_run_violates_fails_it(tmp_path: Path) -> None:
    # A deliberately false invariant ("nobody is ever in CLOSING") must be
    # violated on the simultaneous close, at the event that entered CLOSING.
    props = tmp_path / "props.toml"
    props.write_text('[[property]]\nname = "never_closing"\nrfc = "RFC 9293 §3.6 (a test)"\nkind = "invariant"\n'
                     'each = true\nexpr = "self.state != CLOSING"\nexpect = "holds"\n')
    check = check_run(SPEC, PROFILE, _run(_data("pair_closing__closing")), properties=load_properties(props))
    assert check.verdict == "fail"
    (p,) = check.properties
    assert p.verdict == "violated" and "CLOSING" in p.where and "after event #" in p.where
    assert any("never_closing" in problem for problem in check.problems)


def test_a_deviation_is_allowed_only_in_its_documented_context() -> None:
    data = _data("deviation_close_with_unread_data_sends_rst")
    check = check_run(SPEC, PROFILE, _run(data))
    assert check.verdict == "deviation" and check.model.deviations == ["close_with_unread_data_sends_rst"]
    assert "rst_on_abort_carries_ack" in check.model.notes
    # Without the data that provokes it, the same RST is not explained.
    data_segment = next(s["index"] for s in data["segments"] if s["length"] > 0)
    data["events"] = [e for e in data["events"] if not (e["kind"] == "deliver" and e.get("segment") == data_segment)]
    assert check_run(SPEC, PROFILE, _run(data)).verdict == "fail"


def test_an_undocumented_difference_fails() -> None:
    # The same run judged by a profile without the RFC 2525 entry, and
    # without the note that lets RST+ACK stand for RST.
    bare = Profile(PROFILE.name, PROFILE.stack, tuple(d for d in PROFILE.deviations if d.id not in (
        "close_with_unread_data_sends_rst", "close_wait_close_with_unread_data_sends_rst")), (), PROFILE.path,
        dict(PROFILE.options))
    assert check_run(SPEC, bare, _run(_data("deviation_close_with_unread_data_sends_rst"))).verdict == "fail"
    no_note = Profile(PROFILE.name, PROFILE.stack, tuple(d for d in PROFILE.deviations
                                                         if d.id != "rst_on_abort_carries_ack"), (), PROFILE.path,
                      dict(PROFILE.options))
    assert check_run(SPEC, no_note, _run(_data("a_established_rst_closed"))).verdict == "fail"


def test_instead_entries_become_guarded_transitions_of_the_model() -> None:
    spec, variants = augmented(SPEC, PROFILE, {})
    added = {t.id: t for t in spec.transitions[len(SPEC.transitions):]}
    request = next(t for t in added.values() if t.source == "SYN_RCVD" and t.event == "close")
    assert (request.target, request.sends, request.when) == ("CLOSED", (), "self.passive")
    assert [d.id for d in variants[request.id]] == ["passive_syn_rcvd_is_a_request_socket"]
    assert not any(t.source == "TIME_WAIT" and t.event == "RST" for t in added.values())  # tcp_rfc1337=0
    spec1337, _ = augmented(SPEC, PROFILE, {"net/ipv4/tcp_rfc1337": "1"})
    assert any(t.source == "TIME_WAIT" and t.event == "RST" and t.target == "TIME_WAIT"
               for t in spec1337.transitions[len(SPEC.transitions):])
    # the guard is the entry's own precondition (when), not read off its socket calls
    entry = PROFILE.entry("passive_syn_rcvd_is_a_request_socket")
    assert entry is not None and entry.when == "self.passive"
    unguarded = dataclasses.replace(PROFILE, deviations=tuple(
        dataclasses.replace(d, when="") if d is entry else d for d in PROFILE.deviations))
    spec_u, _ = augmented(SPEC, unguarded, {})
    assert any(t.source == "SYN_RCVD" and t.event == "close" and t.target == "CLOSED" and t.when is None
               for t in spec_u.transitions[len(SPEC.transitions):])
    # model option values: with rfc1337 on, ignoring the RST is the model's own, no entry is added
    on = dataclasses.replace(PROFILE, options={**PROFILE.options, "rfc1337": True})
    spec_on, _ = augmented(SPEC, on, {"net/ipv4/tcp_rfc1337": "1"})
    assert not any(t.source == "TIME_WAIT" and t.event == "RST" for t in spec_on.transitions[len(SPEC.transitions):])


@pytest.mark.parametrize("edit, field", [
    (lambda d: d["events"][0].update(kind="teleport"), "events[0] field 'kind'"),
    (lambda d: d["events"][0].update(side="C"), "events[0] field 'side'"),
    (lambda d: d.pop("endpoints"), "field 'endpoints'"),
    (lambda d: d["segments"][0].update(index=7), "segments[0] field 'index'"),
    (lambda d: d["events"][0].update(colour="red"), "events[0]"),
])
def test_bad_recorded_runs_name_the_field(edit: Any, field: str) -> None:
    data = _data("pair_syn_rcvd__syn_rcvd")
    edit(data)
    with pytest.raises(ValueError, match=field.replace("[", r"\[").replace("]", r"\]")):
        ObservedRun.from_json(data)


def test_segments_are_named_by_what_their_ack_newly_covers() -> None:
    c = Classifier()
    assert c.name("A", SYN, 100, 0, 0) == ("SYN", "")
    assert c.name("B", SYN | ACK, 500, 101, 0) == ("SYN_ACK", "")
    assert c.name("A", ACK, 101, 501, 0) == ("ACK", "")
    assert c.name("A", ACK, 101, 501, 5)[0] == ""  # data: not in the model
    assert c.name("B", ACK, 501, 106, 0)[0] == ""  # acknowledges data only
    assert c.name("A", FIN | ACK, 106, 501, 0) == ("FIN", "")
    assert c.name("B", FIN | ACK, 501, 107, 0) == ("FIN_ACK_OF_FIN", "")
    assert c.name("A", ACK, 107, 502, 0) == ("ACK_OF_FIN", "")
    assert c.name("A", ACK, 107, 502, 0)[0] == ""  # a duplicate
    assert c.name("B", RST | ACK, 502, 107, 0) == ("RST_ACK", "")


def _trace(old: str, new: str, local: tuple[str, int], remote: tuple[str, int]) -> TraceEvent:
    return TraceEvent(0, 0, "inet_sock_set_state", {"oldstate": old, "newstate": new, "saddr": local[0],
                                                    "sport": str(local[1]), "daddr": remote[0],
                                                    "dport": str(remote[1])})


def _diag(state: int, inode: int = 0) -> DiagSocket:
    return DiagSocket(2, state, 0, 0, "127.0.0.1", 1, "127.0.0.2", 2, 0, 0, 0, 0, inode, 0)


def test_a_timewait_hand_over_is_read_with_sock_diag() -> None:
    a, b = ("127.0.0.1", 1), ("127.0.0.2", 2)
    views = {"A": SideView("A", a, b, state="FIN_WAIT_1", connection=True), "B": SideView("B", b, a)}
    rec = Reconciler(views, tracing=True)
    events = rec.step([(1, _trace("TCP_FIN_WAIT1", "TCP_FIN_WAIT2", a, b)),
                       (2, _trace("TCP_FIN_WAIT2", "TCP_CLOSE", a, b))], {"A": _diag(6), "B": None}, None, 3)
    assert [(e.old, e.new, e.source) for e in events] == [("FIN_WAIT_1", "FIN_WAIT_2", "trace"),
                                                          ("FIN_WAIT_2", "TIME_WAIT", "trace")]
    assert "timewait_minisocket" in events[1].detail
    # The orphan's FIN_WAIT_2 mini socket: the CLOSE is no change at all.
    views["A"].state = "FIN_WAIT_1"
    events = rec.step([(4, _trace("TCP_FIN_WAIT1", "TCP_FIN_WAIT2", a, b)),
                       (5, _trace("TCP_FIN_WAIT2", "TCP_CLOSE", a, b))], {"A": _diag(5), "B": None}, None, 6)
    assert [(e.old, e.new) for e in events] == [("FIN_WAIT_1", "FIN_WAIT_2")]
    # Its later FIN: only sock_diag sees FIN_WAIT_2 -> TIME_WAIT.
    events = rec.step([], {"A": _diag(6), "B": None}, None, 7)
    assert [(e.old, e.new, e.source, e.detail) for e in events] == [
        ("FIN_WAIT_2", "TIME_WAIT", "sock_diag", "timewait_minisocket")]


def test_a_request_socket_is_syn_rcvd_while_its_listener_lives() -> None:
    a, b = ("127.0.0.1", 1), ("127.0.0.2", 2)
    views = {"A": SideView("A", a, b), "B": SideView("B", b, a)}
    rec = Reconciler(views, tracing=True)
    events = rec.step([(1, _trace("TCP_CLOSE", "TCP_LISTEN", b, ("0.0.0.0", 0)))], {"A": None, "B": None}, None, 2)
    assert [(e.side, e.new) for e in events] == [("B", "LISTEN")]
    events = rec.step([], {"A": None, "B": _diag(3)}, None, 3)  # inet_diag: SYN_RECV, no inode
    assert [(e.new, e.source) for e in events] == [("SYN_RCVD", "sock_diag")]
    events = rec.step([(4, _trace("TCP_LISTEN", "TCP_CLOSE", b, ("0.0.0.0", 0)))], {"A": None, "B": _diag(3)},
                      None, 5)
    assert [(e.old, e.new, e.detail) for e in events] == [("SYN_RCVD", "CLOSED", "orphaned_request_socket")]


def test_trace_lines_parse() -> None:
    line = ("          python3-25906   [001] ..s2.  7710.213442: inet_sock_set_state: family=AF_INET "
            "protocol=IPPROTO_TCP sport=40002 dport=40001 saddr=127.1.2.4 daddr=127.1.2.3 saddrv6=::ffff:127.1.2.4 "
            "daddrv6=::ffff:127.1.2.3 oldstate=TCP_LISTEN newstate=TCP_SYN_RECV")
    e = parse_line(line)
    assert e is not None and e.ns == 7710_213442_000 and e.cpu == 1
    assert (e.old, e.new, e.local, e.remote) == (10, 3, ("127.1.2.4", 40002), ("127.1.2.3", 40001))
    assert e.describe() == "LISTEN -> SYN_RCVD"
    marker = parse_line(" python-3-1 [000] ..... 12.000001: tracing_mark_write: tcpcheck 7")
    assert marker is not None and marker.is_marker and marker.text == "tcpcheck 7"
    assert parse_line("# tracer: nop") is None
