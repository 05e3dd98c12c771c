"""Past time and steps in the property language, as state predicates of the composed system.

Every property is a predicate over global states, so that each engine
(explicit search, Z3, SPIN) decides it unchanged. The language's past-time
operators and step predicates (model/expr.py) reduce to such predicates here:

* ``X.can(c)`` is the disjunction, over the commands in which endpoint X acts
  and whose action satisfies ``c``, of the command's guard (conjoined with
  what is left of ``c`` over the state before the step). In an interleaving
  model every enabled command is taken by some execution, so the invariant
  ``not X.can(c)`` says exactly that no reachable step satisfies ``c``: no
  monitor, no extra state.
* ``once(p)``, ``historically(p)``, ``p since q`` and ``X.did(c)`` are one
  Boolean monitor variable each, added to the system and updated by the
  commands that can change it. These operators are insensitive to
  stuttering, so a command that writes none of the variables ``p`` and ``q``
  read leaves the monitor as it is (``did`` changes only on X's steps that
  satisfy ``c``): a monitor costs states only where it tells histories apart.
* History is per connection: a monitor about one endpoint restarts when that
  endpoint starts a new connection (a transition with ``new_connection``,
  which the composition marks in the command's action); a monitor about
  both endpoints or the channels never restarts.

Nothing here knows about TCP: the step vocabulary (segment names and flags,
states, signals, events) comes from the system's ``vocabulary``, which the
composition fills from the spec.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from tcpcheck.model import gcl
from tcpcheck.model.expr import (
    Binary,
    Call,
    Env,
    ExprError,
    Node,
    Typed,
    Unary,
    render,
    typecheck,
)

# Step names are typed as variables numbered from here, then replaced by
# each command's own values: they never reach an engine.
PLACEHOLDER = 1 << 30
FLAGS = ("SYN", "ACK", "FIN", "RST")
NONE = "none"
STEP_ONLY = "step"  # the type of a step name outside a step condition (expr.py rejects it)


def property_env(system: gcl.System, aliases: dict[str, str] | None = None) -> Env:
    """The names a property may use over ``system``, with past time and steps."""
    names: dict[str, Typed] = {}
    for ep, fields in system.endpoints.items():
        for key, var in fields.items():
            # a two-valued false/true domain is a boolean; the timed model's
            # incarnation numbers and timers are integers
            domain = system.vars[var].values
            kind = "state" if key == "state" else "bool" if domain == ("false", "true") else "int"
            names[f"{ep}.{key}"] = (gcl.Ref(var), kind)
    bound = system.options.get("bound")
    for ch, view in system.views.items():
        names[f"{ch}.empty"] = (view.empty(), "bool")
        names[f"{ch}.len"] = (view.length(), "int")
        if isinstance(bound, int) and len(ch) == 2 and ch[0] in system.endpoints:
            # X.blocked: X's channel to its peer is full, so any step of X
            # that sends waits (the bounded channel's artefact, not TCP's)
            names[f"{ch[0]}.blocked"] = (gcl.Cmp(">=", view.length(), gcl.Const(bound)), "bool")
    if system.vocabulary is not None:
        # The step names exist only inside X.did/X.can; elsewhere they are an error that says so.
        names.update({name: (gcl.FALSE, STEP_ONLY) for name in _step_scope(system.vocabulary)[0]})
    state_var = system.vars[next(iter(system.endpoints.values()))["state"]]
    return Env(names, {"state": state_var.values}, aliases, _Extension(system))


# ------------------------------------------------------------------ steps --


def _step_scope(vocabulary: Any) -> tuple[dict[str, Typed], dict[str, tuple[str, ...]]]:
    """The step names (placeholders) and their enumerations."""
    enums: dict[str, tuple[str, ...]] = {
        "segment": (NONE, *vocabulary.wires),
        "signal": (NONE, *vocabulary.signals),
        "event": (NONE, *vocabulary.events),
    }
    kinds = [("rcvd", "segment"), ("sent", "segment"), ("to", "state"), ("signal", "signal"), ("event", "event"),
             ("retransmit", "bool"), ("ignored", "bool"), ("rcvd.acks_syn", "bool"), ("rcvd.acks_fin", "bool"),
             ("rcvd.seq_zero", "bool")]
    kinds += [(f"{side}.{flag}", "bool") for side in ("rcvd", "sent") for flag in FLAGS]
    names: dict[str, Typed] = {name: (gcl.Ref(PLACEHOLDER + k), kind) for k, (name, kind) in enumerate(kinds)}
    return names, enums


def _step_values(system: gcl.System, command: gcl.Command) -> dict[int, gcl.Expr]:
    """What each step name is for ``command`` (placeholder variable -> value)."""
    vocabulary = system.vocabulary
    names, enums = _step_scope(vocabulary)
    a = command.action
    received = a.received if a.kind in ("rcv", "ignore") else ""
    sent = a.sends[-1] if a.sends else ""
    state_var = system.endpoints[a.actor]["state"]
    to = dict(command.updates).get(state_var, gcl.Ref(state_var))
    wire = vocabulary.wires.get(received)
    sent_flags: set[str] = set()
    for s in a.sends:
        sent_flags |= vocabulary.wires[s].flags

    def index(enum: str, value: str) -> gcl.Const:
        return gcl.Const(enums[enum].index(value or NONE))

    values: dict[str, gcl.Expr] = {
        "rcvd": index("segment", received),
        "sent": index("segment", sent),
        "to": to,
        "signal": index("signal", a.signal),
        "event": index("event", a.event if a.kind in ("call", "timer") else ""),
        "retransmit": gcl.Const(int(a.kind == "retransmit")),
        "ignored": gcl.Const(int(a.kind == "ignore")),
        "rcvd.acks_syn": gcl.Const(int(bool(wire and wire.acks_syn))),
        "rcvd.acks_fin": gcl.Const(int(bool(wire and wire.acks_fin))),
        "rcvd.seq_zero": gcl.Const(int(bool(wire and wire.seq_zero))),
    }
    for flag in FLAGS:
        values[f"rcvd.{flag}"] = gcl.Const(int(bool(wire and flag in wire.flags)))
        values[f"sent.{flag}"] = gcl.Const(int(flag in sent_flags))
    out: dict[int, gcl.Expr] = {}
    for name, (ref, _) in names.items():
        assert isinstance(ref, gcl.Ref)
        out[ref.var] = values[name]
    return out


def _fixed_by(guard: gcl.Expr) -> dict[int, gcl.Expr]:
    """Variables the guard pins to a constant (``x == c`` conjuncts)."""
    atoms = guard.args if isinstance(guard, gcl.And) else (guard,)
    out: dict[int, gcl.Expr] = {}
    for a in atoms:
        if isinstance(a, gcl.Cmp) and a.op == "==" and isinstance(a.left, gcl.Ref) and isinstance(a.right, gcl.Const):
            out[a.left.var] = a.right
    return out


# Step values per command, shared by every system with the same vocabulary
# and endpoints: a mutant's system differs from the spec's in a few of
# several hundred commands, and each monitor's snapshot has its base's
# commands, so most are looked up rather than worked out again. Bounded:
# cleared when full. Commands with the same key share one dict, whose
# identity ``_on_step`` uses.
_STEP_MEMO: dict[tuple[Any, ...], dict[int, gcl.Expr]] = {}
_STEP_MEMO_MAX = 200_000
# Residuals of step conditions (``_on_step``), by condition, then by the
# values the condition reads.
_RESIDUALS: dict[gcl.Expr, tuple[dict[tuple[gcl.Expr | None, ...], gcl.Expr],
                                  dict[int, tuple[dict[int, gcl.Expr], gcl.Expr]]]] = {}


def _scope_key(system: gcl.System) -> tuple[Any, ...]:
    """What ``_step_values`` reads of a system besides the command."""
    key = system.cache.get("temporal.scope")
    if key is None:
        v = system.vocabulary
        key = system.cache["temporal.scope"] = (
            tuple(v.wires.items()), v.signals, v.events,  # in order: a segment is its index
            tuple(sorted((actor, f["state"]) for actor, f in system.endpoints.items())),
        )
    return key


def _steps(system: gcl.System) -> list[dict[int, gcl.Expr]]:
    """Per command: its step values and the variables its guard pins (computed once per system)."""
    steps = system.cache.get("temporal.steps")
    if steps is None and "temporal.steps_from" in system.cache:
        # a system whose commands differ from another's only where no step value looks (_Builder)
        steps = system.cache["temporal.steps"] = _steps(system.cache["temporal.steps_from"])
    if steps is None:
        if len(_STEP_MEMO) > _STEP_MEMO_MAX:
            _STEP_MEMO.clear()
            _RESIDUALS.clear()
        scope = _scope_key(system)
        steps = []
        for c in system.commands:
            if c.action.actor not in system.endpoints:
                steps.append({})  # the network's steps: loss and duplication
                continue
            # all that the step values read of the command: its action, the
            # update of its actor's state and what its guard pins (not the
            # whole guard: comparing guards would cost what the memo saves)
            fixed = _fixed_by(c.guard)
            state_var = system.endpoints[c.action.actor]["state"]
            key = (scope, c.action, dict(c.updates).get(state_var), tuple(sorted(fixed.items())))
            memo = _STEP_MEMO.get(key)
            if memo is None:
                values = {v: fixed.get(e.var, e) if isinstance(e, gcl.Ref) else e
                          for v, e in _step_values(system, c).items()}  # `to` of a step that keeps the state
                memo = _STEP_MEMO[key] = {**fixed, **values}
            steps.append(memo)
        system.cache["temporal.steps"] = steps
    return steps


def _on_step(system: gcl.System, condition: gcl.Expr, actor: str) -> list[gcl.Expr]:
    """``condition`` for each command (FALSE where ``actor`` does not act): a
    predicate over the state before the step, folded.

    Commands that agree on every value the condition reads share the work:
    most differ only in where their segments sit in the channels.
    """
    reads = sorted(gcl.free_vars(condition))
    residual, by_step = _RESIDUALS.setdefault(condition, ({}, {}))
    out: list[gcl.Expr] = []
    for c, values in zip(system.commands, _steps(system), strict=True):
        if c.action.actor != actor:
            out.append(gcl.FALSE)
            continue
        # step dicts are shared through _STEP_MEMO, so a dict's identity
        # names a command's step values; the entry keeps the dict alive so
        # that its id cannot be reused for another
        hit = by_step.get(id(values))
        if hit is None:
            key = tuple(values.get(v) for v in reads)
            folded = residual.get(key)
            if folded is None:
                folded = residual[key] = gcl.partial(
                    condition, {v: e for v, e in zip(reads, key, strict=True) if e is not None})
            hit = by_step[id(values)] = (values, folded)
        out.append(hit[1])
    return out


class _Extension:
    """Types calls and ``since`` over one system (the hook of ``expr.Env``)."""

    def __init__(self, system: gcl.System) -> None:
        self.system = system

    def actor(self, tree: Call, env: Env) -> str:
        owner = tree.func.rpartition(".")[0]
        return env.aliases.get(owner, owner)

    def step_condition(self, tree: Call, env: Env) -> gcl.Expr:
        """The argument of ``X.did``/``X.can``, typed with the step names."""
        if self.system.vocabulary is None:
            raise ExprError(f"'{tree.func}' needs a composed system", tree.pos)
        actor = self.actor(tree, env)
        if actor not in self.system.endpoints:
            raise ExprError(f"'{tree.func}': {actor!r} is not an endpoint here", tree.pos)
        names, enums = _step_scope(self.system.vocabulary)
        inner = Env({**env.names, **names}, {**env.enums, **enums}, env.aliases, env.extension)
        return typecheck(tree.args[0], inner)

    def __call__(self, tree: Node, env: Env) -> Typed:
        if isinstance(tree, Call) and tree.func.endswith(".can"):
            actor = self.actor(tree, env)
            condition = self.step_condition(tree, env)
            can_key = ("temporal.can", actor, condition)
            if can_key not in self.system.cache:
                enabled = [
                    c.guard if e == gcl.TRUE else gcl.conj(c.guard, e)
                    for c, e in zip(self.system.commands, _on_step(self.system, condition, actor), strict=True)
                    if e != gcl.FALSE
                ]
                self.system.cache[can_key] = (
                    gcl.FALSE if not enabled else enabled[0] if len(enabled) == 1 else gcl.Or(tuple(enabled))
                )
            return self.system.cache[can_key], "bool"
        key = render(tree, env.aliases)
        var = self.system.monitors.get(key)
        if var is None:
            raise ExprError(
                f"no monitor for {key}: build the system with the properties that use it "
                "(build_system(spec, options, properties))",
                tree.pos,
            )
        return gcl.Ref(var), "bool"


def forbidden_steps(system: gcl.System, tree: Node, aliases: dict[str, str]) -> list[gcl.Expr] | None:
    """For an invariant ``not X.can(c)``: per command, the condition on the
    state before it under which taking it satisfies ``c`` (FALSE for the
    commands that never do); None for any other expression.

    The invariant is violated exactly where a command with a condition
    other than FALSE is enabled and its condition holds, so an engine that
    recorded every enabled command (an explored state space's edges) can
    decide it from those without evaluating the disjunction of every guard
    in every state.
    """
    if not (isinstance(tree, Unary) and tree.op == "not" and isinstance(tree.arg, Call)
            and tree.arg.func.endswith(".can") and len(tree.arg.args) == 1):
        return None
    env = property_env(system, aliases)
    ext = _Extension(system)
    try:
        actor = ext.actor(tree.arg, env)
        if actor not in system.endpoints:
            return None
        condition = ext.step_condition(tree.arg, env)
    except ExprError:
        return None  # the typechecker of the whole expression says what is wrong, with the file and line
    return _on_step(system, condition, actor)


def violating_steps(system: gcl.System, tree: Node, aliases: dict[str, str], trace: Sequence[Any]) -> list[str]:
    """The steps that ``X.can(c)`` subexpressions of ``tree`` find enabled at the end of ``trace``, described.

    A counterexample to ``not X.can(c)`` ends in the state where the bad step
    is enabled; this names the step, so that the trace shows what is wrong.
    ``trace`` is a counterexample (results.Step list) of either engine.
    """
    by_name = {c.name: c for c in system.commands}
    state = system.init
    for st in trace[1:]:
        values = dict(by_name[st.command].updates)
        state = tuple(gcl.evaluate(values[v], state) if v in values else x for v, x in enumerate(state))
    env = property_env(system, aliases)
    out: list[str] = []
    stack = [tree]
    while stack:
        node = stack.pop()
        stack.extend(node.children())
        if isinstance(node, Call) and node.func.endswith(".can"):
            ext = _Extension(system)
            actor = ext.actor(node, env)
            residuals = _on_step(system, ext.step_condition(node, env), actor)
            for c, e in zip(system.commands, residuals, strict=True):
                if e != gcl.FALSE and gcl.evaluate(c.guard, state) and gcl.evaluate(e, state):
                    text = c.action.describe()
                    if text not in out:
                        out.append(text)
    return out


# --------------------------------------------------------------- monitors --


def _owner(tree: Node, aliases: dict[str, str], endpoints: Sequence[str]) -> str | None:
    """The one endpoint an expression is about, or None (both, or the channels)."""
    owners: set[str] = set()
    for name in tree.names():
        head = name.split(".", 1)[0]
        head = aliases.get(head, head)
        if head in endpoints:
            owners.add(head)
        elif "." in name and head not in ("rcvd", "sent"):
            owners.add("")  # a channel or another shared name
    return owners.pop() if len(owners) == 1 and "" not in owners else None


def _is_monitor(tree: Node) -> bool:
    return (isinstance(tree, Call) and not tree.func.endswith(".can")) or (
        isinstance(tree, Binary) and tree.op == "since"
    )


class _Builder:
    """Adds monitor variables, and their updates to every command that can change them."""

    def __init__(self, system: gcl.System) -> None:
        self.base = system
        self.vars = list(system.vars)
        self.init = list(system.init)
        self.updates = [dict(c.updates) for c in system.commands]
        self.monitors: dict[str, int] = dict(system.monitors)

    def snapshot(self) -> gcl.System:
        return self._sharing_steps(dataclasses.replace(self.base, vars=tuple(self.vars), init=tuple(self.init),
                                                       monitors=dict(self.monitors)))

    def _sharing_steps(self, system: gcl.System) -> gcl.System:
        # A monitor adds updates of its own variable only: every command keeps
        # its action, guard and update of the state, all that the step values
        # read, so every snapshot and the result share the base's.
        system.cache["temporal.steps_from"] = self.base
        return system

    def visit(self, tree: Node, aliases: dict[str, str]) -> None:
        for child in tree.children():
            self.visit(child, aliases)
        if _is_monitor(tree):
            key = render(tree, aliases)
            if key not in self.monitors:
                self.add(tree, aliases, key)

    def operand(self, tree: Node, env: Env) -> gcl.Expr:
        return typecheck(tree, env)

    def add(self, tree: Node, aliases: dict[str, str], key: str) -> None:
        system = self.snapshot()
        env = property_env(system, aliases)
        owner = _owner(tree, aliases, tuple(system.endpoints))
        var = len(self.vars)
        self.vars.append(gcl.Var(f"monitor{len(self.monitors) + 1}", ("false", "true")))
        m = gcl.Ref(var)
        commands = system.commands
        restarts = [owner is not None and c.action.new_connection and c.action.actor == owner for c in commands]
        if isinstance(tree, Call) and tree.func.endswith(".did"):
            actor = _Extension(system).actor(tree, env)
            condition = _Extension(system).step_condition(tree, env)
            self.init.append(0)
            for i, step in enumerate(_on_step(system, condition, actor)):
                if restarts[i]:
                    self.updates[i][var] = step
                elif step != gcl.FALSE:
                    self.updates[i][var] = gcl.simplify(gcl.Or((m, step)))
        else:
            if isinstance(tree, Binary):  # p since q
                p, q = self.operand(tree.left, env), self.operand(tree.right, env)
            else:
                p = q = self.operand(tree.args[0], env)  # type: ignore[attr-defined]
            func = tree.func if isinstance(tree, Call) else "since"
            start = p if func == "historically" else q
            self.init.append(int(bool(gcl.evaluate(start, tuple(self.init)))))
            reads = gcl.free_vars(p) | gcl.free_vars(q)
            for i, _ in enumerate(commands):
                if not restarts[i] and not reads & set(self.updates[i]):
                    continue  # stuttering: the monitor keeps its value
                p2, q2 = (gcl.substitute(x, self.updates[i]) for x in (p, q))
                if restarts[i]:
                    new = p2 if func == "historically" else q2
                elif func == "once":
                    new = gcl.Or((m, p2))
                elif func == "historically":
                    new = gcl.And((m, p2))
                else:
                    new = gcl.Or((q2, gcl.And((p2, m))))
                new = gcl.simplify(new)
                if new != m:
                    self.updates[i][var] = new
        self.monitors[key] = var

    def system(self) -> gcl.System:
        commands = tuple(
            dataclasses.replace(c, updates=tuple(sorted(u.items())))
            for c, u in zip(self.base.commands, self.updates, strict=True)
        )
        return self._sharing_steps(dataclasses.replace(self.snapshot(), commands=commands))


def add_monitors(system: gcl.System, properties: Sequence[Any]) -> gcl.System:
    """``system`` with a monitor variable for every past-time subexpression of ``properties``.

    Raises ExprError (with the column) when a property misuses one; callers
    that load properties report it with the file and line.
    """
    builder = _Builder(system)
    for prop in properties:
        for _, aliases in prop.roles():
            for tree in (prop.tree, prop.source_tree):
                if tree is not None:
                    try:
                        builder.visit(tree, aliases)
                    except ExprError as exc:
                        prop.fail(exc)
    return builder.system()


__all__ = ["NONE", "add_monitors", "forbidden_steps", "property_env", "violating_steps"]
