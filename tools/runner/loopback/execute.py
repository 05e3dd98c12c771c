"""Playing one two-sided scenario on ``lo``, step by step, then checking the
whole observed run against the model (``judge``).

A step passes when what it waits for came within the bound; each step's
note says what the kernel did meanwhile ("B: FIN_WAIT_1 -> CLOSING ->
TIME_WAIT"). The scenario's verdict is the worst of its steps and of the
judge: ``fail``, ``deviation`` (a difference the profile documents), or
``pass``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from tcpcheck.model.spec import Spec
from tcpcheck.tools.runner.execute import StepResult
from tcpcheck.tools.runner.harness import TIMER_BOUNDS
from tcpcheck.tools.runner.judge import state_text, step_verdict
from tcpcheck.tools.runner.local import CallError
from tcpcheck.tools.runner.loopback.judge import RST_CARRIES_ACK, PairCheck, check_run
from tcpcheck.tools.runner.loopback.observed import ObservedRun
from tcpcheck.tools.runner.loopback.pair import LoopbackHarness, Pair
from tcpcheck.tools.runner.packets import Captured
from tcpcheck.tools.runner.profile import Profile
from tcpcheck.tools.scenario import Call, Deliver, Elapse, Expect, ExpectState, Hold, Release, Scenario, Step


@dataclass
class PairResult:
    """The outcome of one loopback scenario."""

    scenario: str
    transitions: tuple[str, ...]
    verdict: str
    steps: list[StepResult]
    seconds: float
    observed: ObservedRun
    check: PairCheck | None
    sysctls: dict[str, str] = field(default_factory=dict)
    deviations: list[str] = field(default_factory=list)
    note: str = ""
    packets: list[Captured] = field(default_factory=list)
    check_seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (packets go to pcaps)."""
        return {
            "scenario": self.scenario,
            "loopback": True,
            "transitions": list(self.transitions),
            "verdict": self.verdict,
            "deviations": self.deviations,
            "note": self.note,
            "sysctls": self.sysctls,
            "steps": [s.to_json() for s in self.steps],
            "seconds": round(self.seconds, 6),
            "check_seconds": round(self.check_seconds, 6),
            "observed": self.observed.to_json(),
            "check": self.check.to_json() if self.check else None,
        }


def _matches(expected: str, observed: str, profile: Profile | None) -> tuple[bool, str]:
    if expected == observed:
        return True, ""
    if expected == "RST" and observed == "RST_ACK" and profile is not None and profile.entry(RST_CARRIES_ACK):
        return True, RST_CARRIES_ACK
    return False, ""


def _run_step(pair: Pair, step: Step, profile: Profile | None) -> tuple[bool, str, str, str]:
    """Do one step: (ok, expected text, observed text, note)."""
    if isinstance(step, Call):
        try:
            error = pair.call(step.side, step.op, step.arg)
        except CallError as exc:
            return False, step.text(), "call failed", str(exc)
        return True, "", "", f"the call said {error}" if error else ""
    if isinstance(step, Hold):
        pair.hold(step.side)
        return True, "", "", ""
    if isinstance(step, Release):
        pair.release(step.side)
        return True, "", "", ""
    if isinstance(step, Deliver):
        seg = pair.deliver(step.side, step.segment)
        if seg is None:
            what = "data" if step.segment == "DATA" else "a segment the model names"
            return False, step.segment or "a segment", "NONE", f"{step.side} sent no {what}"
        if step.segment == "DATA":
            return True, "", "", seg.text()
        ok, note = _matches(step.segment, seg.wire, profile) if step.segment else (True, "")
        return ok, step.segment, seg.wire, seg.text() + (f" ({note})" if note else "")
    if isinstance(step, Expect):
        if step.segment == "NONE":
            seg, _ = pair.next_sent(step.side, bound=0.0)
            return seg is None, "NONE", seg.wire if seg else "NONE", seg.text() if seg else ""
        seg, skipped = pair.next_sent(step.side, lambda wire: _matches(step.segment, wire, profile)[0])
        if seg is None:
            seen = ", ".join(s.wire for s in skipped) or "NONE"
            return False, step.segment, seen, f"{step.side} sent {seen} and no {step.segment}"
        note = _matches(step.segment, seg.wire, profile)[1]
        return True, step.segment, seg.wire, seg.text() + (f" ({note})" if note else "")
    if isinstance(step, ExpectState):
        seen = pair.wait_state(step.side, step.state)
        if seen == step.state:
            return True, "", "", ""
        last = next((e for e in reversed(pair.events) if e.kind == "state" and e.side == step.side), None)
        note = f"{step.side} never left CLOSED" if last is None else \
            f"{step.side} is in {seen}: the event that took it there was {last.text()}"
        return False, state_text(step.state), state_text(seen), note
    if isinstance(step, Elapse):
        before = pair.state(step.side)
        start = time.monotonic()
        after = pair.wait_change(step.side, TIMER_BOUNDS[step.timer])
        if after == before:
            return False, f"{step.timer} fires", f"still {before} after {TIMER_BOUNDS[step.timer]:g} s", ""
        return True, "", "", f"{before} -> {after} after {time.monotonic() - start:.3f} s"
    raise TypeError(f"{step.text()} has no two-sided form")


def _moved(pair: Pair, since: int) -> str:
    """What each side's state did since event ``since``: ``A: X -> Y -> Z``."""
    parts = []
    for side in ("A", "B"):
        path: list[str] = []
        for e in pair.events[since:]:
            if e.kind == "state" and e.side == side:
                path = path or [e.old]
                path.append(e.new)
        if path:
            parts.append(f"{side}: went {' -> '.join(path)}")
    return "; ".join(parts)


def execute_pair(harness: LoopbackHarness, scenario: Scenario, spec: Spec, profile: Profile | None) -> PairResult:
    """Run a loopback ``scenario`` on a fresh pair; judge the steps and the run."""
    start = time.perf_counter()
    pair = harness.pair(scenario.sysctls)
    in_force = {**harness.ns.base_sysctls, **pair.sysctls}
    results: list[StepResult] = []
    deviations: list[str] = []
    stopped = ""
    try:
        for index, step in enumerate(scenario.steps, start=1):
            if stopped:
                results.append(StepResult(index, step.text(), "skipped", "", note=stopped))
                continue
            t0 = time.perf_counter()
            mark = len(pair.events)
            try:
                ok, expected, observed, note = _run_step(pair, step, profile)
            except OSError as exc:
                ok, expected, observed, note = False, step.text(), "error", str(exc)
            moved = _moved(pair, mark)
            note = "; ".join(x for x in (note, moved) if x)
            state = f"A {pair.state('A')}, B {pair.state('B')}"
            side = getattr(step, "side", "")
            calls = tuple(s.op for s in scenario.steps[:index] if isinstance(s, Call) and s.side == side)
            if profile is not None:
                verdict, deviation = step_verdict(ok, expected, observed, profile, scenario.transitions, in_force,
                                                  calls)
            else:
                verdict, deviation = ("pass" if ok else "fail"), None
            if deviation is not None:
                deviations.append(deviation.id)
                note = f"{deviation.id}: {deviation.reference}" + (f" ({note})" if note else "")
            results.append(StepResult(index, step.text(), verdict, state, expected if not ok else "",
                                      observed if not ok else "", note, time.perf_counter() - t0))
            if verdict != "pass":
                stopped = f"not run: step {index} {'failed' if verdict == 'fail' else 'left the model'}"
        observed_run = pair.observed()
    finally:
        packets = list(pair.captures)
        pair.close()
    run_seconds = time.perf_counter() - start
    t1 = time.perf_counter()
    check = check_run(spec, profile, observed_run, in_force)
    check_seconds = time.perf_counter() - t1
    deviations += [d for d in check.model.deviations if d not in deviations]
    verdicts = {r.verdict for r in results}
    verdict = "fail" if "fail" in verdicts or check.verdict == "fail" else "deviation" if deviations else "pass"
    note = "; ".join(check.problems)
    if profile is not None and not note:
        note = "; ".join(dict.fromkeys(f"{d.id}: {d.reference}" for d in profile.deviations if d.id in deviations))
    return PairResult(scenario.name, scenario.transitions, verdict, results, run_seconds, observed_run, check,
                      sysctls=dict(sorted(pair.sysctls.items())), deviations=deviations, note=note, packets=packets,
                      check_seconds=check_seconds)
