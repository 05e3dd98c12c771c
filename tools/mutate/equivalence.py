"""Can any drivable walk tell a mutant from the spec? Machines compared.

The tester's machine (``wmethod.machine``: the spec's states with what the
application holds, inputs the socket calls, injected segments and timers
the tester can drive) is walked in lockstep with two endpoint machines,
the spec's and the mutant's (``model.endpoint``), under the runner's
observation: after each step the segments sent, as the judge names them
(``judge.classify``, ``judge.name_matches``: a RST,ACK satisfies an
expected RST), whether an ACK they carry acknowledges the same peer
segment as the spec's would, whether ``accept`` can be made, whether a
timer moved the state, and the state. The search is a breadth-first
bisimulation check over (tester node, spec valuation, mutant valuation,
what is still queued, ...): it either ends with no difference (the mutant
is *equivalent under the drivable alphabet*: no test can kill it) or
returns the shortest walk that shows one. That walk is a scenario; the
analysis replays it on the model stack to confirm the kill for real.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass

from tcpcheck.model.compose import wire_alphabet
from tcpcheck.model.endpoint import EndpointMachine, Local
from tcpcheck.tools.generate.paths import Hop
from tcpcheck.tools.generate.wmethod import Mealy
from tcpcheck.tools.runner.judge import classify, name_matches
from tcpcheck.tools.runner.packets import ACK, FIN, RST, SYN, Packet
from tcpcheck.tools.runner.stacks.model import accept_refused
from tcpcheck.tools.scenario import Call, Elapse, Expect, ExpectState, Inject, Step

_BITS = {"SYN": SYN, "ACK": ACK, "FIN": FIN, "RST": RST}
_CARRIES_ACK = ("SYN_ACK", "ACK", "ACK_OF_FIN", "FIN", "FIN_ACK_OF_FIN", "RST_ACK")


@dataclass(frozen=True)
class _Side:
    """One endpoint machine as the runner sees it between steps."""

    local: Local
    listened: bool = False
    queued: tuple[str, ...] = ()  # wires sent and not yet taken by an expect


# (tester node, the spec's side, the mutant's side, whether their ACKs agree)
_Key = tuple[Hashable, _Side, _Side, bool]


class Lockstep:
    """The spec's and a mutant's endpoint machines under one tester machine."""

    def __init__(self, tester: Mealy, spec: EndpointMachine, mutant: EndpointMachine) -> None:
        self.tester = tester
        self.machines = (spec, mutant)
        self._calls = {op: e.name for e in spec.spec.events.values() if e.kind == "call" for op in e.socket}
        self._seen_as = {name: seen_as(w.flags) for name, w in wire_alphabet(spec.spec).items()}
        self._control = [{t.id for t in m.spec.transitions if m.spec.events[t.event].flags & {"SYN", "FIN"}}
                         for m in self.machines]

    def distinguishing_walk(self) -> list[Hop] | None:
        """The shortest walk of the tester machine on which the mutant's
        observations differ from the spec's, or None (equivalent)."""
        start: _Key = (self.tester.initial, _Side(self.machines[0].initial), _Side(self.machines[1].initial), True)
        back: dict[_Key, tuple[_Key, Hop] | None] = {start: None}
        todo: deque[_Key] = deque([start])
        while todo:
            here = todo.popleft()
            node, spec_side, mutant_side, same_rcv = here
            for name in self.tester.inputs(node):
                hop = self.tester.hop_of[(node, name)]
                nxt = self._hop(hop.realised.steps, spec_side, mutant_side, same_rcv)
                if nxt is None:
                    return [*self._walk(back, here), hop]
                state: _Key = (self.tester.delta[(node, name)][1], *nxt)
                if state not in back:
                    back[state] = (here, hop)
                    todo.append(state)
        return None

    @staticmethod
    def _walk(back: dict[_Key, tuple[_Key, Hop] | None], state: _Key) -> list[Hop]:
        out: list[Hop] = []
        link = back[state]
        while link is not None:
            state, hop = link
            out.append(hop)
            link = back[state]
        return out[::-1]

    def _hop(self, steps: tuple[Step, ...], spec_side: _Side, mutant_side: _Side,
             same_rcv: bool) -> tuple[_Side, _Side, bool] | None:
        """Both sides after ``steps``; None when the mutant fails one."""
        sides = [spec_side, mutant_side]
        for step in steps:
            if isinstance(step, Expect):
                seen = []
                for i, side in enumerate(sides):
                    first, rest = (side.queued[0], side.queued[1:]) if side.queued else ("", ())
                    seen.append(first)
                    sides[i] = _Side(side.local, side.listened, rest)
                observed = self._seen_as[seen[1]] if seen[1] else "NONE"
                if step.segment == "NONE":
                    if seen[1]:
                        return None
                elif not name_matches(step.segment, observed):
                    return None
                elif step.segment in _CARRIES_ACK and observed != "RST" and not same_rcv:
                    return None  # its ACK field differs from the spec's
                continue
            if isinstance(step, ExpectState):
                if self.machines[1].state(sides[1].local) != step.state:
                    return None
                continue
            accepted = []
            for i, side in enumerate(sides):
                moved = self._trigger(i, side, step)
                if moved is None:
                    if i == 0:
                        raise RuntimeError(f"the tester machine's step {step.text()} fails on the spec itself")
                    return None
                sides[i], took_control = moved
                accepted.append(took_control)
            if accepted[0] != accepted[1]:
                same_rcv = False
            elif accepted[0]:
                same_rcv = True  # both acknowledge the same peer segment now
        return sides[0], sides[1], same_rcv

    def _trigger(self, which: int, side: _Side, step: Step) -> tuple[_Side, bool] | None:
        """The side after a call, an injected segment or a timer, and whether
        it accepted a SYN or FIN of the peer (which moves its RCV.NXT);
        None when the step itself fails (accept refused, a timer that did
        not move the state)."""
        machine = self.machines[which]
        state = machine.state(side.local)
        if isinstance(step, Call):
            if step.op == "accept":
                refused = accept_refused(machine.spec, state, side.listened)
                return None if refused else (side, False)
            if step.op == "recv":
                return side, False
            event = self._calls[step.op]
            outcome = machine.step(side.local, "call", event)
            if outcome is None:
                return side, False
            return _Side(outcome.after, side.listened or event == "listen", side.queued + outcome.sends), False
        if isinstance(step, Inject):
            outcome = machine.step(side.local, "rcv", step.segment)
            assert outcome is not None
            control = any(t in self._control[which] for t in outcome.transitions)
            return _Side(outcome.after, side.listened, side.queued + outcome.sends), control
        assert isinstance(step, Elapse)
        outcome = machine.step(side.local, "timer", step.timer)
        if outcome is None or machine.state(outcome.after) == state:
            return None
        return _Side(outcome.after, side.listened, side.queued + outcome.sends), False


def seen_as(flags: frozenset[str]) -> str:
    """What the judge calls a segment with these flags (``judge.classify``)."""
    return classify(Packet("0.0.0.0", "0.0.0.0", 0, 0, 0, 0, sum(_BITS[f] for f in flags)))
