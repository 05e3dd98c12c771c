"""Playing one scenario against the stack, step by step, with a verdict
per step: pass, fail, or a deviation the profile documents.

The comparisons live in ``judge``; this module only drives the I/O and
records what was seen after every step.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from tcpcheck.model.spec import embedded_spec
from tcpcheck.tools.runner.harness import Conversation
from tcpcheck.tools.runner.judge import state_text, step_verdict
from tcpcheck.tools.runner.packets import Captured
from tcpcheck.tools.runner.peer import SegmentError
from tcpcheck.tools.runner.profile import Deviation, Profile, told_text
from tcpcheck.tools.runner.replay import REPLAYED, Planned, precondition, replay
from tcpcheck.tools.runner.stack import CallError, Stack, path_text
from tcpcheck.tools.scenario import (
    Call,
    Elapse,
    Expect,
    ExpectState,
    Inject,
    Scenario,
    Step,
    starts_transition,
    step_transitions,
)

VERDICTS = ("pass", "deviation", "fail", "skipped", "not drivable")


@dataclass
class StepResult:
    """What one step did and what was seen after it."""

    index: int
    step: str
    verdict: str
    state: str  # observed state after the step, with the method
    expected: str = ""
    observed: str = ""
    note: str = ""
    seconds: float = 0.0
    path: str = ""  # the states the stack went through during the step, as it recorded them (traced)
    transition: str = ""  # the spec transition this step belongs to ("" for set-up and glue)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {k: v for k, v in self.__dict__.items() if v != "" or k in ("verdict", "step")}


@dataclass
class ScenarioResult:
    """The outcome of one scenario."""

    scenario: str
    transitions: tuple[str, ...]
    verdict: str
    steps: list[StepResult]
    seconds: float
    sysctls: dict[str, str] = field(default_factory=dict)
    deviations: list[str] = field(default_factory=list)  # profile entry ids
    note: str = ""
    packets: list[Captured] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (packets go to pcaps, not here)."""
        return {
            "scenario": self.scenario,
            "transitions": list(self.transitions),
            "verdict": self.verdict,
            "deviations": self.deviations,
            "note": self.note,
            "sysctls": self.sysctls,
            "steps": [s.to_json() for s in self.steps],
            "seconds": round(self.seconds, 6),
        }


def needs_slow(scenario: Scenario) -> bool:
    """Marked slow, or waits for Linux's fixed 60 s TIME_WAIT (the Linux
    stack's rule; ``Stack.needs_wait`` asks the stack at hand)."""
    return scenario.slow or any(isinstance(s, Elapse) and s.timer == "timeout_2msl" for s in scenario.steps)


def _prepare(conv: Conversation, scenario: Scenario) -> None:
    for timer in dict.fromkeys(s.timer for s in scenario.steps if isinstance(s, Elapse)):
        conv.endpoint.prepare_timer(timer)


def _run_step(conv: Conversation, step: Step) -> tuple[bool, str, str, str]:
    """Do one step: (matches, expected text, observed text, note)."""
    if isinstance(step, Call):
        try:
            conv.call(step.op, step.arg)
        except CallError as exc:
            return False, step.text(), "call failed", str(exc)
        note = f"the call said {conv.endpoint.last_error}" if conv.endpoint.last_error else ""
        conv.endpoint.last_error = ""
        return True, "", "", note
    if isinstance(step, Inject):
        packet = conv.inject(step.segment, step.variant)
        return True, "", "", packet.summary()
    if isinstance(step, Expect):
        match = conv.expect(step.segment)
        return match.ok, step.segment, match.observed, match.detail
    if isinstance(step, ExpectState):
        seen = conv.observe()
        return seen.state == step.state, state_text(step.state), state_text(seen.state), ""
    if isinstance(step, Elapse):
        before = conv.observe()
        start = time.monotonic()
        after = conv.elapse(step.timer)
        waited = time.monotonic() - start
        if after.state == before.state:
            return False, f"{step.timer} fires", f"still {before.state} after {waited:.3f} s", ""
        return True, "", "", f"{before.state} -> {after.state} after {waited:.3f} s"
    raise TypeError(f"not a step: {step!r}")


def _what_comes_next(conv: Conversation, deviation: Deviation, index: int, transition: str) -> StepResult:
    """After a documented deviation the stack must be where the profile
    says (``instead.to``): pass, or fail. The scenario's later steps are
    then walked from there (``replay``)."""
    t0 = time.perf_counter()
    seen = conv.observe()
    ok = seen.state == deviation.instead_to
    note = f"after {deviation.id} the profile says the stack is in {deviation.instead_to}"
    return StepResult(index, f"expect_state {deviation.instead_to} (profile)", "pass" if ok else "fail", seen.text(),
                      "" if ok else state_text(deviation.instead_to), "" if ok else state_text(seen.state), note,
                      time.perf_counter() - t0, "", transition)


@cache
def _non_rfc() -> frozenset[str]:
    """The embedded spec's transitions outside RFC 9293 (path =
    "implementation"): a stack may take one only where its profile says so."""
    return frozenset(t.id for t in embedded_spec().transitions if t.path == "implementation")


@cache
def _signals() -> dict[str, tuple[str, str]]:
    """Transition id -> (signal, the text the RFC tells the user), from the
    embedded spec (the one the suites are generated from)."""
    spec = embedded_spec()
    return {t.id: (t.signal, spec.signals[t.signal].text) for t in spec.transitions if t.signal}


@cache
def _responses() -> dict[str, tuple[tuple[str, str, bool], ...]]:
    """Transition id -> what a SEND or CLOSE made in its target state is
    answered (the spec's [[response]]: name, text, whether "ok" will do)."""
    spec = embedded_spec()
    return {t.id: tuple((r.name, r.text, r.ok) for r in spec.responses.values() if t.target in r.states)
            for t in spec.transitions}


def _told(conv: Conversation, profile: Profile, index: int, transition: str, sysctls: dict[str, str],
          calls: tuple[str, ...], injects: tuple[str, ...], history: frozenset[str] | None = None,
          options: dict[str, bool] | None = None) -> list[tuple[StepResult, Deviation | None]]:
    """After a transition, ask what the user is told and judge each answer:
    first the signal of a transition that signals the user (RFC 9293
    §3.10), then the answer to a SEND and a CLOSE made in the state it
    entered (the spec's [[response]]), each with the socket call the
    profile maps it to: pass, a deviation documented for this transition,
    or fail. Nothing is asked for what the profile maps no call to, or
    when there is no descriptor left (an orphan after close(): nobody to
    tell)."""
    signal, text = _signals().get(transition, ("", ""))
    asked = [(signal, text, False, False)] if signal else []
    asked += [(*response, True) for response in _responses().get(transition, ())]
    out: list[tuple[StepResult, Deviation | None]] = []
    for name, said, ok_will_do, response in asked:
        told = profile.signals.get(name)
        if told is None:
            continue
        t0 = time.perf_counter()
        answer = conv.endpoint.told(told.call)
        if answer is None:
            continue
        expected, observed = told_text(told.result), told_text(answer)
        verdict, deviation = step_verdict(answer == told.result or ok_will_do and answer == "ok", expected, observed,
                                          profile, (transition,), sysctls, calls, injects, history, options)
        note = f"{told.call} says {answer}; the RFC tells the user '{said}', which {profile.name} says as " \
            f"{told.result}" + (" (or ok, which the RFC accepts here)" if ok_will_do else "") + f" ({told.reference})"
        if deviation is not None:
            note = f"{told.call} says {answer}; {deviation.id}: {deviation.reference}"
        if response and answer == "ok" and verdict != "fail":
            # A SEND or CLOSE the stack took where the RFC says "connection closing" may at most
            # be answered ok "as long as a second FIN is not emitted" (RFC 9293 §3.10.4): the
            # probe must put nothing new on the wire (a copy of what was sent is no new segment).
            sent = conv.expect("NONE")
            if not sent.ok:
                verdict, deviation = "fail", None
                expected, observed = "told ok, nothing sent", f"told ok, sent {sent.observed}"
                detail = f" {sent.detail}" if sent.detail else ""
                note = f"{told.call} says ok but the stack sent {sent.observed}{detail}: RFC 9293 §3.10.4 " \
                    "accepts ok only when no second FIN is emitted"
        ok = verdict == "pass"
        out.append((StepResult(index, f"told {told.call}: {name}", verdict, conv.observe().text(),
                               "" if ok else expected, "" if ok else observed, note, time.perf_counter() - t0, "",
                               transition), deviation))
        if verdict == "fail":
            break  # the steps after it are not run, nor asked
    return out


@cache
def _timers() -> tuple[dict[str, tuple[str, str]], dict[str, tuple[str, str]]]:
    """From ``specs/timed.toml``: transition id -> (timer, its RFC
    reference) for the transitions that restart a running timer (an event
    in the timer's ``restarted_by`` taken in a state where it runs, staying
    there: a retransmitted FIN in TIME_WAIT); and state -> (timer, RFC) for
    the states where a timer runs (the sources of the event it drives)."""
    from tcpcheck.model.timed import load_timed

    spec = embedded_spec()
    restarts: dict[str, tuple[str, str]] = {}
    running: dict[str, tuple[str, str]] = {}
    for timer in load_timed(spec).timers:
        runs = {t.source for t in spec.transitions if t.event == timer.drives}
        running.update({state: (timer.name, timer.rfc) for state in runs})
        for t in spec.transitions:
            if t.event in timer.restarted_by and t.source in runs and t.target in runs:
                restarts[t.id] = (timer.name, timer.rfc)
    return restarts, running


def _timer_rule(step: Step, transition: str, state: str = "") -> tuple[str, str, bool] | None:
    """(timer, RFC, must restart) for an acting step: a segment the model
    drops (a variant whose case in specs/acceptability.toml is unacceptable,
    or one no transition takes in ``state``, the state before the step)
    must leave a running timer alone; the event of a restarting transition
    must restart it; None when no timer is at stake."""
    from tcpcheck.model.acceptability import load_cases

    restarts, running = _timers()
    if not transition:
        return (*running[state], False) if isinstance(step, Inject) and state in running else None
    if isinstance(step, Inject) and step.variant:
        case = next((c.model for c in load_cases() if c.name == step.variant), "")
        source = transition.split("--", 1)[0]
        if case.endswith("_unacceptable") and source in running:
            return (*running[source], False)
        return None
    if transition in restarts and starts_transition(step):
        return (*restarts[transition], True)
    return None


# How far a timer must have run before the event that restarts it, so that
# the restart shows, when the stack cannot read its clock exactly or the
# profile does not give the timer's full length (sock_diag reports
# milliseconds; Linux's clock is in jiffies, 1-10 ms), and the bound on any
# wait for it.
TIMER_RUN_MS = 20
TIMER_RUN_BOUND = 2.0
# With the stack's clock read exactly (Endpoint.timer_reading), how many
# ticks the timer must have run since it was armed, and how far its expiry
# must move, to count as restarted. One would do (a restart in a later tick
# than the arming moves the expiry), but Linux's jiffies read from user
# space (stacks/linux.py: jiffy_at) can, in one case, be one tick late: the
# expiry before the step is the least of readings in two ticks (they cannot
# both be late), the one after may be late, so a kept timer's expiry moves
# at most 1 and a restarted one's at least RESTART_TICKS.
RESTART_TICKS = 2
READ_IN_TICKS = 2  # the ticks the expiry before the step is read in (the least is the truth)


@dataclass(frozen=True)
class TimerBefore:
    """The timer just before the step: ms left; with the stack's clock read
    exactly and the timer's full length (the profile's), its expiry in
    ticks of that clock, and the tick (ms); without, judged by its own
    movement."""

    left: int
    expiry: int | None = None
    tick: float = 0.0

    def moved(self, after: int, clock: int | None) -> int | None:
        """How many ticks the expiry moved, for a reading of ``after`` ms left
        at tick ``clock``; None when not known (no exact clock)."""
        if self.expiry is None or clock is None or not self.tick:
            return None
        return clock + round(after / self.tick) - self.expiry

    def restarted(self, after: int, clock: int | None) -> bool | None:
        """Whether that reading shows the timer restarted; None when it
        cannot say (the clock before was read exactly, after not)."""
        if self.expiry is None:
            return after > self.left
        moved = self.moved(after, clock)
        return None if moved is None else moved >= RESTART_TICKS


def _let_timer_run(conv: Conversation, timer: str, length: int) -> tuple[TimerBefore | None, str]:
    """Wait, bounded and on the wire (no fixed sleep), only as long as the
    check after the step needs: with the stack's clock read exactly and the
    timer's full ``length`` (the profile's [[timer]]), until the stack's own
    reading shows it ran RESTART_TICKS since it was armed, which the
    scenario's steps since then may already have covered, and it was read
    in two ticks; otherwise TIMER_RUN_MS from now. (The timer as it stands
    then, or None when the stack cannot say; a note when the wait was cut
    short by a segment.)"""
    reading = conv.endpoint.timer_reading(timer)
    if reading is None:
        return None, ""
    first = reading[0]
    tick = conv.endpoint.timer_tick_ms() or 0.0
    # A timer with more left than its full length was not armed as the
    # profile says: judge it by its own movement instead.
    exact = bool(tick) and reading[1] is not None and 0 < first <= length
    full = round(length / tick) if exact else 0
    expiries: dict[int, int] = {}  # the expiry (ticks) each tick's reading shows
    deadline = time.monotonic() + TIMER_RUN_BOUND
    while True:
        left, clock = reading
        if exact and clock is not None:
            expiries[clock] = clock + round(left / tick)
        ran = full - round(left / tick) >= RESTART_TICKS and len(expiries) >= READ_IN_TICKS if exact \
            else first - left >= TIMER_RUN_MS
        if ran or time.monotonic() >= deadline:
            break
        # nothing is expected while the timer runs: a segment wakes the wait
        packet = conv.next_packet(max(0.0005, tick / 4000) if exact else 0.02)
        if packet is not None:
            return None, f"the stack sent {packet.summary()} while {timer} ran"
        got = conv.endpoint.timer_reading(timer)
        if got is None:
            return None, ""
        reading = got
    if exact and len(expiries) >= READ_IN_TICKS:
        return TimerBefore(reading[0], min(expiries.values()), tick), ""
    return TimerBefore(reading[0]), ""


def _timer_check(conv: Conversation, index: int, transition: str, rule: tuple[str, str, bool], before: TimerBefore,
                 scope: tuple[Any, ...]) -> tuple[StepResult, Deviation | None] | None:
    """After the step: restarted or kept, against what the rule says; a
    difference is a deviation only when the profile documents it
    (``scope``: step_verdict's profile, transitions, settings, calls,
    injects, history and options). With the expiry known, by how far it
    moved (TimerBefore.restarted); without it, more time left than before
    means restarted. None when the timer no longer runs (the step left its
    state)."""
    timer, rfc, restart = rule
    t0 = time.perf_counter()
    reading = conv.endpoint.timer_reading(timer)
    if reading is None:
        return None
    after, clock = reading
    restarted = before.restarted(after, clock)
    want = f"timer {timer} {'restarted' if restart else 'kept'}"
    note = f"{timer}: {before.left} ms left before the step, {after} ms after"
    if restarted is None:
        note += f"; the stack's clock could not be read exactly to compare them ({rfc})"
        return StepResult(index, want, "fail", conv.observe().text(), want, "the stack's clock unreadable", note,
                          time.perf_counter() - t0, "", transition), None
    seen = f"timer {timer} {'restarted' if restarted else 'kept'}"
    verdict, deviation = step_verdict(restarted == restart, want, seen, *scope)
    moved = before.moved(after, clock)
    if moved is not None:
        note += f"; its expiry moved {moved} ticks of {before.tick:g} ms (kept: at most {RESTART_TICKS - 1}, " \
                f"restarted: at least {RESTART_TICKS})"
    note += f" ({rfc})"
    if deviation is not None:
        note += f"; {deviation.id}: {deviation.reference}"
    ok = verdict == "pass"
    return StepResult(index, want, verdict, conv.observe().text(), "" if ok else want, "" if ok else seen, note,
                      time.perf_counter() - t0, "", transition), deviation


def not_drivable(scenario: Scenario, profile: Profile, stack: Stack) -> str:
    """Why the stack cannot be driven through ``scenario`` ('' when it can):
    it needs a setting the stack can neither set nor has (its profile's
    [[setting]]), or it covers or walks through a transition its profile
    lists as not drivable (a suite generated for another stack may), or it
    has several connections and the stack plays one at a time, or it sends a
    segment the stack cannot be handed (the model stack: DATA, sequence numbers)."""
    if scenario.connections and not stack.several_connections:
        return f"several connections: {stack.name} plays one connection per scenario (Linux plays several)"
    for step in scenario.steps:
        lacks = stack.cannot_inject(step.segment, step.variant) if isinstance(step, Inject) else ""
        if lacks:
            return f"{step.text()}: {lacks}"
    for name, value in sorted(scenario.sysctls.items()):
        if stack.can_set(name):
            continue
        lacks = profile.lacks(name, value)
        if lacks:
            return f"needs {name} = {value}: {profile.name} cannot set it, and {lacks}"
    for tid in dict.fromkeys(scenario.transitions + scenario.walk):
        reason = profile.reason_not_drivable(tid)
        if reason:
            return f"{tid}: {reason}"
    # Entries scoped by the calls before the step: drivable elsewhere.
    calls: tuple[str, ...] = ()
    for step, tid in zip(scenario.steps, step_transitions(scenario), strict=True):
        reason = profile.reason_not_drivable(tid, calls) if tid else None
        if reason:
            return f"{tid} after {', '.join(calls)}: {reason}"
        if isinstance(step, Call):
            calls += (step.op,)
    return ""


def execute(stack: Stack, scenario: Scenario, profile: Profile) -> ScenarioResult:
    """Run ``scenario`` on a fresh endpoint of ``stack``; judge every step
    (none when the profile says the stack cannot be driven through it)."""
    start = time.perf_counter()
    reason = not_drivable(scenario, profile, stack)
    if reason:
        return ScenarioResult(scenario.name, scenario.transitions, "not drivable", [], 0.0, note=reason)
    if scenario.connections:
        from tcpcheck.tools.runner.crowd import play
        from tcpcheck.tools.runner.stacks.linux import LinuxStack

        assert isinstance(stack, LinuxStack)  # the one stack that plays several connections
        return play(stack, scenario)
    try:
        conv = stack.conversation(scenario.sysctls)
    except OSError as exc:
        return ScenarioResult(scenario.name, scenario.transitions, "fail", [], time.perf_counter() - start,
                              note=f"cannot set the scenario's sysctls {scenario.sysctls}: {exc}")
    conv.peer.timestamps = scenario.timestamps
    in_force = conv.settings
    # The plan: the scenario's steps with their transitions; after a
    # deviation its rest is replaced by the model's walk from where the
    # profile says the stack went (replay.py).
    # (the cached spec: load_spec would parse the TOML again, twice per scenario)
    tids = step_transitions(scenario)
    plan = [Planned(step, tid) for step, tid in zip(scenario.steps, tids, strict=True)]
    results: list[StepResult] = []
    deviations: list[str] = []
    stopped = ""
    recorded = 0  # state changes the stack recorded before the current step
    timer_before: TimerBefore | None = None  # the timer at stake in the current transition, before it
    rule: tuple[str, str, bool] | None = None  # that timer, and whether the transition must restart it
    try:
        _prepare(conv, scenario)
        index = 0
        while index < len(plan):
            item, index = plan[index], index + 1
            step, tid = item.step, item.transition
            text = step.text() + (REPLAYED if item.replayed else "")
            if stopped or item.skip:
                results.append(StepResult(index, text, "skipped", "", note=stopped or item.skip, transition=tid))
                continue
            if starts_transition(step):
                rule = _timer_rule(step, tid, results[-1].state.split(" ", 1)[0] if results else "")
            if rule is not None and starts_transition(step):
                # the timer must have run for a restart to show
                timer_before, cut = _let_timer_run(conv, rule[0], profile.timer_lengths.get(rule[0], 0))
                if cut:
                    results.append(StepResult(index, f"timer {rule[0]} runs", "fail", conv.observe().text(),
                                              "nothing sent", "a segment", cut, 0.0, "", tid))
                    stopped = f"not run: {cut}"
                    results.append(StepResult(index, text, "skipped", "", note=stopped, transition=tid))
                    continue
            t0 = time.perf_counter()
            try:
                ok, expected, observed, note = _run_step(conv, step)
            except SegmentError as exc:
                ok, expected, observed, note = False, step.text(), "cannot build the segment", str(exc)
            except OSError as exc:  # e.g. bind: address in use; the step could not be made
                ok, expected, observed, note = False, step.text(), "error", f"{step.text()}: {exc}"
            if not ok and item.lenient and observed == "call failed":
                # the model has no transition for this call here: an error is the RFC's answer
                ok, note = True, f"the call failed ({note}); the model has no transition for it here"
            state = conv.observe().text()
            changes = conv.endpoint.changes()
            path, recorded = path_text(changes[recorded:]), len(changes)
            done = [p.step for p in plan[:index]]
            calls = tuple(s.op for s in done if isinstance(s, Call))
            # a variant is in scope as SEGMENT:variant as well (e.g. SYN:old_window)
            injects = tuple(name for s in done if isinstance(s, Inject)
                            for name in (s.segment, f"{s.segment}:{s.variant}")[:2 if s.variant else 1])
            # An entry documents the transition of this step, not any the
            # scenario covers: the same difference elsewhere is a failure.
            here = (tid,) if tid else ()
            before = [p.transition for p in plan[:index - 1] if p.transition]
            while before and before[-1] == tid:
                before.pop()
            history, options = precondition(profile, tuple(before))
            verdict, deviation = step_verdict(ok, expected, observed, profile, here, in_force, calls, injects,
                                              history, options)
            if deviation is not None:
                deviations.append(deviation.id)
                note = f"{deviation.id}: {deviation.reference}" + (f" ({note})" if note else "")
            results.append(StepResult(index, text, verdict, state, expected if not ok else "",
                                       observed if not ok else "", note, time.perf_counter() - t0, path, tid))
            if verdict == "deviation" and deviation is not None and deviation.instead_to:
                results.append(_what_comes_next(conv, deviation, index, tid))
                if results[-1].verdict == "fail":
                    verdict = "fail"
                else:
                    # the scenario's steps of this transition are done; the
                    # rest is walked from the deviated state
                    end = index
                    while end < len(plan) and tid and plan[end].transition == tid:
                        end += 1
                    rest = plan[end:]
                    taken = tuple(dict.fromkeys(p.transition for p in plan[:index] if p.transition))
                    walk = replay(profile, deviation.instead_to, tuple(p.step for p in rest), taken, calls)
                    plan[index:] = list(walk.plan) + [Planned(s, skip=f"after {deviation.id}: {walk.stopped}")
                                                      for s in walk.rest]
                    continue
            if verdict == "deviation":
                stopped = f"the stack left the model's path at step {index} ({deviation.id if deviation else ''})"
            elif verdict == "fail":
                stopped = f"not run: step {index} failed"
            elif index == len(plan) or plan[index].transition != tid or not tid and (
                    index == len(plan) or starts_transition(plan[index].step)):
                if rule is not None and timer_before is not None:
                    scope = (profile, here, in_force, calls, injects, history, options)
                    checked = _timer_check(conv, index, tid, rule, timer_before, scope)
                    if checked is not None:
                        check, documented = checked
                        results.append(check)
                        if documented is not None:
                            deviations.append(documented.id)  # the state is on the path: the steps go on
                        elif check.verdict == "fail":
                            stopped = f"not run: step {index}: {check.expected}, but {check.observed}"
                            continue
                # The transition is complete: what is the user told?
                for told, documented in _told(conv, profile, index, tid, in_force, calls, injects, history,
                                              options):
                    results.append(told)
                    if documented is not None:
                        deviations.append(documented.id)  # the state is on the path: the steps go on
                    elif told.verdict == "fail":
                        stopped = f"not run: step {index} told the user something else"
    finally:
        packets = list(conv.packets)  # the pcap shows the scenario, not the teardown
        conv.close()
    for extension in profile.extensions(scenario.transitions):
        deviations.append(extension.id)
    # The model runs the implementation transitions because the profile turns
    # the option on; that a stack takes one is still a difference from RFC
    # 9293, a deviation only where the profile documents it as an extension.
    # Taken: every step of it passed (a deviating step means the stack went
    # elsewhere, as its profile says).
    verdicts_of: dict[str, set[str]] = {}
    for r in results:
        if r.transition in _non_rfc() and not profile.runs_the_spec:
            verdicts_of.setdefault(r.transition, set()).add(r.verdict)
    extended = {d.transition for d in profile.extensions(tuple(verdicts_of))}
    for tid, seen in verdicts_of.items():
        if seen == {"pass"} and tid not in extended:
            results.append(StepResult(
                len(scenario.steps), f"{tid} is not in RFC 9293", "fail", "", "no such transition",
                tid, f"the stack took it, and {profile.name}'s profile has no [[deviation]] kind = \"extension\" "
                "for it", 0.0, "", tid))
    verdicts = {r.verdict for r in results}
    verdict = "fail" if "fail" in verdicts else "deviation" if deviations else "pass"
    note = "; ".join(dict.fromkeys(
        f"{d.id}: {d.reference}" for d in profile.deviations if d.id in deviations
    ))
    return ScenarioResult(
        scenario.name, scenario.transitions, verdict, results, time.perf_counter() - start,
        sysctls=dict(sorted(conv.sysctls.items())), deviations=list(dict.fromkeys(deviations)), note=note,
        packets=packets,
    )

