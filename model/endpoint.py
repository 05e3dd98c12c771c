"""One endpoint of the composed system, run step by step.

The composition (``compose.build_system``) is the one description of how an
endpoint reacts to a user call, a timer or a received segment: which
transitions a segment dispatches to (RFC 9293 §3.10.7), the history it
records, the wire variant it sends. ``EndpointMachine`` runs endpoint A of
that system on its own, with nothing in flight but what it is handed: a
received segment is put at the head of A's inbound channel, the enabled
command of A is taken, and what it appended to the outbound channel is
what A sent. The model stack of the runner executes a spec (or a mutant)
this way, and the mutation analysis compares machines built from it, so
both see exactly what the checker checks.

Pure: no I/O beyond loading the spec. Steps are memoised per (endpoint
valuation, input), so a long run costs a dictionary lookup per step.
"""

from __future__ import annotations

from dataclasses import dataclass

from tcpcheck.model import gcl
from tcpcheck.model.compose import ModelOptions, build_system, wire_alphabet
from tcpcheck.model.family import compiled, required_value
from tcpcheck.model.spec import Spec

# Inputs: ("call", event), ("timer", event), ("rcv", wire name).
Input = tuple[str, str]
Local = tuple[int, ...]  # the values of endpoint A's variables, in ``EndpointMachine.fields`` order
# The most segments one step sends (a chain of two transitions, one each,
# with room to spare); build_system's channel bound.
_ROOM = 3


@dataclass(frozen=True)
class Outcome:
    """What one input did: the valuation after, the wires sent, the spec
    transitions taken (empty when the segment was ignored)."""

    after: Local
    sends: tuple[str, ...]
    transitions: tuple[str, ...]
    choices: int = 1  # distinct outcomes the machine allowed (1: deterministic); the first is taken


class EndpointMachine:
    """Endpoint A of ``build_system(spec)`` as a deterministic step function."""

    def __init__(self, spec: Spec, spec_options: dict[str, bool] | None = None,
                 system: gcl.System | None = None) -> None:
        """``system``: ``build_system(spec, ...)`` already built with these
        spec options, no faults and room for two segments (else built here)."""
        self.spec = spec
        self.options = ModelOptions(bound=_ROOM, spec_options=dict(spec_options or {}))
        system = system or build_system(spec, self.options)
        self.system = system
        self.fields: tuple[str, ...] = tuple(system.endpoints["A"])
        self._vars = tuple(system.endpoints["A"][f] for f in self.fields)
        self._state_values = system.vars[system.endpoints["A"]["state"]].values
        self._inbound = system.channels["BA"]
        self._out_slots = tuple(system.channels["AB"])
        self._slot_names = system.vars[self._out_slots[0]].values
        self._codes = {w: system.vars[self._inbound[0]].values.index(w) for w in wire_alphabet(spec)}
        self.initial: Local = tuple(system.init[v] for v in self._vars)
        # Commands by input and by the value of A.state their guard requires
        # (every endpoint command tests its state), so a step looks at a few.
        state_var = system.endpoints["A"]["state"]
        self._by_input: dict[tuple[str, str, int], list[gcl.Command]] = {}
        for command in system.commands:
            action = command.action
            if action.actor != "A":
                continue
            if action.kind in ("call", "timer"):
                key = (action.kind, action.event)
            elif action.kind in ("rcv", "ignore"):
                key = ("rcv", action.received)
            else:
                continue
            value = required_value(command.guard, state_var)
            for v in range(len(self._state_values)) if value is None else (value,):
                self._by_input.setdefault((*key, v), []).append(command)
        self._memo: dict[tuple[Local, Input], tuple[Outcome, ...]] = {}

    # -- reading a valuation -----------------------------------------------------

    def state(self, local: Local) -> str:
        """The RFC state of valuation ``local``."""
        return self._state_values[local[0]]

    def history(self, local: Local) -> dict[str, bool]:
        """The history variables of valuation ``local``, by name."""
        return {f: bool(v) for f, v in zip(self.fields[1:], local[1:], strict=True)}

    def inputs(self) -> list[Input]:
        """Every input some state of the machine reacts to, sorted."""
        return sorted({(kind, name) for kind, name, _ in self._by_input})

    def wires(self) -> list[str]:
        """The segments that can be received, in the wire alphabet's order."""
        return list(self._codes)

    # -- stepping -------------------------------------------------------------------

    def step(self, local: Local, kind: str, name: str) -> Outcome | None:
        """Apply input ``(kind, name)`` in valuation ``local`` (the first
        outcome where the machine allows several). A received segment always
        has an outcome (at worst: ignored); a call or timer with no
        transition in this state has none (None)."""
        outs = self.outcomes(local, kind, name)
        if not outs:
            return None
        first = outs[0]
        return first if len(outs) == 1 else Outcome(first.after, first.sends, first.transitions, len(outs))

    def outcomes(self, local: Local, kind: str, name: str) -> tuple[Outcome, ...]:
        """Every distinct outcome of input ``(kind, name)`` in ``local``, in
        the composition's command order."""
        key = (local, (kind, name))
        found = self._memo.get(key)
        if found is None:
            found = self._memo[key] = self._outcomes(local, kind, name)
        return found

    def _outcomes(self, local: Local, kind: str, name: str) -> tuple[Outcome, ...]:
        if kind == "rcv" and name not in self._codes:
            raise ValueError(f"unknown segment {name!r}; the wire alphabet is {', '.join(self._codes)}")
        full = list(self.system.init)
        for var, value in zip(self._vars, local, strict=True):
            full[var] = value
        if kind == "rcv":
            full[self._inbound[0]] = self._codes[name]
        state = tuple(full)
        outcomes: list[Outcome] = []
        width = len(state)
        for command in self._by_input.get((kind, name, local[0]), []):
            after = compiled(command, width)(state)
            if after is None:
                continue
            if kind == "rcv" and after[self._inbound[0]] != 0:
                continue  # only commands that consume the segment at the head
            out = Outcome(tuple(after[v] for v in self._vars),
                          tuple(self._slot_names[after[v]] for v in self._out_slots if after[v]),
                          command.action.transitions)
            if out not in outcomes:
                outcomes.append(out)
        if not outcomes and kind == "rcv":
            raise RuntimeError(f"the composition has no command for {name} in {self.state(local)}")
        return tuple(outcomes)
