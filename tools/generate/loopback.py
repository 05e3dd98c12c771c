"""Loopback suites: scenarios for two real endpoints on ``lo``, derived from
the composed two-endpoint model (``model.compose``).

The search runs over the model's global states together with what each
application holds (nothing, a listener, a descriptor on the connection, or
an orphan after close()), using only what socket calls and the runner's
schedule can do: a side's socket call (a call event it realises), or
delivering the segment at the head of a channel (the runner holds every
segment until its step says to deliver it). No timers, no loss. A passive
side accept()s its connection as soon as the handshake has completed.
Transitions the profile cannot drive, or where Linux documents that it does
something else in the same context (``specs/profiles/linux.toml``), are not
taken.

The suite holds, deterministically (breadth-first, in the model's command
order):

* one scenario per reachable pair of states (A's, B's): the shortest
  schedule of calls and deliveries that reaches it;
* one per (side, transition) no pair scenario takes: every abort in each
  synchronized state on either side, every close, every segment's effect;
* one per documented deviation with an ``instead`` that socket calls can
  provoke (close with unread data: RFC 2525's RST; closing a listener with
  a connection in SYN_RCVD or still unaccepted), continued until nothing is
  in flight, so the peer's reaction is checked too.

Each scenario holds both sides' segments from the start; after every
action it expects the segments the model sends and the new state.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

from tcpcheck.model.compose import ModelOptions, build_system
from tcpcheck.model.explicit import compile_successors
from tcpcheck.tools.generate.drivable import DriveModel, guard_holds
from tcpcheck.tools.generate.paths import slug
from tcpcheck.tools.generate.suite import Suite
from tcpcheck.tools.runner.profile import Deviation
from tcpcheck.tools.scenario import Call, Deliver, Expect, ExpectState, Hold, Scenario, Step

SIDES = ("A", "B")
BOUND = 3
DRAIN_LIMIT = 12
NONE, LISTENER, CONN, ORPHAN = "none", "listener", "conn", "orphan"
PAIR_NAMES = {
    ("FIN_WAIT_2", "CLOSE_WAIT"): "half-close, A closed first",
    ("CLOSE_WAIT", "FIN_WAIT_2"): "half-close, B closed first",
    ("CLOSING", "CLOSING"): "simultaneous close",
    ("SYN_RCVD", "SYN_RCVD"): "simultaneous open",
    ("ESTABLISHED", "ESTABLISHED"): "connection established",
}


@dataclass(frozen=True)
class Node:
    """A global state of the model and what each application holds."""

    state: tuple[int, ...]
    fd: tuple[str, str]
    unread: tuple[bool, bool] = (False, False)  # data delivered to the side and never read


@dataclass(frozen=True)
class Action:
    """What the runner does: a call, a delivery, or (deviations) data."""

    kind: str  # call, deliver, data
    side: str  # the caller, the receiver, or the data's sender
    op: str = ""
    command: int = -1
    accept: bool = False  # a passive side accepts right after this delivery


class LoopbackModel:
    """The composed model (with the profile's ``instead`` transitions) and
    the drive rules of the module docstring."""

    def __init__(self, drive: DriveModel) -> None:
        from tcpcheck.tools.runner.loopback.judge import augmented
        from tcpcheck.tools.runner.netns import BASE_SYSCTLS

        self.drive = drive
        self.profile = drive.profile
        self.sysctls = dict(BASE_SYSCTLS)
        self.spec, self.variants = augmented(drive.spec, self.profile, self.sysctls)
        options = {**drive.options, **{t.option: True for t in self.spec.transitions
                                       if t.option and t.option.startswith("deviation ")}}
        self.system = build_system(self.spec, ModelOptions(bound=BOUND, spec_options=options))
        self.successors = compile_successors(self.system)
        self.drivable = {e.id for e in drive.edges}
        self.transitions = {t.id: t for t in self.spec.transitions}
        self.fields = self.system.endpoints

    def value(self, state: tuple[int, ...], side: str, field: str = "state") -> str:
        """A variable of one endpoint, as its name (states) or true/false."""
        var = self.fields[side][field]
        return self.system.vars[var].values[state[var]]

    def passive(self, state: tuple[int, ...], side: str) -> bool:
        """The side opened with listen (the model's history)."""
        return self.value(state, side, "passive") == "true"

    def in_scope(self, d: Deviation, side: str, node: Node) -> bool:
        """The entry's scope holds for ``side`` at ``node``: its settings,
        the calls it implies (listen: a passive side; accept: a descriptor
        on the connection) and what provokes it (unread data)."""
        i = SIDES.index(side)
        passive = self.passive(node.state, side)
        accepted = passive and node.fd[i] in (CONN, ORPHAN)
        if not d.applies(self.sysctls, self.profile.model_options(self.drive.spec.options) if self.profile else None):
            return False
        # the entry's precondition in the model's terms (its when guard)
        history = frozenset(v for v in self.drive.guard_vars if v in self.fields[side]
                            and self.value(node.state, side, v) == "true")
        if d.when and not guard_holds(d.when, history):
            return False
        if "accept" in d.unless_calls and accepted:
            return False
        return d.provoke != "unread_data" or node.unread[i]

    def _differs(self, tid: str, side: str, node: Node) -> bool:
        """A profile entry says Linux does something else here."""
        return self.profile is not None and any(
            d.kind == "differs" and d.transition == tid and self.in_scope(d, side, node)
            for d in self.profile.deviations)

    def moves(self, node: Node, deviation: Deviation | None = None,
              accept: bool = True) -> Iterator[tuple[Action, Node]]:
        """Every action from ``node``, in a fixed order. Instead-transitions
        are taken only for ``deviation`` (and only where it applies)."""
        for cmd, nxt in self.successors(node.state):
            action = self.system.commands[cmd].action
            if action.kind not in ("call", "rcv", "ignore"):
                continue
            side = action.actor
            i = SIDES.index(side)
            taken = [self.transitions[t] for t in action.transitions]
            variant = [t.id for t in taken if t.id in self.variants]
            if variant:
                if deviation is None or deviation not in self.variants[variant[0]] or \
                        not self.in_scope(deviation, side, node):
                    continue
            elif any(t.id not in self.drivable or self._differs(t.id, side, node) for t in taken):
                continue
            if action.kind == "call":
                for op in self.spec.events[action.event].socket:
                    fd = _fd_after(op, node.fd[i], self.value(node.state, side), bool(variant))
                    if fd is not None:
                        yield Action("call", side, op, cmd), Node(nxt, _put(node.fd, i, fd), node.unread)
                continue
            after = self.value(nxt, side)
            take = accept and node.fd[i] == LISTENER and self.passive(nxt, side) and after not in (
                "LISTEN", "SYN_RCVD", "CLOSED")
            yield Action("deliver", side, "", cmd, take), Node(nxt, _put(node.fd, i, CONN) if take else node.fd,
                                                               node.unread)
        if deviation is not None and deviation.provoke == "unread_data":
            for side in SIDES:
                sender = SIDES.index(side)
                peer = 1 - sender
                if node.fd[sender] == CONN and not node.unread[peer] and \
                        self.spec.state(self.value(node.state, side)).sends_data and \
                        self.value(node.state, SIDES[peer]) in ("ESTABLISHED", "FIN_WAIT_1", "FIN_WAIT_2"):
                    yield Action("data", side), Node(node.state, node.fd, _put(node.unread, peer, True))

    def start(self) -> Node:
        """Nothing open, nothing held."""
        return Node(self.system.init, (NONE, NONE))


def _put(values: tuple, index: int, value: object) -> tuple:  # type: ignore[type-arg]
    out = list(values)
    out[index] = value
    return tuple(out)


def _fd_after(op: str, fd: str, state: str, variant: bool) -> str | None:
    """What the application holds after ``op``; None when it cannot make it."""
    if op in ("listen", "connect"):
        return (LISTENER if op == "listen" else CONN) if fd == NONE else None
    if op == "shutdown_wr":
        return CONN if fd == CONN else None
    if op in ("close", "abort"):
        if fd == CONN:
            return ORPHAN if op == "close" else NONE
        # The listener is closed: the endpoint itself only when it is the
        # listener; with a connection behind it, what Linux does is a
        # documented deviation (request socket, unaccepted connection).
        if fd == LISTENER and (state == "LISTEN" or variant and op == "close"):
            return NONE
    return None


def search(model: LoopbackModel, deviation: Deviation | None = None,
           accept: bool = True) -> tuple[list[Node], dict[Node, tuple[Node, Action] | None]]:
    """Breadth-first over the drive rules: the nodes in order, and how each
    was first reached."""
    start = model.start()
    back: dict[Node, tuple[Node, Action] | None] = {start: None}
    order = [start]
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for action, nxt in model.moves(node, deviation, accept):
            if nxt not in back:
                back[nxt] = (node, action)
                order.append(nxt)
                queue.append(nxt)
    return order, back


def _path(back: dict[Node, tuple[Node, Action] | None], node: Node) -> list[tuple[Node, Action, Node]]:
    out = []
    while (prev := back[node]) is not None:
        out.append((prev[0], prev[1], node))
        node = prev[0]
    out.reverse()
    return out


def _steps(model: LoopbackModel, walk: list[tuple[Node, Action, Node]]) -> tuple[list[Step], list[str], list[str]]:
    """The scenario's steps, one line of walk per acting step, transitions."""
    steps: list[Step] = [Hold("A"), Hold("B")]
    walk_text: list[str] = []
    ids: list[str] = []
    for before, action, after in walk:
        side = action.side
        if action.kind == "data":
            peer = "B" if side == "A" else "A"
            steps += [Call("send", side=side), Deliver(side, "DATA")]
            walk_text += [f"{side}: send data (not in the model)", f"{side}: data reaches {peer} (not read)"]
            continue
        c = model.system.commands[action.command]
        a = c.action
        if action.kind == "call":
            steps.append(Call(action.op, side=side))
        else:
            sender = "B" if side == "A" else "A"
            steps.append(Deliver(sender, a.received))
        taken = list(a.transitions)
        ids += [t for t in taken if t not in ids]
        walk_text.append(f"{side}: " + (" + ".join(taken) if taken else f"ignores {a.received}"))
        steps += [Expect(w, side=side) for w in a.sends]
        new = model.value(after.state, side)
        if new != model.value(before.state, side):
            steps.append(ExpectState(new, side=side))
        if action.accept:
            steps.append(Call("accept", side=side))
    return steps, walk_text, ids


def _scenario(model: LoopbackModel, name: str, walk: list[tuple[Node, Action, Node]], description: str,
              deviation: str = "") -> Scenario:
    steps, walk_text, ids = _steps(model, walk)
    real = tuple(t for t in ids if t not in model.variants)
    rfc = tuple(dict.fromkeys(model.transitions[t].rfc for t in real))
    if deviation:
        description += f" (documented deviation {deviation})"
    return Scenario(name, tuple(steps), real, rfc, description, {}, False, tuple(walk_text), loopback=True)


def _drain(model: LoopbackModel, node: Node) -> list[tuple[Node, Action, Node]]:
    """Deliver what is in flight, A's segments first, until nothing is."""
    out: list[tuple[Node, Action, Node]] = []
    for _ in range(DRAIN_LIMIT):
        step = next(((a, n) for a, n in model.moves(node, accept=False) if a.kind == "deliver"), None)
        if step is None:
            break
        out.append((node, step[0], step[1]))
        node = step[1]
    return out


def loopback_suite(drive: DriveModel) -> Suite:
    """The loopback suite of the module docstring."""
    model = LoopbackModel(drive)
    order, back = search(model)
    scenarios: list[Scenario] = []
    covered: set[str] = set()
    goals: list[str] = []
    pairs: dict[tuple[str, str], Node] = {}
    for node in order:
        pair = (model.value(node.state, "A"), model.value(node.state, "B"))
        pairs.setdefault(pair, node)
    state_order = {s: n for n, s in enumerate(model.spec.state_names)}
    for pair in sorted(pairs, key=lambda p: (state_order[p[0]], state_order[p[1]])):
        node = pairs[pair]
        if node == model.start():
            continue
        goal = f"pair {pair[0]} {pair[1]}"
        goals.append(goal)
        walk = _path(back, node)
        what = PAIR_NAMES.get(pair, "")
        desc = f"reach A {pair[0]}, B {pair[1]}" + (f": {what}" if what else "") + " by socket calls alone"
        s = _scenario(model, f"pair_{slug(pair[0])}__{slug(pair[1])}", walk, desc)
        scenarios.append(s)
        covered.add(goal)
        covered.update(_side_goals(model, walk))
    # Every (side, transition) the search can take, in the order first taken.
    firsts: dict[str, tuple[Node, Action, Node]] = {}
    for node in order:
        for action, nxt in model.moves(node):
            for goal in _side_goals(model, [(node, action, nxt)]):
                firsts.setdefault(goal, (node, action, nxt))
    for goal, hop in firsts.items():
        goals.append(goal)
        if goal in covered:
            continue
        walk = _path(back, hop[0]) + [hop]
        side, tid = goal.split(" ", 1)
        s = _scenario(model, f"{side.lower()}_{slug(tid)}", walk, f"{side} takes {tid}")
        scenarios.append(s)
        covered.update(_side_goals(model, walk))
    notes = []
    for d in (model.profile.deviations if model.profile else ()):
        if d.kind != "differs" or not d.instead_to:
            continue
        goal = f"deviation {d.id}"
        goals.append(goal)
        found = _deviation_walk(model, d)
        if found is None:
            notes.append(f"deviation {d.id} cannot be provoked by socket calls on loopback")
            continue
        desc = f"Linux {d.observed} instead of {d.expected} for {d.transition}: {d.note}"
        scenarios.append(_scenario(model, f"deviation_{slug(d.id)}", found, desc, d.id))
        covered.add(goal)
    return Suite("loopback", drive.profile_name, tuple(scenarios), tuple(goals),
                 tuple(g for g in goals if g in covered), {}, {}, tuple(notes),
                 {"pairs": len(pairs) - 1, "search_nodes": len(order)})


def _side_goals(model: LoopbackModel, walk: list[tuple[Node, Action, Node]]) -> list[str]:
    out = []
    for _, action, _ in walk:
        if action.command >= 0:
            a = model.system.commands[action.command].action
            out += [f"{action.side} {t}" for t in a.transitions]
    return out


def _deviation_walk(model: LoopbackModel, d: Deviation) -> list[tuple[Node, Action, Node]] | None:
    """The shortest walk that takes ``d``'s instead-transition, then the
    deliveries that follow from it."""
    accept = "accept" not in d.unless_calls
    order, back = search(model, d, accept)
    variants = {t for t, entries in model.variants.items() if d in entries}
    for node in order:
        for action, nxt in model.moves(node, d, accept):
            if action.command >= 0 and set(model.system.commands[action.command].action.transitions) & variants:
                return _path(back, node) + [(node, action, nxt)] + _drain(model, nxt)
    return None


__all__ = ["LoopbackModel", "loopback_suite", "search"]
