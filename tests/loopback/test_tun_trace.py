"""The tracer in the TUN runner: a step knows the exact path the kernel took
(through the stack interface: ``Endpoint.changes``), the traced stack owns
its addresses, verdicts are those of sampling, and without tracing the
runner says so and samples."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner

from tcpcheck.tools.runner.execute import ScenarioResult, execute
from tcpcheck.tools.runner.stack import Change, path_text
from tcpcheck.tools.runner.suite import default_suite
from tcpcheck.tools.runner.tracer import inspect_tracefs
from tests.loopback.conftest import unavailable

SCENARIOS = {s.name: s for s in default_suite()}


def test_a_path_reads_as_the_kernel_went() -> None:
    assert path_text([]) == ""
    assert path_text([Change("ESTABLISHED", "FIN_WAIT_1"), Change("FIN_WAIT_1", "CLOSING")]) == \
        "ESTABLISHED -> FIN_WAIT_1 -> CLOSING"
    assert path_text([Change("FIN_WAIT_2", "TIME_WAIT", "sock_diag")]) == "FIN_WAIT_2 -> TIME_WAIT (sock_diag)"
    # A gap (a change nobody saw) is shown, not papered over.
    assert path_text([Change("SYN_SENT", "ESTABLISHED"), Change("FIN_WAIT_1", "FIN_WAIT_2")]) == \
        "SYN_SENT -> ESTABLISHED -> FIN_WAIT_1 (not seen) -> FIN_WAIT_2"


@pytest.fixture(scope="module")
def stacks() -> Any:
    """A traced and an untraced Linux stack (the TUN runner), side by side."""
    from tcpcheck.tools.runner.netns import NamespaceUnavailable
    from tcpcheck.tools.runner.stacks.linux import LinuxStack
    from tcpcheck.tools.runner.tracer import unavailable_reason

    reason = unavailable_reason()
    if reason:
        unavailable(reason)
    try:
        traced = LinuxStack(trace=True)
    except NamespaceUnavailable as exc:
        unavailable(str(exc))
        raise
    sampled = LinuxStack(trace=False)
    yield traced, sampled
    sampled.close()
    traced.close()


def _run(stack: Any, name: str) -> ScenarioResult:
    return execute(stack, SCENARIOS[name], stack.profile())


def _paths(result: ScenarioResult) -> dict[str, str]:
    return {s.step: s.path for s in result.steps if s.path}


def test_a_step_says_which_states_the_kernel_went_through(stacks: Any) -> None:
    traced, _ = stacks
    assert traced.tracer is not None and traced.observer.startswith("traced: tracepoint sock:inet_sock_set_state")
    result = _run(traced, "fin_wait_1_fin_ack")
    assert result.verdict in ("pass", "deviation"), result.to_json()
    paths = _paths(result)
    assert paths["call connect"] == "CLOSED -> SYN_SENT"
    assert paths["call close"] == "ESTABLISHED -> FIN_WAIT_1"
    # FIN+ACK of our FIN in FIN_WAIT_1: the model goes straight to TIME_WAIT;
    # Linux passes through FIN_WAIT_2 for microseconds (the ACK first), which
    # no sample after the step can see.
    assert paths["inject FIN_ACK_OF_FIN"] == "FIN_WAIT_1 -> FIN_WAIT_2 -> TIME_WAIT"
    assert result.to_json()["steps"][-1]["state"].startswith("TIME_WAIT")
    # The report's sequence chart carries it too (a row's tooltip).
    from tcpcheck.tools.pictures.msc import chart_from_result, render_svg

    svg = render_svg(chart_from_result(result.to_json(), "Linux"), ident="t")
    assert "went FIN_WAIT_1 -&gt; FIN_WAIT_2 -&gt; TIME_WAIT" in svg


def test_the_untraced_changes_come_from_sock_diag_and_say_so(stacks: Any) -> None:
    traced, _ = stacks
    paths = _paths(_run(traced, "active_close"))
    # An orphan's FIN_WAIT_2 is a timewait mini-socket: Linux traces nothing.
    assert paths["inject FIN"] == "FIN_WAIT_2 -> TIME_WAIT (sock_diag)"
    passive = _paths(_run(traced, "passive_open"))
    assert passive["call listen"] == "CLOSED -> LISTEN"
    assert passive["inject SYN"] == "LISTEN -> SYN_RCVD (sock_diag)"  # the request socket


def test_tracing_changes_no_verdict_and_sampling_records_no_path(stacks: Any) -> None:
    traced, sampled = stacks
    assert sampled.tracer is None and sampled.observer.startswith("sampled")
    for name in ("simultaneous_close", "passive_close", "syn_sent_rst_acceptable", "abort_in_closing"):
        a, b = _run(traced, name), _run(sampled, name)
        assert (a.verdict, [s.verdict for s in a.steps]) == (b.verdict, [s.verdict for s in b.steps]), name
        assert [s.state for s in a.steps] == [s.state for s in b.steps], name
        assert any(s.path for s in a.steps) and not any(s.path for s in b.steps), name


def test_a_traced_stack_owns_its_addresses(stacks: Any) -> None:
    traced, sampled = stacks
    flow = traced.endpoint().flow
    assert not flow.local.startswith("198.18.0.") and flow.local.startswith(("198.18.", "198.19."))
    assert traced.tracer.tag == "tun_" + flow.local.replace(".", "_")
    assert traced.tracer.addresses == {flow.local, flow.remote}
    assert sampled.endpoint().flow.local == "198.18.0.1"


def test_closing_the_stack_removes_its_trace_instance() -> None:
    from tcpcheck.tools.runner.stacks.linux import LinuxStack
    from tcpcheck.tools.runner.tracer import unavailable_reason

    reason = unavailable_reason()
    if reason:
        unavailable(reason)
    stack = LinuxStack()
    assert stack.tracer is not None
    name = stack.tracer.name
    try:
        assert name in inspect_tracefs()["instances"]
        _run(stack, "active_open")
    finally:
        stack.close()
    assert name not in inspect_tracefs()["instances"]


def test_without_tracefs_the_stack_says_why_in_one_line_and_samples(monkeypatch: pytest.MonkeyPatch) -> None:
    from tcpcheck.tools.runner.netns import unavailable_reason
    from tcpcheck.tools.runner.stacks import linux

    if unavailable_reason():
        unavailable(str(unavailable_reason()))
    monkeypatch.setattr(linux, "trace_unavailable", lambda: "this kernel has no tracefs")
    stack = linux.LinuxStack()
    try:
        assert stack.tracer is None
        assert stack.observer == ("sampled with TCP_INFO and sock_diag after every step: this kernel has no "
                                  "tracefs")
        assert "\n" not in stack.observer
        result = _run(stack, "active_open")
        assert result.verdict == "pass" and not any(s.path for s in result.steps)
    finally:
        stack.close()


def test_the_command_reports_how_states_were_seen(stacks: Any) -> None:
    from tcpcheck.tools.cli import main

    out = CliRunner().invoke(main, ["run", "active_close", "--json"])
    assert out.exit_code == 0, out.output
    doc = json.loads(out.output)
    assert doc["stack"]["observer"].startswith("traced")
    assert [s["path"] for s in doc["results"][0]["steps"] if "path" in s][-1] == "FIN_WAIT_2 -> TIME_WAIT (sock_diag)"
    out = CliRunner().invoke(main, ["run", "active_close", "--no-trace"])
    assert out.exit_code == 0, out.output
    assert "states: sampled with TCP_INFO and sock_diag after every step (tracing was not asked for)" in out.output
    bad = CliRunner().invoke(main, ["run", "--stack", "model", "--no-trace"])
    assert bad.exit_code == 2 and "--no-trace" in bad.output
