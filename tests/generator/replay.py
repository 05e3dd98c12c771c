"""An independent reading of a scenario against the spec: walk the RFC
machine of specs/tcp.toml step by step and check that every expectation is
what the spec says. Written apart from tools/generate so that a generator
bug cannot agree with itself."""

from __future__ import annotations

from tcpcheck.model.compose import wire_alphabet
from tcpcheck.model.spec import Spec, Transition
from tcpcheck.tools.scenario import Call, Elapse, Expect, ExpectState, Inject, Scenario

ACK_RANK = {"fin": 2, "syn": 1, "none": 0}


def _guard_ok(t: Transition, passive: bool) -> bool:
    if t.when is None:
        return True
    if t.when == "self.passive":
        return passive
    if t.when == "not self.passive":
        return not passive
    raise AssertionError(f"replay does not know the guard {t.when!r}")


def replay(spec: Spec, options: dict[str, bool], scenario: Scenario) -> list[str]:
    """The transition ids the scenario takes; AssertionError at the first
    step the spec does not allow."""
    enabled = spec.enabled({**spec.options, **options})
    wires = wire_alphabet(spec)
    state, passive, taken = spec.initial, False, []
    pending: list[str] = []  # segments the last transition sends, still to be expected
    target = None
    for n, step in enumerate(scenario.steps, start=1):
        where = f"{scenario.name} step {n} ({step.text()}) in {state}"
        if isinstance(step, Call) and step.op == "accept":
            assert state == "ESTABLISHED" and passive, where
            continue
        if isinstance(step, (Call, Inject, Elapse)):
            assert not pending, f"{where}: the stack should still send {pending}"
            if isinstance(step, Call):
                cands = [t for t in enabled if t.source == state and step.op in spec.events[t.event].socket]
            elif isinstance(step, Elapse):
                cands = [t for t in enabled if t.source == state and t.event == step.timer]
            else:
                w = wires[step.segment]
                matching = []
                for t in enabled:
                    ev = spec.events[t.event]
                    if t.source != state or ev.kind != "rcv" or ev.flags != w.flags:
                        continue
                    if (ev.acks == "fin" and not w.acks_fin) or (ev.acks == "syn" and not w.acks_syn):
                        continue
                    matching.append(t)
                # The most specific event the state has a transition for.
                best = max((ACK_RANK[spec.events[t.event].acks] for t in matching), default=0)
                cands = [t for t in matching if ACK_RANK[spec.events[t.event].acks] == best]
            cands = [t for t in cands if _guard_ok(t, passive)]
            if len(cands) > 1 and len(taken) < len(scenario.walk):
                # The spec is nondeterministic here (e.g. Note 3's ABORT to
                # TIME_WAIT): the scenario names which branch it expects.
                cands = [t for t in cands if t.id == scenario.walk[len(taken)]]
            assert len(cands) == 1, f"{where}: the spec allows {[t.id for t in cands]}"
            t = cands[0]
            taken.append(t.id)
            if t.event == "listen":
                passive = True
            pending = list(t.sends) or ["NONE"]
            target = t.target
            continue
        if isinstance(step, Expect):
            assert pending and pending[0] == step.segment, f"{where}: the spec sends {pending}"
            pending.pop(0)
            continue
        assert isinstance(step, ExpectState)
        assert not pending, f"{where}: the stack should still send {pending}"
        if target is not None:
            state, target = target, None
        assert step.state == state, f"{where}: the spec is in {state}"
    assert not pending, f"{scenario.name}: ends before the stack sends {pending}"
    assert taken == list(scenario.walk), f"{scenario.name}: walk {scenario.walk} but the steps take {taken}"
    return taken
