"""What comes after a documented deviation: the scenario's remaining
acting steps replayed as a walk of the model from the state the profile
says the stack is in (``instead.to``).

A scenario's later steps were written for the RFC path, which the stack
left at the deviation. They are not skipped: each remaining call, injected
segment and timer is the event of a transition of the model (the spec under
the profile's options) from the state reached so far, and that transition's
segments and target state replace the scenario's own expectations. So the
rfc1337 deviation (a RST in TIME_WAIT is ignored) is followed by a
retransmitted FIN that the stack must acknowledge from TIME_WAIT, not answer
with the RST the RFC's CLOSED would send.

Where the model has no transition for a call in the current state, the call
does nothing (as the loopback judge reads it: nothing sent, the state
kept). Where it has none for a segment or a timer, or the profile says the
transition cannot be driven, the walk stops there and says why; the steps
after it are skipped with that reason, never judged against a guess.
"""

from __future__ import annotations

from dataclasses import dataclass

from tcpcheck.model.compose import wire_alphabet
from tcpcheck.model.spec import Spec, Transition
from tcpcheck.tools.generate.drivable import (
    FD_CONN,
    FD_LISTENER,
    FD_NONE,
    FD_ORPHAN,
    Context,
    DriveModel,
    Edge,
    build_drive_model,
    guard_holds,
    history_after,
)
from tcpcheck.tools.runner.profile import Profile
from tcpcheck.tools.scenario import Call, Elapse, Expect, ExpectState, Inject, Step, starts_transition

REPLAYED = " (after deviation)"  # how a replayed step is marked in results


@dataclass(frozen=True)
class Planned:
    """One step of the plan the executor follows, with its transition."""

    step: Step
    transition: str = ""  # spec transition id ("" for set-up, glue, a call that does nothing)
    replayed: bool = False  # derived from the model after a deviation, not written in the scenario
    lenient: bool = False  # a call the model has no transition for: an error from it is what the RFC says
    skip: str = ""  # not run, and why (after a walk that stopped)


@dataclass(frozen=True)
class Replay:
    """The remaining steps as a walk from the deviated state, and where and
    why the walk stopped ('' when it covered every remaining step)."""

    plan: tuple[Planned, ...]
    stopped: str = ""
    rest: tuple[Step, ...] = ()  # the scenario's steps not replayed (after ``stopped``)


_MODELS: dict[int, tuple[Profile, DriveModel]] = {}


def _model(profile: Profile) -> DriveModel:
    """The drive model under the profile's options (built once per profile;
    the profile is kept with it so that its id stays its own)."""
    kept = _MODELS.get(id(profile))
    if kept is None or kept[0] is not profile:
        spec = _spec()
        kept = _MODELS[id(profile)] = (profile, build_drive_model(spec, {**spec.options, **profile.options}, profile))
    return kept[1]


def _spec() -> Spec:
    """The spec the replay walks: the embedded one, parsed once per process
    (a test puts a mutant here)."""
    from tcpcheck.model.spec import embedded_spec

    return embedded_spec()


def history_of(spec: Spec, transitions: tuple[str, ...], guard_vars: tuple[str, ...]) -> frozenset[str]:
    """The guard history (``when`` variables) after taking ``transitions``."""
    by_id = {t.id: t for t in spec.transitions}
    history: frozenset[str] = frozenset()
    for tid in transitions:
        t = by_id.get(tid)
        if t is not None:
            history = history_after(history, t, guard_vars)
    return history


def precondition(profile: Profile, taken: tuple[str, ...]) -> tuple[frozenset[str], dict[str, bool]]:
    """What a profile entry's ``when`` and ``options`` are judged on: the
    history variables after ``taken`` (the transitions before the step's),
    and the model options a comparison with this profile runs under."""
    model = _model(profile)
    return history_of(model.spec, taken, model.guard_vars), dict(model.options)


def _triggered(model: DriveModel, edge: Edge, step: Step, exact: bool) -> bool:
    """Is ``step`` the event of ``edge``? An injected segment is, exactly,
    the edge's own segment; or (``exact`` false) one with the same flags:
    what its ACK covers depends on the receiver's history, which the
    deviation changed (an ACK_OF_FIN to a CLOSED endpoint is an ACK)."""
    if isinstance(step, Call):
        return edge.kind == "call" and step.op in edge.trigger.split(",")
    if isinstance(step, Inject):
        if edge.kind != "rcv":
            return False
        if exact:
            return step.segment == edge.trigger
        wire = wire_alphabet(model.spec).get(step.segment)
        flags = wire.flags if wire is not None else frozenset({"ACK"})  # DATA: an ACK with text
        return flags == model.spec.events[edge.transition.event].flags
    return isinstance(step, Elapse) and edge.kind == "timer" and step.timer == edge.trigger


def context_after(calls: tuple[str, ...], history: frozenset[str]) -> Context:
    """What the application holds after ``calls`` (the drive model's
    context: a listener, a descriptor on the connection, an orphan)."""
    fd, listener = FD_NONE, False
    for op in calls:
        if op == "listen":
            fd, listener = FD_LISTENER, True
        elif op in ("connect", "accept"):
            fd = FD_CONN
        elif op in ("close", "abort"):
            if fd == FD_LISTENER:
                fd, listener = FD_NONE, False
            elif fd == FD_CONN:
                fd = FD_ORPHAN
    return Context(history, fd, listener)


def replay(profile: Profile, start: str, rest: tuple[Step, ...], taken: tuple[str, ...],
           calls: tuple[str, ...]) -> Replay:
    """Walk the model from ``start`` along the acting steps of ``rest`` (the
    scenario's steps after the deviating transition); ``taken``: the
    transitions taken so far (the deviated one included), for the guards;
    ``calls``: the socket calls made so far (what the application holds,
    and the profile's scoped not-drivable entries)."""
    model = _model(profile)
    ctx = context_after(calls, history_of(model.spec, taken, model.guard_vars))
    state, plan = start, []
    acting = [n for n, s in enumerate(rest) if starts_transition(s) or isinstance(s, Call)]
    for n in acting:
        step = rest[n]
        if isinstance(step, Call) and step.op == "accept":
            plan.append(Planned(step, "", True, True))  # the sockets API's glue, no transition
            calls += (step.op,)
            ctx = context_after(calls, ctx.history)
            continue
        edges = [e for e in model.out_edges(state) if guard_holds(e.transition.when, ctx.history)]
        edges = [e for e in edges if _triggered(model, e, step, True)] or \
            [e for e in edges if _triggered(model, e, step, False)]
        ways, why = [], []
        for edge in edges:
            realised, reason = model.realise(edge, ctx)
            ways += [(edge, r) for r in realised if not isinstance(step, Call) or r.call == step.op]
            why += [f"{edge.id}: {reason}"] if reason else []
        if not ways:
            if isinstance(step, Call) and not edges:
                # the model has nothing for this call here: it does nothing
                plan += [Planned(step, "", True, True), Planned(Expect("NONE"), "", True),
                         Planned(ExpectState(state), "", True)]
                calls += (step.op,)
                ctx = context_after(calls, ctx.history)
                continue
            reason = "; ".join(why) or f"the model has no transition for {step.text()} in {state}"
            return Replay(tuple(plan), reason, rest[n:])
        edge, way = ways[0]
        t: Transition = edge.transition
        blocked = profile.reason_not_drivable(t.id, calls)
        if blocked:
            return Replay(tuple(plan), f"{t.id} is not drivable: {blocked}", rest[n:])
        # the scenario's own step (its variant, its segment name) triggers the edge
        plan += [Planned(s if k else step, t.id, True) for k, s in enumerate(way.steps)]
        state, ctx = t.target, way.after
        if isinstance(step, Call):
            calls += (step.op,)
        if way.terminal and n != acting[-1]:
            return Replay(tuple(plan), f"the model's walk ends after {t.id}", rest[n + 1:])
    return Replay(tuple(plan))
