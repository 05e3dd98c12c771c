"""Hypothesis stateful testing: random walks of the model, in lockstep with
the real stack.

``lockstep_machine`` builds a ``RuleBasedStateMachine`` whose rules are the
model's events (one rule per event: ``listen``, ``connect``, ``close``,
``abort``, ``rcv_SYN``, ``rcv_FIN``, ...), each enabled only when the
model's current state has a drivable transition on it. A rule takes the
transition on the model and drives the same step on the stack through the
runner (socket call, injected segment, expected segments); the invariant
after every step is that the stack's observed state is the model's, modulo
the deviations the stack's profile documents (a documented deviation ends
the walk: the stack has left the model's path). A failure is shrunk by
Hypothesis to a minimal walk and reported as a scenario (JSON) that
``tcpcheck run`` can replay.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from hypothesis import note
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from tcpcheck.tools.generate.drivable import DriveModel
from tcpcheck.tools.generate.paths import Explorer, Hop, scenario_of
from tcpcheck.tools.scenario import Call, Elapse, Expect, ExpectState, Inject, Scenario, Step


class Diverged(AssertionError):
    """The stack left the model: the message holds the minimal walk as a scenario."""


def walk_scenario(model: DriveModel, walk: list[Hop]) -> Scenario:
    """The walk so far as a replayable scenario."""
    return scenario_of(model, "hypothesis_walk", walk, "minimal walk found by Hypothesis")


def _drive(conv: Any, step: Step) -> tuple[bool, str, str]:
    """Do one step on the stack: (as the model says, expected, observed)."""
    from tcpcheck.tools.runner.judge import state_text

    if isinstance(step, Call):
        conv.call(step.op, step.arg)
        return True, "", ""
    if isinstance(step, Inject):
        conv.inject(step.segment, step.variant)
        return True, "", ""
    if isinstance(step, Expect):
        match = conv.expect(step.segment)
        return match.ok, step.segment, match.observed
    if isinstance(step, ExpectState):
        seen = conv.observe()
        return seen.state == step.state, state_text(step.state), state_text(seen.state)
    if isinstance(step, Elapse):
        before = conv.observe()
        after = conv.elapse(step.timer)
        return after.state != before.state, f"{step.timer} fires", f"still {before.state}"
    raise TypeError(f"not a step: {step!r}")


def lockstep_machine(
    model: DriveModel,
    harness: Any,
    profile: Any,
    timers: bool = False,
    explorer: Explorer | None = None,
) -> type[RuleBasedStateMachine]:
    """A state machine class walking ``model`` on the stack ``harness`` (a
    ``tcpcheck.tools.runner.stack.Stack``), judged with ``profile``. Timer
    events are left out unless ``timers`` (they wait for real time)."""
    ex = explorer or Explorer(model)
    events = [name for name, ev in model.spec.events.items() if timers or ev.kind != "timer"]

    def init(self: Any) -> None:
        RuleBasedStateMachine.__init__(self)
        self.node = ex.start
        self.walk = []
        self.ended = False
        self.conv = harness.conversation({})

    def options(self: Any, event: str) -> list[Hop]:
        if self.ended:
            return []
        hops = [h for h in ex.succ.get(self.node, []) if h.edge.transition.event == event]
        return [h for h in hops if not h.edge.slow and not h.edge.sysctls]

    def take(self: Any, hop: Hop) -> None:
        self.walk.append(hop)
        note(f"{hop.id} via {', '.join(s.text() for s in hop.realised.steps)}")
        transitions = tuple(h.id for h in self.walk)
        in_force = self.conv.settings
        done = [s for h in self.walk[:-1] for s in h.realised.steps]
        for n, step in enumerate(hop.realised.steps):
            ok, expected, observed = _drive(self.conv, step)
            if ok:
                continue
            before = [*done, *hop.realised.steps[: n + 1]]
            calls = tuple(s.op for s in before if isinstance(s, Call))
            injects = tuple(s.segment for s in before if isinstance(s, Inject))
            if profile.find(expected, observed, transitions, in_force, calls, injects) is not None:
                note(f"documented deviation at {step.text()}: {observed}; the walk ends here")
                self.ended = True
                return
            scenario = walk_scenario(model, self.walk)
            lines = "\n".join(f"  {s.text()}" for s in scenario.steps)
            raise Diverged(
                f"after {hop.id}, {step.text()}: expected {expected}, the stack gave {observed}\n"
                f"minimal walk:\n{lines}\n"
                "as a scenario (save as FILE.json, replay with tcpcheck run FILE.json):\n"
                + json.dumps(scenario.to_json(), indent=1)
            )
        self.node = hop.dst
        self.ended = ex.ends_walk(hop)

    def make_rule(event: str) -> Callable[..., None]:
        @precondition(lambda self: bool(options(self, event)))
        @rule(data=st.data())
        def fire(self: Any, data: Any) -> None:
            hops = options(self, event)
            hop = hops[0] if len(hops) == 1 else data.draw(st.sampled_from(hops), label="realisation")
            take(self, hop)

        fire.__name__ = event if model.spec.events[event].kind != "rcv" else f"rcv_{event}"
        return fire

    @precondition(lambda self: self.ended)
    @rule()
    def new_connection(self: Any) -> None:
        # The model's reset: the next walk starts from CLOSED on a fresh 4-tuple.
        self.conv.close()
        self.conv = harness.conversation({})
        self.node, self.walk, self.ended = ex.start, [], False

    def state_matches(self: Any) -> None:
        # Checked by the expect_state step of every hop; here only that the
        # model itself is consistent: a node we are in was explored.
        assert self.ended or self.node in ex.succ

    def teardown(self: Any) -> None:
        self.conv.close()

    body: dict[str, Any] = {"__init__": init, "teardown": teardown, "new_connection": new_connection,
                            "state_matches": invariant()(state_matches)}
    for event in events:
        fn = make_rule(event)
        body[fn.__name__] = fn
    return type("TcpLockstep", (RuleBasedStateMachine,), body)
