"""A run document shaped exactly like ``tcpcheck run --json`` writes it."""

from __future__ import annotations

from typing import Any


def _step(index: int, step: str, verdict: str, state: str, **extra: str) -> dict[str, Any]:
    return {"index": index, "step": step, "verdict": verdict, "state": state, **extra, "seconds": 0.001}


CONNECT, SYN_ACK = "CLOSED--connect-->SYN_SENT", "SYN_SENT--SYN_ACK-->ESTABLISHED"


def sample_run() -> dict[str, Any]:
    """Three scenarios (pass, deviation, fail) in the shape of tools/runner/report.py:to_json."""
    passive = "CLOSED--listen-->LISTEN", "LISTEN--SYN-->SYN_RCVD", "SYN_RCVD--ACK_OF_SYN-->ESTABLISHED"
    close = ("ESTABLISHED--close-->FIN_WAIT_1",)
    tw = ("FIN_WAIT_2--FIN-->TIME_WAIT",)
    results = [
        {"scenario": "passive_open", "transitions": list(passive), "verdict": "pass", "deviations": [], "note": "",
         "sysctls": {}, "seconds": 0.01, "steps": [
             _step(1, "expect_state CLOSED", "pass", "CLOSED (sock_diag: no socket)"),
             _step(2, "call listen", "pass", "LISTEN (TCP_INFO listener: LISTEN)", transition=passive[0]),
             _step(3, "inject SYN", "pass", "SYN_RCVD (sock_diag: SYN_RECV)", transition=passive[1]),
             _step(4, "expect SYN_ACK", "pass", "SYN_RCVD (sock_diag: SYN_RECV)", transition=passive[1]),
             _step(5, "inject ACK", "pass", "ESTABLISHED (sock_diag: ESTABLISHED)", transition=passive[2]),
             _step(6, "expect NONE", "pass", "ESTABLISHED (sock_diag: ESTABLISHED)", transition=passive[2]),
             _step(7, "expect_state ESTABLISHED", "pass", "ESTABLISHED (sock_diag: ESTABLISHED)",
                   transition=passive[2]),
         ]},
        {"scenario": "close_with_unread_data", "transitions": list(close), "verdict": "deviation",
         "deviations": ["close_with_unread_data_sends_rst"], "note": "close_with_unread_data_sends_rst: RFC 2525 §2.17",
         "sysctls": {}, "seconds": 0.02, "steps": [
             _step(1, "call connect", "pass", "SYN_SENT (TCP_INFO: SYN_SENT)", transition=CONNECT),
             _step(2, "expect SYN", "pass", "SYN_SENT (TCP_INFO: SYN_SENT)", transition=CONNECT),
             _step(3, "inject SYN_ACK", "pass", "ESTABLISHED (TCP_INFO: ESTABLISHED)", transition=SYN_ACK),
             _step(4, "expect ACK", "pass", "ESTABLISHED (TCP_INFO: ESTABLISHED)", transition=SYN_ACK),
             _step(5, "inject DATA", "pass", "ESTABLISHED (TCP_INFO: ESTABLISHED)"),
             _step(6, "call close", "pass", "CLOSED (sock_diag: no socket)", transition=close[0]),
             _step(7, "expect FIN", "deviation", "CLOSED (sock_diag: no socket)", expected="FIN", observed="RST_ACK",
                   transition=close[0]),
             _step(8, "expect_state FIN_WAIT_1", "skipped", "", transition=close[0]),
         ]},
        {"scenario": "fin_wait_2_fin", "transitions": list(tw), "verdict": "fail", "deviations": [], "note": "",
         "sysctls": {"net/ipv4/tcp_rfc1337": "1"}, "seconds": 0.03, "steps": [
             _step(1, "call connect", "pass", "SYN_SENT (TCP_INFO: SYN_SENT)", transition=CONNECT),
             _step(2, "inject FIN", "pass", "FIN_WAIT_2 (TCP_INFO: FIN_WAIT_2)", transition=tw[0]),
             _step(3, "expect ACK", "fail", "FIN_WAIT_2 (TCP_INFO: FIN_WAIT_2)", expected="ACK", observed="NONE",
                   transition=tw[0]),
             _step(4, "expect_state TIME_WAIT", "skipped", "", transition=tw[0]),
         ]},
    ]
    from tcpcheck.tools.runner.report import attribute

    matrix = [{"transition": t, "scenario": r["scenario"], "verdict": v, "note": n}
              for r in results for t, v, n in attribute(r) if t]
    return {
        "stack": {"kernel": "6.1.0-test", "sysctls": {"net/ipv4/tcp_rfc1337": "0"}, "profile": "linux"},
        "results": results,
        "matrix": matrix,
        "summary": {"scenarios": 3, "pass": 1, "deviation": 1, "fail": 1, "transitions": {}, "seconds": 0.06},
    }
