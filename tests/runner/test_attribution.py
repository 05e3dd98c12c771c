"""A failing scenario marks only the transition whose step failed; counts of
transitions add up to the spec's transitions."""

from __future__ import annotations

from tcpcheck.model.spec import load_spec
from tcpcheck.tools.runner.execute import ScenarioResult, StepResult
from tcpcheck.tools.runner.profile import load_profile
from tcpcheck.tools.runner.report import matrix_rows, summary
from tcpcheck.tools.runner.suite import default_suite
from tcpcheck.tools.scenario import step_transitions

SPEC = load_spec()
PROFILE = load_profile(known_transitions={t.id for t in SPEC.transitions})
SUITE = {s.name: s for s in default_suite()}


def _result(name: str, failing: str | None = None, verdict: str = "fail") -> ScenarioResult:
    """A result of the built-in scenario ``name`` whose first step of transition
    ``failing`` has ``verdict`` (the steps after it skipped, as the runner does)."""
    scenario = SUITE[name]
    taken = step_transitions(scenario, SPEC)
    steps, stopped = [], False
    for n, (step, tid) in enumerate(zip(scenario.steps, taken, strict=True), start=1):
        if stopped:
            steps.append(StepResult(n, step.text(), "skipped", "", transition=tid))
        elif tid == failing and failing is not None:
            steps.append(StepResult(n, step.text(), verdict, "X", "ACK", "NONE", transition=tid))
            stopped = True
        else:
            steps.append(StepResult(n, step.text(), "pass", "ok", transition=tid))
    outcome = verdict if stopped else "pass"
    return ScenarioResult(name, scenario.transitions, outcome, steps, 0.01,
                          deviations=["some_entry"] if outcome == "deviation" else [])


def _rows_of(rows: list[tuple[str, str, str, str]], scenario: str) -> dict[str, tuple[str, str]]:
    return {t: (v, n) for t, s, v, n in rows if s == scenario}


def test_only_the_failing_steps_transition_fails() -> None:
    close, ack, fin = SUITE["active_close"].transitions
    rows = matrix_rows(SPEC, PROFILE, [_result("active_close", ack)], [])
    mine = _rows_of(rows, "active_close")
    assert mine[close][0] == "pass"
    assert mine[ack][0] == "fail" and "expected ACK, observed NONE" in mine[ack][1]
    assert mine[fin][0] == "not run" and "not reached: step" in mine[fin][1] and ack in mine[fin][1]


def test_a_failure_in_the_prefix_marks_the_prefix_transition() -> None:
    (rst,) = SUITE["rst_in_fin_wait_1"].transitions
    rows = matrix_rows(SPEC, PROFILE, [_result("rst_in_fin_wait_1", "CLOSED--connect-->SYN_SENT")], [])
    mine = _rows_of(rows, "rst_in_fin_wait_1")
    assert set(mine) == {"CLOSED--connect-->SYN_SENT", rst}
    assert mine["CLOSED--connect-->SYN_SENT"][0] == "fail" and mine[rst][0] == "not run"


def test_a_deviation_marks_its_step_s_transition() -> None:
    close, ack, fin = SUITE["active_close"].transitions
    mine = _rows_of(matrix_rows(SPEC, PROFILE, [_result("active_close", fin, "deviation")], []), "active_close")
    assert [mine[t][0] for t in (close, ack, fin)] == ["pass", "pass", "deviation"]


def test_transition_counts_add_up() -> None:
    results = [_result("active_close", SUITE["active_close"].transitions[1]), _result("passive_open"),
               _result("passive_close"), _result("closing_fin_again")]
    rows = matrix_rows(SPEC, PROFILE, results, [SUITE["time_wait_expires"]])
    counts = summary(results, rows)["transitions"]
    assert sum(counts.values()) == len(SPEC.transitions)
    assert counts["fail"] == 1 and counts["not run"] >= 1


def test_a_told_deviation_marks_its_transition_and_the_scenario_goes_on() -> None:
    """abort_in_closing: a second CLOSE in CLOSING is answered 'ok' (a told
    deviation of FIN_WAIT_1--FIN-->CLOSING, in the prefix); the stack stays
    on the model's path, so the abort the scenario covers is judged by its
    own steps, not 'not run'. A failure after it still ends the walk."""
    (abort,) = SUITE["abort_in_closing"].transitions
    closing = "FIN_WAIT_1--FIN-->CLOSING"
    result = _result("abort_in_closing")
    at = max(s.index for s in result.steps if s.transition == closing)
    told = StepResult(at, "told shutdown_wr: close_closing_again", "deviation", "CLOSING", "told ENOTCONN",
                      "told ok", transition=closing)
    result.steps.insert(at, told)
    result.verdict, result.deviations = "deviation", ["close_again_in_closing_told_ok"]
    mine = _rows_of(matrix_rows(SPEC, PROFILE, [result], []), "abort_in_closing")
    assert mine[closing][0] == "deviation" and mine[abort][0] == "pass"
    failing = [s for s in result.steps if s.transition == abort][0]
    failing.verdict, failing.expected, failing.observed = "fail", "RST", "NONE"
    result.verdict = "fail"
    mine = _rows_of(matrix_rows(SPEC, PROFILE, [result], []), "abort_in_closing")
    assert mine[closing][0] == "deviation" and mine[abort][0] == "fail"
