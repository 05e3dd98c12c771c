"""The project's own suite: hand-written scenarios for every transition of
the RFC machine that Linux can be driven through (and a few negative
checks that cover no transition). Each names the spec transition ids it
covers; the generator's suites use the same ``Scenario`` form.
"""

from __future__ import annotations

import dataclasses
from functools import cache
from pathlib import Path

from tcpcheck.model.spec import embedded_spec
from tcpcheck.tools.scenario import (
    Call,
    Connection,
    Elapse,
    Expect,
    ExpectState,
    ExpectStates,
    Inject,
    Scenario,
    Step,
    load_scenarios,
)


def _c(op: str, arg: str = "") -> Call:
    return Call(op, arg)


def _i(segment: str, variant: str = "") -> Inject:
    return Inject(segment, variant)


def _e(segment: str) -> Expect:
    return Expect(segment)


def _s(state: str) -> ExpectState:
    return ExpectState(state)


# Prefixes: how each state is reached, observed at every step.
ACTIVE_OPEN: tuple[Step, ...] = (
    _s("CLOSED"), _c("connect"), _e("SYN"), _s("SYN_SENT"), _i("SYN_ACK"), _e("ACK"), _s("ESTABLISHED"),
)
PASSIVE_OPEN: tuple[Step, ...] = (
    _s("CLOSED"), _c("listen"), _s("LISTEN"), _i("SYN"), _e("SYN_ACK"), _s("SYN_RCVD"),
    _i("ACK"), _e("NONE"), _s("ESTABLISHED"), _c("accept"), _s("ESTABLISHED"),
)
SIMULTANEOUS_OPEN: tuple[Step, ...] = (
    _s("CLOSED"), _c("connect"), _e("SYN"), _s("SYN_SENT"), _i("SYN"), _e("SYN_ACK"), _s("SYN_RCVD"),
)
# The half-close keeps the descriptor, so the application can still abort.
FIN_WAIT_1_FD = ACTIVE_OPEN + (_c("shutdown_wr"), _e("FIN"), _s("FIN_WAIT_1"))
FIN_WAIT_2_FD = FIN_WAIT_1_FD + (_i("ACK_OF_FIN"), _e("NONE"), _s("FIN_WAIT_2"))
FIN_WAIT_1 = ACTIVE_OPEN + (_c("close"), _e("FIN"), _s("FIN_WAIT_1"))
FIN_WAIT_2 = FIN_WAIT_1 + (_i("ACK_OF_FIN"), _e("NONE"), _s("FIN_WAIT_2"))
TIME_WAIT = FIN_WAIT_2 + (_i("FIN"), _e("ACK"), _s("TIME_WAIT"))
TIME_WAIT_FD = FIN_WAIT_2_FD + (_i("FIN"), _e("ACK"), _s("TIME_WAIT"))
CLOSING = FIN_WAIT_1 + (_i("FIN"), _e("ACK"), _s("CLOSING"))
CLOSING_FD = FIN_WAIT_1_FD + (_i("FIN"), _e("ACK"), _s("CLOSING"))
CLOSE_WAIT = PASSIVE_OPEN + (_i("FIN"), _e("ACK"), _s("CLOSE_WAIT"))
LAST_ACK = CLOSE_WAIT + (_c("close"), _e("FIN"), _s("LAST_ACK"))
LAST_ACK_FD = CLOSE_WAIT + (_c("shutdown_wr"), _e("FIN"), _s("LAST_ACK"))
# Why TIME_WAIT, reason 2: an incarnation that leaves old segments behind
# (the peer's DATA and FIN) and ends with the stack as the active closer.
OLD_INCARNATION = PASSIVE_OPEN + (_i("DATA"), _e("ACK"), _c("recv"), _c("close"), _e("FIN"), _s("FIN_WAIT_1"),
                                  _i("FIN_ACK_OF_FIN"), _e("ACK"))
# The peer reopens the 4-tuple with the old ISN: the old segments fall into
# the new window (peer.py, OLD_WINDOW).
REOPEN_IN_OLD_WINDOW = (_i("SYN", "old_window"), _e("SYN_ACK"), _s("SYN_RCVD"), _i("ACK"), _e("NONE"),
                        _s("ESTABLISHED"), _c("accept"))

# The peer reopens the 4-tuple above the old sequence space (RFC 6191).
REOPEN_ABOVE = (_i("SYN"), _e("SYN_ACK"), _s("SYN_RCVD"), _i("ACK"), _e("NONE"), _s("ESTABLISHED"), _c("accept"))

EST = "ESTABLISHED"


def _scn(name: str, steps: tuple[Step, ...], transitions: tuple[str, ...] = (), description: str = "",
         sysctls: dict[str, str] | None = None, slow: bool = False, rfc: tuple[str, ...] = (),
         timestamps: bool = False) -> Scenario:
    settings = dict(sysctls or {})
    if timestamps:
        # The peer offers RFC 7323's option; what the scenario checks (PAWS, a newer TSval)
        # needs the stack to take it up, which a stack built without it (lwIP) never does.
        settings["tcp_timestamps"] = "1"
    return Scenario(name, steps, transitions, rfc, description, settings, slow, timestamps=timestamps)


def _rst_in(state: str, prefix: tuple[Step, ...], suffix: str = "", how: str = "") -> Scenario:
    return _scn(f"rst_in_{state.lower()}{suffix}", prefix + (_i("RST"), _e("NONE"), _s("CLOSED")),
                (f"{state}--RST-->CLOSED",), f"an acceptable RST (SEQ = RCV.NXT) in {state}{how}")


def _abort_in(state: str, prefix: tuple[Step, ...], sends: str) -> Scenario:
    return _scn(f"abort_in_{state.lower()}", prefix + (_c("abort"), _e(sends), _s("CLOSED")),
                (f"{state}--abort-->CLOSED",), f"ABORT (SO_LINGER 0 + close) in {state}")


def _build() -> tuple[Scenario, ...]:
    o = (
        _scn("passive_open", PASSIVE_OPEN,
             ("CLOSED--listen-->LISTEN", "LISTEN--SYN-->SYN_RCVD", "SYN_RCVD--ACK_OF_SYN-->ESTABLISHED"),
             "three-way handshake, the stack passive"),
        _scn("active_open", ACTIVE_OPEN,
             ("CLOSED--connect-->SYN_SENT", "SYN_SENT--SYN_ACK-->ESTABLISHED"),
             "three-way handshake, the stack active"),
        _scn("simultaneous_open", SIMULTANEOUS_OPEN + (_i("ACK"), _e("NONE"), _s(EST)),
             ("SYN_SENT--SYN-->SYN_RCVD", "SYN_RCVD--ACK_OF_SYN-->ESTABLISHED"),
             "both sides send a SYN (RFC 9293 Figure 8)"),
        _scn("syn_ack_again_in_established", ACTIVE_OPEN + (_i("SYN_ACK"), _e("ACK"), _s(EST)),
             ("ESTABLISHED--SYN_ACK-->ESTABLISHED",), "the peer retransmits its SYN,ACK: our ACK was lost"),
        _scn("listen_close", (_c("listen"), _s("LISTEN"), _c("close"), _e("NONE"), _s("CLOSED")),
             ("LISTEN--close-->CLOSED",)),
        _scn("listen_abort", (_c("listen"), _s("LISTEN"), _c("abort"), _e("NONE"), _s("CLOSED")),
             ("LISTEN--abort-->CLOSED",)),
        _scn("listen_ack_is_reset", (_c("listen"), _s("LISTEN"), _i("ACK"), _e("RST"), _s("LISTEN")),
             ("LISTEN--ACK-->LISTEN",), "any acknowledgment is bad in LISTEN"),
        _scn("listen_rst_ignored", (_c("listen"), _s("LISTEN"), _i("RST"), _e("NONE"), _s("LISTEN")), (),
             "a RST in LISTEN is ignored (RFC 9293 §3.10.7.2)", rfc=("RFC 9293 §3.10.7.2",)),
        _scn("closed_port_rst_ignored", (_i("RST"), _e("NONE"), _s("CLOSED")), (),
             "a RST to a closed port is discarded (RFC 9293 §3.10.7.1)", rfc=("RFC 9293 §3.10.7.1",)),
        _scn("syn_sent_close", (_c("connect"), _e("SYN"), _s("SYN_SENT"), _c("close"), _e("NONE"), _s("CLOSED")),
             ("SYN_SENT--close-->CLOSED",)),
        _scn("syn_sent_abort", (_c("connect"), _e("SYN"), _s("SYN_SENT"), _c("abort"), _e("NONE"), _s("CLOSED")),
             ("SYN_SENT--abort-->CLOSED",)),
        _scn("syn_sent_rst_acceptable",
             (_c("connect"), _e("SYN"), _s("SYN_SENT"), _i("RST_ACK"), _e("NONE"), _s("CLOSED")),
             ("SYN_SENT--RST_ACK_OF_SYN-->CLOSED",), "a RST whose ACK acknowledges the SYN"),
        _scn("syn_sent_rst_bad_ack",
             (_c("connect"), _e("SYN"), _s("SYN_SENT"), _i("RST_ACK", "bad_ack"), _e("NONE"), _s("SYN_SENT")),
             (), "a RST whose ACK does not acknowledge the SYN is dropped (RFC 9293 §3.10.7.3)",
             rfc=("RFC 9293 §3.10.7.3",)),
        _scn("syn_sent_timeout",
             (_c("connect"), _e("SYN"), _s("SYN_SENT"), _e("NONE"), _elapse("timeout_syn"), _s("CLOSED")),
             ("SYN_SENT--timeout_syn-->CLOSED",), "SYN retransmissions exhausted (TCP_SYNCNT, TCP_USER_TIMEOUT)"),
        _scn("simultaneous_open_close", SIMULTANEOUS_OPEN + (_c("close"), _e("FIN"), _s("FIN_WAIT_1")),
             ("SYN_RCVD--close-->FIN_WAIT_1",), "CLOSE in SYN_RCVD after an active OPEN"),
        _scn("simultaneous_open_rst", SIMULTANEOUS_OPEN + (_i("RST"), _e("NONE"), _s("CLOSED")),
             ("SYN_RCVD--RST[not self.passive]-->CLOSED",), "connection refused after an active OPEN"),
        _scn("simultaneous_open_abort", SIMULTANEOUS_OPEN + (_c("abort"), _e("RST"), _s("CLOSED")),
             ("SYN_RCVD--abort-->CLOSED",)),
        _scn("passive_syn_rcvd_rst", PASSIVE_OPEN[:6] + (_i("RST"), _e("NONE"), _s("LISTEN")),
             ("SYN_RCVD--RST[self.passive]-->LISTEN",), "RFC 9293 Figure 5 Note 1: back to LISTEN"),
        _scn("passive_syn_rcvd_rst_in_window", PASSIVE_OPEN[:6] + (_i("RST", "in_window"), _e("ACK"),
                                                                   _s("SYN_RCVD")),
             (), "an in-window RST that is not at RCV.NXT gets a challenge ACK (RFC 9293 §3.10.7.4, RFC 5961 §3.2)",
             rfc=("RFC 9293 §3.10.7.4", "RFC 5961 §3.2")),
        _scn("passive_syn_rcvd_close", PASSIVE_OPEN[:6] + (_c("close"), _e("FIN"), _s("FIN_WAIT_1")),
             ("SYN_RCVD--close-->FIN_WAIT_1",), "CLOSE in SYN_RCVD after a passive OPEN"),
        _scn("active_close", FIN_WAIT_2 + (_i("FIN"), _e("ACK"), _s("TIME_WAIT")),
             ("ESTABLISHED--close-->FIN_WAIT_1", "FIN_WAIT_1--ACK_OF_FIN-->FIN_WAIT_2", "FIN_WAIT_2--FIN-->TIME_WAIT"),
             "the stack closes first, through FIN_WAIT_2"),
        _scn("fin_wait_1_fin_ack", FIN_WAIT_1 + (_i("FIN_ACK_OF_FIN"), _e("ACK"), _s("TIME_WAIT")),
             ("FIN_WAIT_1--FIN_ACK_OF_FIN-->TIME_WAIT",), "the peer's FIN acknowledges ours (Note 2)"),
        _scn("simultaneous_close", CLOSING + (_i("ACK_OF_FIN"), _e("NONE"), _s("TIME_WAIT")),
             ("FIN_WAIT_1--FIN-->CLOSING", "CLOSING--ACK_OF_FIN-->TIME_WAIT"),
             "both FINs cross (RFC 9293 Figure 13)"),
        _scn("closing_fin_again", CLOSING + (_i("FIN"), _e("ACK"), _s("CLOSING")), ("CLOSING--FIN-->CLOSING",),
             "a retransmitted FIN in CLOSING is acknowledged again"),
        _scn("passive_close", LAST_ACK + (_i("ACK_OF_FIN"), _e("NONE"), _s("CLOSED")),
             ("ESTABLISHED--FIN-->CLOSE_WAIT", "CLOSE_WAIT--close-->LAST_ACK", "LAST_ACK--ACK_OF_FIN-->CLOSED"),
             "the peer closes first, through LAST_ACK"),
        _scn("close_wait_fin_again", CLOSE_WAIT + (_i("FIN"), _e("ACK"), _s("CLOSE_WAIT")),
             ("CLOSE_WAIT--FIN-->CLOSE_WAIT",)),
        _scn("last_ack_fin_again", LAST_ACK + (_i("FIN"), _e("ACK"), _s("LAST_ACK")), ("LAST_ACK--FIN-->LAST_ACK",)),
        _scn("time_wait_fin_again", TIME_WAIT + (_i("FIN"), _e("ACK"), _s("TIME_WAIT")),
             ("TIME_WAIT--FIN-->TIME_WAIT",), "a retransmitted FIN is re-acknowledged in TIME_WAIT"),
        # Why TIME_WAIT, reason 1 (docs/time_wait.md): the same retransmitted FIN
        # when Linux keeps no TIME_WAIT (no bucket for it in this namespace)
        # meets a closed port and draws a RST: the model's counterexample for
        # passive_closer_not_reset, on a real kernel.
        # (shutdown_wr keeps the descriptor: an orphaned FIN_WAIT_2 would take a
        # timewait bucket too, and be dropped at once as well)
        # The state is not checked between the two FINs: the runner stops at a
        # step that leaves the model's path, and the RST is what is to be seen.
        _scn("no_time_wait_fin_again", FIN_WAIT_2_FD + (_i("FIN"), _e("ACK"), _i("FIN"), _e("ACK"), _s("TIME_WAIT")),
             ("FIN_WAIT_2--FIN-->TIME_WAIT", "TIME_WAIT--FIN-->TIME_WAIT"),
             "with tcp_max_tw_buckets=0 Linux skips TIME_WAIT: the retransmitted FIN gets a RST",
             {"tcp_max_tw_buckets": "0"}),
        # Why TIME_WAIT, reason 2 (docs/time_wait.md): the peer reopens the
        # 4-tuple with its old ISN, so that the old incarnation's segments
        # would fall into the new window. TIME_WAIT refuses that SYN (it is
        # not above the old sequence space, RFC 6191); with no TIME_WAIT the
        # new connection opens and takes the old data and FIN for its own.
        _scn("time_wait_refuses_old_window_syn",
             OLD_INCARNATION + (_s("TIME_WAIT"), _i("SYN", "old_window"), _e("SYN_ACK"), _s("SYN_RCVD")),
             (), "a SYN that reopens the 4-tuple inside the old sequence space gets an ACK: TIME_WAIT stays",
             rfc=("RFC 6191 §2", "RFC 1122 §4.2.2.13", "RFC 5961 §4")),
        # The same SYN with timestamps negotiated (the peer offers RFC 7323's
        # option): its TSval is newer than the old connection's last one.
        _scn("time_wait_old_window_syn_newer_timestamp",
             OLD_INCARNATION + (_s("TIME_WAIT"), _i("SYN", "old_window"), _e("SYN_ACK"), _s("SYN_RCVD")),
             ("TIME_WAIT--SYN(implementation)-->SYN_RCVD",),
             "with timestamps, a SYN inside the old sequence space but with a newer TSval reopens TIME_WAIT",
             rfc=("RFC 6191 §2", "RFC 7323 §5"), timestamps=True),
        _scn("no_time_wait_old_segments_accepted",
             OLD_INCARNATION + REOPEN_IN_OLD_WINDOW + (_i("DATA", "old_acceptable"), _e("ACK"),
                                                       _i("FIN", "old_acceptable"), _e("ACK"), _s("CLOSE_WAIT")),
             (), "with tcp_max_tw_buckets=0 the reopened connection takes the old incarnation's data and FIN",
             {"tcp_max_tw_buckets": "0"}, rfc=("RFC 9293 §3.4", "RFC 9293 §3.10.7.4")),
        _rst_in(EST, ACTIVE_OPEN),
        _rst_in("FIN_WAIT_1", FIN_WAIT_1),
        _rst_in("FIN_WAIT_2", FIN_WAIT_2),
        # After shutdown_wr the application still holds the descriptor: it is told of the reset.
        _rst_in("FIN_WAIT_1", FIN_WAIT_1_FD, "_told", ", the descriptor kept (the user is told)"),
        _rst_in("FIN_WAIT_2", FIN_WAIT_2_FD, "_told", ", the descriptor kept (the user is told)"),
        _rst_in("CLOSE_WAIT", CLOSE_WAIT),
        _rst_in("CLOSING", CLOSING),
        _rst_in("LAST_ACK", LAST_ACK),
        _scn("rst_in_time_wait", TIME_WAIT + (_i("RST"), _e("NONE"), _s("CLOSED")), ("TIME_WAIT--RST-->CLOSED",),
             "with tcp_rfc1337=0 a RST ends TIME_WAIT", {"tcp_rfc1337": "0"}),
        _scn("rst_in_time_wait_rfc1337", TIME_WAIT + (_i("RST"), _e("NONE"), _s("CLOSED")),
             ("TIME_WAIT--RST-->CLOSED",), "with tcp_rfc1337=1 Linux ignores it (RFC 1337)", {"tcp_rfc1337": "1"}),
        # Steps after a deviation, written for the RFC path (CLOSED answers a
        # FIN with RST): the runner walks them from where the profile says
        # the stack is (TIME_WAIT acknowledges the retransmitted FIN).
        _scn("rst_in_time_wait_rfc1337_then_fin",
             TIME_WAIT + (_i("RST"), _e("NONE"), _s("CLOSED"), _i("FIN"), _e("RST"), _s("CLOSED")),
             ("TIME_WAIT--RST-->CLOSED", "CLOSED--FIN-->CLOSED"),
             "with tcp_rfc1337=1 the RST is ignored; the FIN after it is acknowledged from TIME_WAIT",
             {"tcp_rfc1337": "1"}),
        _scn("close_with_unread_data_then_ack",
             ACTIVE_OPEN + (_i("DATA"), _e("ACK"), _c("close"), _e("FIN"), _s("FIN_WAIT_1"),
                            _i("ACK"), _e("NONE"), _s("FIN_WAIT_2")),
             ("ESTABLISHED--close-->FIN_WAIT_1",),
             "close() with unread data resets; the peer's ACK after it finds no connection and draws a RST "
             "(on the RFC path the peer's ACK, which acknowledges all it received, covers the FIN: FIN_WAIT_2)"),
        _scn("rst_out_of_window", ACTIVE_OPEN + (_i("RST", "out_of_window"), _e("NONE"), _s(EST)), (),
             "a RST outside the window is dropped silently", rfc=("RFC 9293 §3.10.7.4",)),
        _scn("rst_in_window_challenge_ack", ACTIVE_OPEN + (_i("RST", "in_window"), _e("ACK"), _s(EST)), (),
             "an in-window RST not at RCV.NXT gets a challenge ACK", rfc=("RFC 9293 §3.10.7.4", "RFC 5961 §3.2")),
        # Sequence-aware segments (issue 15, item 4).
        _scn("syn_in_window_challenge_ack", ACTIVE_OPEN + (_i("SYN", "in_window"), _e("ACK"), _s(EST)), (),
             "a SYN inside the window of an established connection gets a challenge ACK, nothing is reset",
             rfc=("RFC 9293 §3.10.7.4 (fourth, check the SYN bit)", "RFC 5961 §4.2")),
        _scn("syn_in_window_challenge_ack_passive", PASSIVE_OPEN + (_i("SYN", "in_window"), _e("ACK"), _s(EST)), (),
             "the same after a passive open (the peer's own ISN is below the window)",
             rfc=("RFC 9293 §3.10.7.4 (fourth, check the SYN bit)", "RFC 5961 §4.2")),
        _scn("syn_sent_unacceptable_ack",
             (_c("connect"), _e("SYN"), _s("SYN_SENT"), _i("SYN_ACK", "bad_ack"), _e("RST"), _s("SYN_SENT"),
              _i("SYN_ACK"), _e("ACK"), _s(EST)), (),
             "a SYN,ACK whose ACK does not cover our SYN (SEG.ACK =< ISS) is answered with <SEQ=SEG.ACK><CTL=RST> "
             "and SYN_SENT goes on; the right SYN,ACK then opens the connection",
             rfc=("RFC 9293 §3.10.7.3 (first, check the ACK bit)",)),
        _scn("data_after_close_fin_wait_1", FIN_WAIT_1 + (_i("DATA"), _e("RST"), _s("CLOSED")), (),
             "new data after close() (nobody can read it) is answered with RST, the connection is gone",
             rfc=("RFC 1122 §4.2.2.13 (SHOULD send a RST to show that data was lost)", "RFC 2525 §2.17")),
        _scn("data_after_close_fin_wait_2", FIN_WAIT_2 + (_i("DATA"), _e("RST"), _s("CLOSED")), (),
             "the same in FIN_WAIT_2 (Linux: the orphan's timewait socket, sub-state FIN_WAIT2)",
             rfc=("RFC 1122 §4.2.2.13", "RFC 2525 §2.17")),
        _scn("data_after_shutdown_is_delivered", FIN_WAIT_2_FD + (_i("DATA"), _e("ACK"), _c("recv"), _s("FIN_WAIT_2")),
             (), "after shutdown_wr the application still reads: data in FIN_WAIT_2 is acknowledged and delivered",
             rfc=("RFC 9293 §3.10.7.4 (seventh, process the segment text: FIN-WAIT-2)",)),
        _scn("duplicate_data_in_established",
             ACTIVE_OPEN + (_i("DATA"), _e("ACK"), _i("DATA", "duplicate"), _e("ACK"), _c("recv"), _s(EST)), (),
             "data already acknowledged, sent again: below RCV.NXT, answered with an ACK of RCV.NXT",
             rfc=("RFC 9293 §3.10.7.4 (first, check sequence number: not acceptable, send an ACK)",)),
        _scn("paws_drops_stale_data_in_established",
             ACTIVE_OPEN + (_i("DATA"), _e("ACK"), _i("DATA", "stale_timestamp"), _e("ACK"), _c("recv"), _s(EST)),
             (), "with timestamps, new data at RCV.NXT whose TSval is older than the last one is an old "
             "duplicate: PAWS drops it and answers with an ACK of RCV.NXT",
             rfc=("RFC 7323 §5.3 (R1)",), timestamps=True),
        _scn("duplicate_data_in_time_wait",
             PASSIVE_OPEN + (_i("DATA"), _e("ACK"), _c("recv"), _c("close"), _e("FIN"), _s("FIN_WAIT_1"),
                             _i("FIN_ACK_OF_FIN"), _e("ACK"), _s("TIME_WAIT"), _i("DATA", "duplicate"), _e("ACK"),
                             _s("TIME_WAIT")), (),
             "an old duplicate of the connection's data reaches TIME_WAIT: acknowledged, TIME_WAIT stays",
             rfc=("RFC 9293 §3.10.7.4 (first, check sequence number)", "RFC 9293 §3.6.1")),
        _scn("old_segments_below_a_new_window",
             OLD_INCARNATION + REOPEN_ABOVE + (_i("DATA", "old"), _e("ACK"), _i("FIN", "old"), _e("ACK"), _s(EST)),
             (), "the 4-tuple reopened above the old sequence space (tcp_max_tw_buckets=0: no TIME_WAIT): the old "
             "incarnation's DATA and FIN fall below the new window, each is answered with an ACK and ignored",
             {"tcp_max_tw_buckets": "0"}, rfc=("RFC 9293 §3.10.7.4 (first, check sequence number)",
                                              "RFC 1122 §4.2.2.13", "RFC 6191 §2")),
        _scn("ack_in_time_wait", TIME_WAIT + (_i("ACK"), _e("NONE"), _s("TIME_WAIT")), (),
             "a duplicate of the peer's last ACK reaches TIME_WAIT: no transition takes it, nothing is sent, "
             "TIME_WAIT and its timer stay", rfc=("RFC 9293 §3.10.7.4 (TIME-WAIT)",)),
        _scn("old_fin_in_time_wait",
             OLD_INCARNATION + REOPEN_ABOVE + (_c("close"), _e("FIN"), _s("FIN_WAIT_1"), _i("FIN_ACK_OF_FIN"),
                                               _e("ACK"), _s("TIME_WAIT"), _i("FIN", "old"), _e("ACK"),
                                               _s("TIME_WAIT")),
             (), "the previous incarnation's FIN, replayed as it was sent, reaches the new incarnation's TIME_WAIT: "
             "below the window, answered with an ACK of RCV.NXT and ignored; TIME_WAIT stays (the first "
             "incarnation's TIME_WAIT was reopened by a SYN above its sequence space)",
             rfc=("RFC 9293 §3.10.7.4 (first, check sequence number)", "RFC 9293 §3.4 (old duplicates)")),
        _abort_in(EST, ACTIVE_OPEN, "RST"),
        _abort_in("FIN_WAIT_1", FIN_WAIT_1_FD, "RST"),
        _abort_in("FIN_WAIT_2", FIN_WAIT_2_FD, "RST"),
        _abort_in("CLOSE_WAIT", CLOSE_WAIT, "RST"),
        _abort_in("CLOSING", CLOSING_FD, "NONE"),
        _abort_in("LAST_ACK", LAST_ACK_FD, "NONE"),
        _abort_in("TIME_WAIT", TIME_WAIT_FD, "NONE"),
        _scn("close_with_unread_data", ACTIVE_OPEN + (_i("DATA"), _e("ACK"), _c("close"), _e("FIN"), _s("FIN_WAIT_1")),
             ("ESTABLISHED--close-->FIN_WAIT_1",), "CLOSE while received data is unread"),
        _scn("data_both_ways", ACTIVE_OPEN + (_c("send", "hello"), _e("DATA"), _i("ACK"), _i("DATA"), _e("ACK"),
                                              _c("recv"), _s(EST)), (), "data in both directions, no state change"),
        _scn("fin_wait_2_orphan_timeout", FIN_WAIT_2 + (_elapse("timeout_fin_wait_2"), _s("CLOSED")),
             ("FIN_WAIT_2--timeout_fin_wait_2(implementation)-->CLOSED",),
             "an orphaned FIN_WAIT_2 gives up (tcp_fin_timeout=0: after 3.5 RTO)", {"tcp_fin_timeout": "0"}),
        _scn("time_wait_syn_reopens", PASSIVE_OPEN + (_c("close"), _e("FIN"), _s("FIN_WAIT_1"),
                                                      _i("FIN_ACK_OF_FIN"), _e("ACK"), _s("TIME_WAIT"),
                                                      _i("SYN"), _e("SYN_ACK"), _s("SYN_RCVD")),
             ("TIME_WAIT--SYN(implementation)-->SYN_RCVD",), "a new SYN above the old sequence space"),
        _scn("closed_port_syn", (_s("CLOSED"), _i("SYN"), _e("RST_ACK"), _s("CLOSED")), ("CLOSED--SYN-->CLOSED",),
             "connection refused"),
        _scn("closed_port_ack", (_i("ACK"), _e("RST"), _s("CLOSED")), ("CLOSED--ACK-->CLOSED",)),
        _scn("closed_port_fin", (_i("FIN"), _e("RST"), _s("CLOSED")), ("CLOSED--FIN-->CLOSED",)),
        _scn("closed_port_syn_ack", (_i("SYN_ACK"), _e("RST"), _s("CLOSED")), ("CLOSED--SYN_ACK-->CLOSED",)),
        _scn("time_wait_expires", TIME_WAIT + (_elapse("timeout_2msl"), _s("CLOSED")),
             ("TIME_WAIT--timeout_2msl-->CLOSED",), "Linux TIME_WAIT is a fixed 60 s", slow=True),
    )
    return o


def _elapse(timer: str) -> Elapse:
    return Elapse(timer)


@cache
def default_suite() -> tuple[Scenario, ...]:
    """The built-in scenarios, with their RFC references from the spec."""
    spec = embedded_spec()
    by_id = {t.id: t for t in spec.transitions}
    out = []
    for s in _build():
        unknown = [t for t in s.transitions if t not in by_id]
        if unknown:
            raise ValueError(f"scenario {s.name}: unknown transition ids {unknown}")
        rfc = s.rfc or tuple(dict.fromkeys(by_id[t].rfc for t in s.transitions))
        out.append(dataclasses.replace(s, rfc=rfc))
    return tuple(out)


# -- several connections (issue 15, item 5): played by tools/runner/crowd.py --------------------------

LISTENER = Connection("listener", "listener")
BACKLOG = 4
# The SYN queue is full once it holds more than the backlog
# (inet_csk_reqsk_queue_is_full(): qlen > sk_max_ack_backlog): backlog + 1
# request sockets; a flood of twice the backlog overflows it.
SYN_QUEUE = BACKLOG + 1
COOKIES, OVERFLOW, ALWAYS = "tcp_syncookies=1|2", "tcp_syncookies=0|1", "tcp_syncookies=2"


def _states(*states: tuple[str, str], queue: int | None = None, when: str = "", held: str = "",
            port_range: str = "") -> ExpectStates:
    return ExpectStates(states, (("listener", queue),) if queue is not None else (), held, port_range, when)


# Eight SYNs that never complete, on a listener with backlog 4. Without
# cookies (0) the listener keeps a request socket (SYN_RCVD) per SYN until
# its SYN queue is full and drops the rest unanswered; with cookies on
# overflow (1, Linux's default) the same queue fills and the SYNs beyond it
# still get a SYN,ACK carrying a cookie and leaving no state; with cookies
# always (2) no request socket is made. A cookie's ACK opens a connection
# straight into the accept queue.
SYN_FLOOD: tuple[Step, ...] = (
    Call("listen", str(BACKLOG), on="listener"),
    Inject("SYN", on="a"),
    Expect("SYN_ACK", on="a1..a5"),
    Expect("NONE", on="a6..a8", when="tcp_syncookies=0"),
    Expect("SYN_ACK", on="a6..a8", when=COOKIES),
    _states(("a1..a5", "SYN_RCVD"), ("a6..a8", "CLOSED"), queue=0, when=OVERFLOW),
    _states(("a", "CLOSED"), queue=0, when=ALWAYS),
    Inject("ACK", on="a8", when=COOKIES),
    Expect("NONE", on="a8", when=COOKIES),
    _states(("a8", "ESTABLISHED"), ("a1..a5", "SYN_RCVD"), queue=1, when="tcp_syncookies=1"),
    _states(("a8", "ESTABLISHED"), ("a1..a7", "CLOSED"), queue=1, when=ALWAYS),
    Call("accept", "a8", on="listener", when=COOKIES),
    _states(("a8", "ESTABLISHED"), queue=0, when=COOKIES),
)
# (Linux tcp_conn_request(): a full SYN queue drops the SYN, or answers it
# with a cookie, cookie_v4_init_sequence(), when tcp_syncookies allows.)
SYN_FLOOD_RFC = ("RFC 4987 §2, §3.6",)

# Five connections accepted by an application that never closes them: each
# peer closes, every socket stays in CLOSE_WAIT with its descriptor held
# (the signature of the leak); close() moves the pile to LAST_ACK and the
# peers' ACKs end it.
CLOSE_WAIT_PILE: tuple[Step, ...] = (
    Call("listen", "8", on="listener"),
    Inject("SYN", on="c"), Expect("SYN_ACK", on="c"), Inject("ACK", on="c"), Expect("NONE", on="c"),
    _states(("c", EST), queue=5),
    Call("accept", "c", on="listener"),
    Inject("FIN", on="c"), Expect("ACK", on="c"),
    _states(("c", "CLOSE_WAIT"), queue=0, held="c"),
    Call("close", on="c"), Expect("FIN", on="c"),
    _states(("c", "LAST_ACK")),
    Inject("ACK_OF_FIN", on="c"), Expect("NONE", on="c"),
    _states(("c", "CLOSED")),
)

# Two connections the stack closes first, both in TIME_WAIT; the peer of
# one reopens the same 4-tuple with a SYN above the old sequence space
# (RFC 6191): that TIME_WAIT gives way to a new connection (a request
# socket first), the other stays.
TIME_WAIT_REUSE: tuple[Step, ...] = (
    Call("listen", "8", on="listener"),
    Inject("SYN", on="t"), Expect("SYN_ACK", on="t"), Inject("ACK", on="t"), Expect("NONE", on="t"),
    Call("accept", "t", on="listener"),
    Call("close", on="t"), Expect("FIN", on="t"), Inject("FIN_ACK_OF_FIN", on="t"), Expect("ACK", on="t"),
    _states(("t", "TIME_WAIT")),
    Inject("SYN", on="t1"), Expect("SYN_ACK", on="t1"),
    _states(("t1", "SYN_RCVD"), ("t2", "TIME_WAIT")),
    Inject("ACK", on="t1"), Expect("NONE", on="t1"),
    _states(("t1", EST), ("t2", "TIME_WAIT"), queue=1),
)

# ip_local_port_range narrowed to four ports inside the namespace: the
# application opens and closes four connections to the same peer port, each
# ending in TIME_WAIT on its own ephemeral port; a fifth connect() finds no
# port free (EADDRNOTAVAIL): without timestamps a TIME_WAIT 4-tuple is never
# reused for an outgoing connection (Linux __inet_hash_connect(),
# tcp_twsk_unique()).
EPHEMERAL_RANGE = (61000, 61003)
PORTS_EXHAUSTED: tuple[Step, ...] = (
    Call("connect", on="e1..e4", errno="EINPROGRESS"), Expect("SYN", on="e1..e4"),
    Inject("SYN_ACK", on="e1..e4"), Expect("ACK", on="e1..e4"),
    Call("close", on="e1..e4"), Expect("FIN", on="e1..e4"),
    Inject("FIN_ACK_OF_FIN", on="e1..e4"), Expect("ACK", on="e1..e4"),
    _states(("e1..e4", "TIME_WAIT"), port_range="e1..e4"),
    Call("connect", on="e5", errno="EADDRNOTAVAIL"),
)


def _flood(name: str, cookies: str, description: str) -> Scenario:
    return Scenario(name, SYN_FLOOD, (), SYN_FLOOD_RFC, description,
                    {"tcp_syncookies": cookies, "tcp_max_syn_backlog": "128"},
                    connections=(LISTENER, Connection("a", "peer", 8, "listener")))


@cache
def crowd_suite() -> tuple[Scenario, ...]:
    """The built-in scenarios with several connections (Linux)."""
    return (
        _flood("syn_flood_no_cookies", "0",
               "eight SYNs on a backlog of 4, tcp_syncookies=0: five request sockets, three SYNs dropped"),
        _flood("syn_flood_cookies", "1",
               "the same flood with cookies on overflow: five request sockets, every SYN answered"),
        _flood("syn_flood_cookies_always", "2", "cookies always: no request socket at all"),
        Scenario("close_wait_pile", CLOSE_WAIT_PILE, (), ("RFC 9293 §3.6",),
                 "five CLOSE_WAIT sockets behind an application that does not close",
                 connections=(LISTENER, Connection("c", "peer", 5, "listener"))),
        Scenario("time_wait_reuse", TIME_WAIT_REUSE, (), ("RFC 6191 §2", "RFC 1122 §4.2.2.13"),
                 "a SYN reopens one of two TIME_WAIT 4-tuples",
                 connections=(LISTENER, Connection("t", "peer", 2, "listener"))),
        Scenario("ephemeral_ports_exhausted", PORTS_EXHAUSTED, (), ("RFC 6056 §2",),
                 "four ephemeral ports, all in TIME_WAIT: connect() says EADDRNOTAVAIL",
                 {"ip_local_port_range": f"{EPHEMERAL_RANGE[0]} {EPHEMERAL_RANGE[1]}"},
                 connections=(Connection("e", "client", 5),)),
    )


def builtin_suite() -> tuple[Scenario, ...]:
    """What ``tcpcheck run`` runs without a suite: every built-in scenario,
    one connection or several."""
    return default_suite() + crowd_suite()


def load_suite(path: str | Path) -> tuple[Scenario, ...]:
    """Scenarios from a JSON file (``tools/scenario.schema.json``): a list of
    scenarios, or ``{"scenarios": [...]}``."""
    return load_scenarios(path)
