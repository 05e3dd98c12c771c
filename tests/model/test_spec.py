"""The embedded spec: what RFC 9293 says is there, and validation of bad specs."""

from __future__ import annotations

from pathlib import Path

import pytest

from tcpcheck.model import InputError, endpoint_graph, load_spec

# The table of issue 2 (RFC 9293 Figure 5, §3.10): (from, event, sends, to).
REQUIRED = (
    [
        ("CLOSED", "listen", (), "LISTEN"),
        ("CLOSED", "connect", ("SYN",), "SYN_SENT"),
        ("LISTEN", "SYN", ("SYN_ACK",), "SYN_RCVD"),
        ("LISTEN", "send", ("SYN",), "SYN_SENT"),
        ("LISTEN", "close", (), "CLOSED"),
        ("SYN_SENT", "SYN_ACK", ("ACK",), "ESTABLISHED"),
        ("SYN_SENT", "SYN", ("SYN_ACK",), "SYN_RCVD"),
        ("SYN_SENT", "close", (), "CLOSED"),
        ("SYN_SENT", "RST_ACK_OF_SYN", (), "CLOSED"),
        ("SYN_SENT", "timeout_syn", (), "CLOSED"),
        ("SYN_RCVD", "ACK_OF_SYN", (), "ESTABLISHED"),
        ("SYN_RCVD", "close", ("FIN",), "FIN_WAIT_1"),
        ("SYN_RCVD", "RST", (), "LISTEN"),
        ("SYN_RCVD", "RST", (), "CLOSED"),
        ("ESTABLISHED", "close", ("FIN",), "FIN_WAIT_1"),
        ("ESTABLISHED", "FIN", ("ACK",), "CLOSE_WAIT"),
        ("FIN_WAIT_1", "ACK_OF_FIN", (), "FIN_WAIT_2"),
        ("FIN_WAIT_1", "FIN", ("ACK",), "CLOSING"),
        ("FIN_WAIT_1", "FIN_ACK_OF_FIN", ("ACK",), "TIME_WAIT"),
        ("FIN_WAIT_2", "FIN", ("ACK",), "TIME_WAIT"),
        ("CLOSING", "ACK_OF_FIN", (), "TIME_WAIT"),
        ("CLOSE_WAIT", "close", ("FIN",), "LAST_ACK"),
        ("LAST_ACK", "ACK_OF_FIN", (), "CLOSED"),
        ("TIME_WAIT", "timeout_2msl", (), "CLOSED"),
        ("TIME_WAIT", "FIN", ("ACK",), "TIME_WAIT"),
    ]
    + [
        (s, "RST", (), "CLOSED")
        for s in ("ESTABLISHED", "FIN_WAIT_1", "FIN_WAIT_2", "CLOSE_WAIT", "CLOSING", "LAST_ACK", "TIME_WAIT")
    ]
    + [
        (s, "abort", ("RST",), to)
        for s in ("SYN_RCVD", "ESTABLISHED", "FIN_WAIT_1", "FIN_WAIT_2", "CLOSE_WAIT")
        for to in ("CLOSED", "TIME_WAIT")
    ]
)


def test_eleven_states(spec) -> None:  # type: ignore[no-untyped-def]
    assert spec.state_names == (
        "CLOSED",
        "LISTEN",
        "SYN_SENT",
        "SYN_RCVD",
        "ESTABLISHED",
        "FIN_WAIT_1",
        "FIN_WAIT_2",
        "CLOSE_WAIT",
        "CLOSING",
        "LAST_ACK",
        "TIME_WAIT",
    )


@pytest.mark.parametrize("row", REQUIRED, ids=lambda r: f"{r[0]}-{r[1]}-{r[3]}")
def test_required_transition_present(spec, row) -> None:  # type: ignore[no-untyped-def]
    src, event, sends, dst = row
    found = [t for t in spec.transitions if (t.source, t.event, t.sends, t.target) == (src, event, sends, dst)]
    assert found, f"missing {src} --{event}/{sends}--> {dst}"
    for t in found:
        assert t.rfc and t.path in ("client", "server", "simultaneous", "error", "implementation")


def test_note1_guards_and_note3_option(spec) -> None:  # type: ignore[no-untyped-def]
    rst = {t.target: t.when for t in spec.transitions if (t.source, t.event) == ("SYN_RCVD", "RST")}
    assert rst == {"LISTEN": "self.passive", "CLOSED": "not self.passive"}
    note3 = [t for t in spec.transitions if t.target == "TIME_WAIT" and t.event == "abort"]
    assert note3 and all(t.option == "note3" for t in note3)
    assert spec.options["note3"] is True


def test_implementation_transitions_only_with_option(spec) -> None:  # type: ignore[no-untyped-def]
    impl = [t for t in spec.transitions if t.path == "implementation"]
    assert {(t.source, t.event) for t in impl} == {("FIN_WAIT_2", "timeout_fin_wait_2"), ("TIME_WAIT", "SYN")}
    rfc_graph = endpoint_graph(spec)
    assert not any(d["path"] == "implementation" for _, _, d in rfc_graph.edges(data=True))
    full = endpoint_graph(spec, {"implementation": True})
    assert full.number_of_edges() == rfc_graph.number_of_edges() + len(impl)


def test_graph_edges_carry_label_data(spec) -> None:  # type: ignore[no-untyped-def]
    g = endpoint_graph(spec)
    assert g.number_of_nodes() == 11
    data = g.get_edge_data("FIN_WAIT_2", "TIME_WAIT")
    assert set(data) == {"FIN_WAIT_2--FIN-->TIME_WAIT", "FIN_WAIT_2--abort(note3)-->TIME_WAIT"}
    attrs = data["FIN_WAIT_2--FIN-->TIME_WAIT"]
    assert attrs["kind"] == "rcv" and attrs["sends"] == ("ACK",) and "RFC 9293" in attrs["rfc"]


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "bad.toml"
    p.write_text(text)
    return p


BASE = Path(__file__).resolve().parents[2] / "specs" / "tcp.toml"


@pytest.mark.parametrize(
    "edit, message, line_of",
    [
        (('to = "LISTEN"\npath = "server"', 'to = "LISTN"\npath = "server"'), "unknown state 'LISTN'", 'to = "LISTN"'),
        (('event = "listen"', 'event = "listne"'), "unknown event 'listne'", 'event = "listne"'),
        (('sends = ["SYN"]', 'sends = ["SYNN"]'), "unknown segment 'SYNN'", 'sends = ["SYNN"]'),
        (('path = "server"', 'path = "sideways"'), "unknown path 'sideways'", 'path = "sideways"'),
        (('when = "self.passive"', 'when = "self.pasive"'), "not a history variable", 'when = "self.pasive"'),
        (('when = "self.passive"', 'when = "self.passive and"'), "column", 'when = "self.passive and"'),
    ],
)
def test_bad_spec_names_file_line_and_field(tmp_path: Path, edit, message: str, line_of: str) -> None:  # type: ignore[no-untyped-def]
    old, new = edit
    text = BASE.read_text().replace(old, new, 1)
    p = write(tmp_path, text)
    with pytest.raises(InputError) as info:
        load_spec(p)
    err = str(info.value)
    assert message in err
    expected_line = text.splitlines().index(next(ln for ln in text.splitlines() if ln.startswith(line_of))) + 1
    assert err.startswith(f"{p}:{expected_line}:"), err
    assert "\n" not in err


def test_duplicate_and_conflicting_transitions(tmp_path: Path) -> None:
    extra = '\n[[transition]]\nfrom = "CLOSED"\nevent = "listen"\nto = "LISTEN"\npath = "server"\nrfc = "x"\n'
    with pytest.raises(InputError, match="duplicates the transition at line"):
        load_spec(write(tmp_path, BASE.read_text() + extra))
    conflict = extra.replace('to = "LISTEN"', 'to = "SYN_SENT"')
    with pytest.raises(InputError, match="conflicts with the transition at line"):
        load_spec(write(tmp_path, BASE.read_text() + conflict))


def test_malformed_toml_reports_line(tmp_path: Path) -> None:
    p = write(tmp_path, '[machine]\nname = "x"\n[[state]]\nname = \n')
    with pytest.raises(InputError) as info:
        load_spec(p)
    assert str(info.value).startswith(f"{p}:4: malformed TOML")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        load_spec(tmp_path / "nope.toml")


def test_mutant_file_applies_changes() -> None:
    mutant = load_spec(Path(__file__).resolve().parents[1] / "mutants" / "close_wait_close_to_time_wait.toml")
    base = load_spec()
    changed = [
        (a.id, b.id) for a, b in zip(base.transitions, mutant.transitions, strict=True) if a != b and a.id != b.id
    ]
    assert changed == [("CLOSE_WAIT--close-->LAST_ACK", "CLOSE_WAIT--close-->TIME_WAIT")]


def test_mutant_naming_unknown_transition(tmp_path: Path) -> None:
    p = tmp_path / "m.toml"
    p.write_text(
        '[mutant]\nbase = "embedded"\n\n[[mutant.change]]\ntransition = "CLOSED--fly-->LISTEN"\nto = "CLOSED"\n'
    )
    with pytest.raises(InputError) as info:
        load_spec(p)
    assert str(info.value).startswith(f"{p}:4: [[mutant.change]] #1: no transition 'CLOSED--fly-->LISTEN'")


def test_signals_are_the_rfc_texts_and_transitions_name_declared_ones(spec, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert {s.text for s in spec.signals.values()} == {
        "connection closing", "connection reset", "connection refused", "connection aborted due to user timeout"}
    told = {t.id: t.signal for t in spec.transitions if t.signal}
    assert told["SYN_RCVD--RST[not self.passive]-->CLOSED"] == "refused"
    assert told["ESTABLISHED--FIN-->CLOSE_WAIT"] == "closing" and told["CLOSE_WAIT--RST-->CLOSED"] == "reset"
    assert "CLOSING--RST-->CLOSED" not in told  # RFC 9293: enter CLOSED, no signal
    text = BASE.read_text().replace('signal = "refused"', 'signal = "refusd"', 1)
    with pytest.raises(InputError, match="unknown signal 'refusd'"):
        load_spec(write(tmp_path, text))


def test_retransmission_queue_holds_segments_with_syn_or_fin(spec, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert [r.segment for r in spec.retransmits] == ["SYN", "SYN_ACK", "FIN"]
    text = BASE.read_text().replace('segment = "FIN"\nrfc', 'segment = "ACK"\nrfc', 1)
    with pytest.raises(InputError, match="carries neither SYN nor FIN"):
        load_spec(write(tmp_path, text))


def test_only_the_reopening_transition_starts_a_new_connection(spec) -> None:  # type: ignore[no-untyped-def]
    assert [t.id for t in spec.transitions if t.new_connection] == ["TIME_WAIT--SYN(implementation)-->SYN_RCVD"]


def test_mutant_can_add_a_transition(tmp_path: Path) -> None:
    mutant = load_spec(Path(__file__).resolve().parents[1] / "mutants" / "listen_rst_to_closed.toml")
    assert len(mutant.transitions) == len(load_spec().transitions) + 1
    assert mutant.transitions[-1].id == "LISTEN--RST-->CLOSED"
    p = tmp_path / "m.toml"
    p.write_text('[mutant]\nbase = "embedded"\n\n[[mutant.add]]\nfrom = "LISTEN"\nevent = "RST"\nto = "NOWHERE"\n'
                 'path = "error"\nrfc = "x"\n')
    with pytest.raises(InputError, match="unknown state 'NOWHERE'"):
        load_spec(p)


def test_responses_are_the_rfc_answers_to_send_and_close(spec, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """[[response]]: what RFC 9293 §3.10.2 and §3.10.4 answer a SEND or CLOSE
    once the connection is closing or gone; a bad row is one located error."""
    closing = spec.responses["send_closing"]
    assert (closing.call, closing.text) == ("send", "connection closing")
    assert set(closing.states) == {"FIN_WAIT_1", "FIN_WAIT_2", "CLOSING", "LAST_ACK", "TIME_WAIT"}
    assert spec.responses["close_closing"].ok and not spec.responses["close_closing_again"].ok
    assert spec.told_calls["send_does_not_exist"] == "send" and spec.told_calls["reset"] == ""
    for old, new, message in (('call = "send"', 'call = "write"', "'write': use one of send, close"),
                              ('states = ["CLOSED"]', 'states = ["CLOSD"]', "unknown state 'CLOSD'"),
                              ('name = "send_closing"', 'name = "reset"', "'reset' is already a signal")):
        with pytest.raises(InputError, match=message) as info:
            load_spec(write(tmp_path, BASE.read_text().replace(old, new, 1)))
        assert "[[response]]" in str(info.value)
