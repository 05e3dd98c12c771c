"""What the spec says about one state, in words: what it waits for, how an
endpoint gets there, and whether only the active or only the passive
closer can be in it.

Everything here is derived from ``specs/tcp.toml`` (states, transitions,
events, segments); nothing about TCP is written in this module. The
census of live sockets and the capture checker both explain what they see
with it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from tcpcheck.model.spec import Spec, Transition

# The closing role an endpoint can have reached a state in: it sent its FIN
# before receiving the peer's ("active"), or received first ("passive").
ACTIVE, PASSIVE = "active", "passive"


def normal_transitions(spec: Spec, options: dict[str, bool] | None = None) -> tuple[Transition, ...]:
    """The transitions of the classic figure's paths (client, server,
    simultaneous) and the enabled implementation ones: what an endpoint does
    when nothing goes wrong."""
    enabled = spec.enabled({**spec.options, **(options or {})})
    return tuple(t for t in enabled if t.path != "error")


def _sends_fin(spec: Spec, t: Transition) -> bool:
    return any("FIN" in spec.segments[s].flags for s in t.sends)


def _receives_fin(spec: Spec, t: Transition) -> bool:
    event = spec.events[t.event]
    return event.kind == "rcv" and "FIN" in event.flags


def closer_roles(spec: Spec, options: dict[str, bool] | None = None) -> dict[str, frozenset[str]]:
    """For each state: the closing roles in which an endpoint reaches it from
    the initial state without errors (empty: before any FIN). A
    breadth-first walk over (state, who sent the first FIN)."""
    roles: dict[str, set[str]] = {s: set() for s in spec.state_names}
    transitions = normal_transitions(spec, options)
    # As in the composition, an endpoint runs one connection: once it has
    # left the initial state it does not open again.
    seen: set[tuple[str, str, bool]] = {(spec.initial, "", False)}
    todo = deque(seen)
    while todo:
        state, role, opened = todo.popleft()
        if role:
            roles[state].add(role)
        for t in transitions:
            if t.source != state or (opened and t.source == spec.initial):
                continue
            if role and "SYN" in spec.events[t.event].flags:
                continue  # a SYN after the close began opens another incarnation (RFC 6191)
            new = role
            if not role and _sends_fin(spec, t):
                new = ACTIVE
            elif not role and _receives_fin(spec, t):
                new = PASSIVE
            key = (t.target, new, opened or t.target != spec.initial)
            if key not in seen:
                seen.add(key)
                todo.append(key)
    return {s: frozenset(r) for s, r in roles.items()}


def waits_for(spec: Spec, state: str, options: dict[str, bool] | None = None) -> tuple[Transition, ...]:
    """The transitions that take an endpoint out of ``state`` when nothing
    goes wrong: what the state is waiting for."""
    return tuple(t for t in normal_transitions(spec, options) if t.source == state and t.target != state)


def path_to(spec: Spec, source: str, target: str, options: dict[str, bool] | None = None) -> tuple[Transition, ...]:
    """A shortest walk from ``source`` to ``target`` over the normal
    transitions (empty when ``source == target`` or there is none)."""
    transitions = normal_transitions(spec, options)
    previous: dict[str, Transition | None] = {source: None}
    todo = deque([source])
    while todo:
        state = todo.popleft()
        if state == target:
            break
        for t in transitions:
            if t.source == state and t.target not in previous:
                previous[t.target] = t
                todo.append(t.target)
    if target not in previous:
        return ()
    walk: list[Transition] = []
    here = target
    while (step := previous[here]) is not None:
        walk.append(step)
        here = step.source
    return tuple(reversed(walk))


def event_text(spec: Spec, t: Transition) -> str:
    """The event of ``t`` in words: ``CLOSE (close, shutdown_wr)``, ``the
    peer's FIN``, ``timer timeout_2msl (the TIME_WAIT timer (2 MSL) expires)``."""
    event = spec.events[t.event]
    if event.kind == "call":
        calls = ", ".join(event.socket)
        return f"the application's {spec_call(spec, t.event)}" + (f" ({calls})" if calls else "")
    if event.kind == "timer":
        return f"timer {event.name}" + (f" ({event.meaning})" if event.meaning else "")
    return f"the peer's {event.name.replace('_', ' ')}"


def spec_call(spec: Spec, event: str) -> str:
    """The RFC's name of a user call event (``CLOSE`` for ``close``)."""
    return spec.events[event].rfc_call or event


def transition_text(spec: Spec, t: Transition) -> str:
    """``CLOSE_WAIT --the application's close()--> LAST_ACK, sending FIN``."""
    sends = f", sending {', '.join(t.sends)}" if t.sends else ""
    return f"{t.source} --{event_text(spec, t)}--> {t.target}{sends}"


@dataclass(frozen=True)
class StateStory:
    """One state explained from the spec."""

    state: str
    meaning: str
    rfc: str
    roles: frozenset[str]  # ACTIVE and/or PASSIVE: who can be here
    waits_for: tuple[Transition, ...]
    reached_by: tuple[Transition, ...]  # a shortest normal walk from the initial state

    def role_text(self) -> str:
        """``only the active closer`` / ``only the passive closer`` / ``''``."""
        if self.roles == {ACTIVE}:
            return "only the active closer (the side that sent the first FIN) reaches it"
        if self.roles == {PASSIVE}:
            return "only the passive closer (the side that received the first FIN) reaches it"
        return ""


def story(spec: Spec, state: str, options: dict[str, bool] | None = None) -> StateStory:
    """Everything the spec says about ``state``, for a sentence in a report."""
    st = spec.state(state)
    return StateStory(state, st.meaning, st.rfc, closer_roles(spec, options)[state], waits_for(spec, state, options),
                      path_to(spec, spec.initial, state, options))
