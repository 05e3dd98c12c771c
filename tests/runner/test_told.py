"""What the user is told (issue 15, item 3): after every transition that
signals the user (RFC 9293 §3.10: reset, refused, closing, timeout), the
runner makes the socket call the Linux profile maps the signal to and
judges its errno or return value; after every transition into a state
where the RFC answers a SEND or a CLOSE with an error (the spec's
[[response]]: "connection closing", "connection does not exist") it makes
a send() of no bytes and a second shutdown(SHUT_WR) and judges those; a
wrong expectation fails the step."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from tcpcheck.model.errors import InputError
from tcpcheck.model.spec import load_spec
from tcpcheck.tools.runner.execute import ScenarioResult, StepResult, execute
from tcpcheck.tools.runner.harness import Harness
from tcpcheck.tools.runner.profile import Profile, Told, load_profile, profile_path
from tcpcheck.tools.runner.suite import default_suite

SUITE = {s.name: s for s in default_suite()}


@pytest.fixture(scope="module")
def profile() -> Profile:
    spec = load_spec()
    return load_profile(known_transitions={t.id for t in spec.transitions}, known_signals=spec.told_calls)


def _told(result: ScenarioResult) -> list[StepResult]:
    return [s for s in result.steps if s.step.startswith("told ")]


def _mapped(profile: Profile, signal: str, result: str) -> Profile:
    told = dataclasses.replace(profile.signals[signal], result=result)
    return dataclasses.replace(profile, signals={**profile.signals, signal: told})


def _without(profile: Profile, ident: str) -> Profile:
    return dataclasses.replace(profile, deviations=tuple(d for d in profile.deviations if d.id != ident))


def test_every_spec_signal_and_response_is_mapped(profile: Profile) -> None:
    assert set(profile.signals) == set(load_spec().told_calls)
    assert all(isinstance(t, Told) and t.reference for t in profile.signals.values())


@pytest.mark.parametrize(("name", "call", "answer"), [
    ("rst_in_established", "recv", "ECONNRESET"),
    ("rst_in_fin_wait_1_told", "recv", "ECONNRESET"),
    ("rst_in_fin_wait_2_told", "recv", "ECONNRESET"),
    ("passive_close", "recv", "EOF"),
    ("close_wait_fin_again", "recv", "EOF"),
    ("no_time_wait_old_segments_accepted", "recv", "EOF"),  # EOF behind queued data, nothing consumed
])
def test_the_user_is_told_as_the_profile_says(name: str, call: str, answer: str, tcp_harness: Harness,
                                              profile: Profile) -> None:
    result = execute(tcp_harness, SUITE[name], profile)
    told = [s for s in _told(result) if s.step.startswith(f"told {call}:")]  # send and close have their own test
    assert result.verdict == "pass" and told, result.to_json()
    assert all(s.verdict == "pass" and s.note.startswith(f"{call} says {answer};") for s in told)


def _answers(result: ScenarioResult) -> list[tuple[str, str]]:
    """(what was asked, what the call said) for every told step."""
    return [(s.step.split(": ", 1)[1], s.note.split(";", 1)[0].split(" says ", 1)[1]) for s in _told(result)]


@pytest.mark.parametrize(("name", "answers"), [
    # shutdown_wr: FIN_WAIT_1 then FIN_WAIT_2 (send: EPIPE, a second CLOSE: ok), then a RST
    ("rst_in_fin_wait_2_told", [("send_closing", "EPIPE"), ("close_closing", "ok")] * 2 + [
        ("reset", "ECONNRESET"), ("send_does_not_exist", "EPIPE"), ("close_does_not_exist", "ENOTCONN")]),
    # TIME_WAIT with the descriptor kept: its socket is CLOSE, the timewait socket holds the connection
    ("abort_in_time_wait", [("send_closing", "EPIPE"), ("close_closing", "ok")] * 2 + [
        ("closing", "EOF"), ("send_closing", "EPIPE"), ("close_closing_again", "ENOTCONN")]),
    ("syn_sent_timeout", [("timeout", "ETIMEDOUT"), ("send_does_not_exist", "EPIPE"),
                          ("close_does_not_exist", "ENOTCONN")]),
])
def test_send_and_close_are_answered_as_the_profile_says(name: str, answers: list[tuple[str, str]],
                                                         tcp_harness: Harness, profile: Profile) -> None:
    """What Linux answers a SEND and a CLOSE where the RFC says 'connection
    closing' or 'connection does not exist', in order, each step passing."""
    result = execute(tcp_harness, SUITE[name], profile)
    assert result.verdict != "fail", result.to_json()  # abort_in_time_wait: time_wait_outlives_the_descriptor
    assert _answers(result) == answers
    assert all(s.verdict == "pass" for s in _told(result))


def test_a_wrong_send_or_close_expectation_fails_the_step(tcp_harness: Harness, profile: Profile) -> None:
    """SEND in FIN_WAIT_1 mapped to ECONNRESET (Linux says EPIPE) fails the
    probe, and nothing after it runs; a CLOSE in CLOSED mapped to ok (Linux
    says ENOTCONN) fails likewise."""
    result = execute(tcp_harness, SUITE["rst_in_fin_wait_1_told"], _mapped(profile, "send_closing", "ECONNRESET"))
    assert result.verdict == "fail"
    assert [(s.step, s.expected, s.observed) for s in result.steps if s.verdict == "fail"] == \
        [("told send: send_closing", "told ECONNRESET", "told EPIPE")]
    assert result.steps[-1].verdict == "skipped" and "inject RST" in [s.step for s in result.steps
                                                                        if s.verdict == "skipped"]
    closed = execute(tcp_harness, SUITE["rst_in_established"], _mapped(profile, "close_does_not_exist", "ok"))
    assert [(s.step, s.observed) for s in closed.steps if s.verdict == "fail"] == \
        [("told shutdown_wr: close_does_not_exist", "told ENOTCONN")]


def test_a_wrong_errno_expectation_fails_the_step(tcp_harness: Harness, profile: Profile) -> None:
    """The same scenario with reset mapped to ECONNABORTED: the told step
    fails, says what recv said, and the steps after it are not run."""
    result = execute(tcp_harness, SUITE["rst_in_established"], _mapped(profile, "reset", "ECONNABORTED"))
    assert result.verdict == "fail"
    failed = [s for s in result.steps if s.verdict == "fail"]
    assert [(s.step, s.expected, s.observed) for s in failed] == \
        [("told recv: reset", "told ECONNABORTED", "told ECONNRESET")]
    wrong_eof = execute(tcp_harness, SUITE["passive_close"], _mapped(profile, "closing", "EAGAIN"))
    assert wrong_eof.verdict == "fail"
    assert [s.observed for s in wrong_eof.steps if s.verdict == "fail"] == ["told EOF"]
    assert wrong_eof.steps[-1].verdict == "skipped"  # CLOSE_WAIT--close-->LAST_ACK... not run after it


@pytest.mark.parametrize(("name", "ident", "answer"), [
    ("simultaneous_open_rst", "simultaneous_open_rst_told_reset", "ECONNRESET"),
    ("syn_sent_rst_acceptable", "syn_sent_rst_told_refused", "ECONNREFUSED"),
    ("rst_in_close_wait", "close_wait_rst_told_eof", "EOF"),
    ("abort_in_closing", "close_again_in_closing_told_ok", "ok"),
    ("abort_in_last_ack", "close_again_in_last_ack_told_ok", "ok"),
])
def test_what_linux_tells_differently_is_a_documented_deviation(name: str, ident: str, answer: str,
                                                                tcp_harness: Harness, profile: Profile) -> None:
    """ECONNRESET for 'connection refused' in a simultaneous open (and the
    two others): a deviation with its reference while the entry holds, a
    failure without it or when its precondition does not hold."""
    documented = execute(tcp_harness, SUITE[name], profile)
    assert documented.verdict == "deviation" and documented.deviations == [ident]
    told = [s for s in _told(documented) if s.verdict != "pass"]  # rst_in_close_wait is told 'closing' first
    assert [(s.verdict, s.observed) for s in told] == [("deviation", f"told {answer}")]
    assert told[0].note.startswith(f"{told[0].step.split()[1].rstrip(':')} says {answer}; {ident}: RFC 9293")
    assert execute(tcp_harness, SUITE[name], _without(profile, ident)).verdict == "fail"


def test_a_told_deviation_out_of_its_scope_fails(tcp_harness: Harness, profile: Profile) -> None:
    entries = tuple(dataclasses.replace(d, after_calls=("listen",)) if d.id == "simultaneous_open_rst_told_reset"
                    else d for d in profile.deviations)
    result = execute(tcp_harness, SUITE["simultaneous_open_rst"], dataclasses.replace(profile, deviations=entries))
    assert result.verdict == "fail"


def test_an_orphan_tells_nobody(tcp_harness: Harness, profile: Profile) -> None:
    """After close() the reset in FIN_WAIT_1 has no user to tell: nothing is asked."""
    result = execute(tcp_harness, SUITE["rst_in_fin_wait_1"], profile)
    assert result.verdict == "pass" and not _told(result)


@pytest.mark.parametrize(("row", "message"), [
    ('signal = "hangup"\ncall = "recv"\nresult = "EOF"\nreference = "x"', "unknown signal 'hangup'"),
    ('signal = "reset"\ncall = "send"\nresult = "EPIPE"\nreference = "x"', "call 'send': use one of recv, connect"),
    ('signal = "send_closing"\ncall = "recv"\nresult = "EOF"\nreference = "x"', "call 'recv': use one of send"),
    ('signal = "close_closing"\ncall = "close"\nresult = "ok"\nreference = "x"',
     "call 'close': use one of shutdown_wr"),
    ('signal = "reset"\ncall = "recv"\nresult = "reset!"\nreference = "x"', "result 'reset!'"),
    ('signal = "reset"\ncall = "recv"\nresult = "ECONNRESET"', "missing 'reference'"),
    ('signal = "reset"\ncall = "recv"\nresult = "ECONNRESET"\nreference = "x"\nerrno = 1', "unknown field 'errno'"),
])
def test_bad_signal_entries_are_one_located_error(row: str, message: str, tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text(f'[profile]\nname = "p"\nstack = "s"\n\n[[signal]]\n{row}\n')
    with pytest.raises(InputError) as err:
        load_profile(path, known_signals=load_spec().told_calls)
    assert message in str(err.value) and "[[signal]] #1" in str(err.value)


def test_the_shipped_profile_loads_with_its_signals() -> None:
    spec = load_spec()
    shipped = load_profile(profile_path("linux"), {t.id for t in spec.transitions}, spec.told_calls)
    assert shipped.signals["refused"].call == "connect" and shipped.signals["closing"].result == "EOF"


@pytest.mark.parametrize(("row", "message"), [
    ('kind = "told"\nexpected = "FIN"\nobserved = "told EOF"', "is a kind = \"told\" entry, and only that"),
    ('expected = "told ECONNRESET"\nobserved = "told EOF"', "is a kind = \"told\" entry, and only that"),
    ('state = "CLOSING"\nexpected = "FIN"\nobserved = "RST"', "only a 'told' entry names a state"),
    ('kind = "told"\nstate = "CLOSING"\ntransition = "FIN_WAIT_1--FIN-->CLOSING"\nexpected = "told ENOTCONN"\n'
     'observed = "told ok"', "and then no transition"),
    ('kind = "told"\nstate = "CLOSED_WAIT"\nexpected = "told ENOTCONN"\nobserved = "told ok"',
     "state 'CLOSED_WAIT': only a 'told' entry names a state (CLOSED, LISTEN"),
])
def test_told_entries_are_their_own_kind(row: str, message: str, tmp_path: Path) -> None:
    """A 'told' entry changes no state or segment, so the loopback generator
    keeps walking its transition; mixing it with a 'differs' one is refused."""
    path = tmp_path / "p.toml"
    path.write_text(f'[profile]\nname = "p"\nstack = "s"\n\n[[deviation]]\nid = "x"\nreference = "r"\n{row}\n')
    with pytest.raises(InputError) as err:
        load_profile(path)
    assert message in str(err.value)


def test_an_ok_close_that_sends_a_segment_fails(tcp_harness: Harness, profile: Profile,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """RFC 9293 §3.10.4 accepts "ok" for a CLOSE in FIN-WAIT-1 "as long as a
    second FIN is not emitted": after an ok answer the runner listens, and a
    segment then (here made up: Linux sends none) fails the probe."""
    from tcpcheck.tools.runner.harness import Conversation
    from tcpcheck.tools.runner.judge import Match
    from tcpcheck.tools.runner.stacks.linux import LinuxEndpoint

    real_told, real_expect = LinuxEndpoint.told, Conversation.expect
    answered: list[str] = []

    def told(self: LinuxEndpoint, call: str) -> str | None:
        answer = real_told(self, call)
        answered.append(f"{call} {answer}")
        return answer

    def expect(self: Conversation, segment: str) -> Match:
        if segment == "NONE" and answered and answered[-1] == "shutdown_wr ok":
            answered.append("listened")
            return Match(False, "FIN", "(made up by the test)")
        return real_expect(self, segment)

    scenario = SUITE["rst_in_fin_wait_1_told"]
    honest = execute(tcp_harness, scenario, profile)
    assert ("told shutdown_wr: close_closing", "pass") in [(s.step, s.verdict) for s in honest.steps]
    monkeypatch.setattr(LinuxEndpoint, "told", told)
    monkeypatch.setattr(Conversation, "expect", expect)
    result = execute(tcp_harness, scenario, profile)
    failed = [(s.step, s.expected, s.observed) for s in result.steps if s.verdict == "fail"]
    assert failed == [("told shutdown_wr: close_closing", "told ok, nothing sent", "told ok, sent FIN")]
    assert result.verdict == "fail" and "listened" in answered


def test_a_told_entry_keyed_by_state_covers_every_way_into_it(profile: Profile) -> None:
    """What a second CLOSE is answered depends on the state alone: one entry for
    CLOSING documents it after the crossing FINs and after the peer's FIN again,
    and for no transition into another state."""
    def found(transition: str) -> str:
        d = profile.find("told ENOTCONN", "told ok", (transition,), {}, ("connect", "shutdown_wr"))
        return d.id if d else ""

    assert profile.entry("close_again_in_closing_told_ok").state == "CLOSING"  # type: ignore[union-attr]
    assert found("FIN_WAIT_1--FIN-->CLOSING") == found("CLOSING--FIN-->CLOSING") == "close_again_in_closing_told_ok"
    assert found("LAST_ACK--FIN-->LAST_ACK") == "close_again_in_last_ack_told_ok"
    assert found("FIN_WAIT_1--ACK_OF_FIN-->FIN_WAIT_2") == ""
    assert profile.find("told ENOTCONN", "told ok", ("CLOSING--FIN-->CLOSING",), {}, ("connect",)) is None
