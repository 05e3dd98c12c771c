"""Guarded commands over finite-domain variables: the one form of the model.

The composed TCP system (model/compose.py) is written once as a ``System``:
variables with finite domains, an initial valuation, and commands, each a
guard and simultaneous assignments. Every engine reads this and nothing
else: the explicit engine compiles it to Python, the Z3 engine to a
transition relation, the Promela export to SPIN's language. Nothing here
knows about TCP.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# ------------------------------------------------------------ expressions --


@dataclass(frozen=True)
class Const:
    """An integer constant (enum values and booleans are encoded as ints)."""

    value: int


@dataclass(frozen=True)
class Ref:
    """The current value of variable number ``var``."""

    var: int


@dataclass(frozen=True)
class Not:
    arg: Expr


@dataclass(frozen=True)
class And:
    args: tuple[Expr, ...]


@dataclass(frozen=True)
class Or:
    args: tuple[Expr, ...]


@dataclass(frozen=True)
class Cmp:
    """``left op right`` with op one of == != < <= > >=."""

    op: str
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Add:
    """Integer sum (used for channel lengths)."""

    args: tuple[Expr, ...]


@dataclass(frozen=True)
class Ite:
    """``then`` if ``cond`` else ``other``."""

    cond: Expr
    then: Expr
    other: Expr


Expr = Const | Ref | Not | And | Or | Cmp | Add | Ite

TRUE = Const(1)
FALSE = Const(0)


def eq(var: int, value: int) -> Cmp:
    """``var == value``."""
    return Cmp("==", Ref(var), Const(value))


def ne(var: int, value: int) -> Cmp:
    """``var != value``."""
    return Cmp("!=", Ref(var), Const(value))


def conj(*args: Expr) -> Expr:
    """Conjunction, flattening nested Ands and dropping TRUE."""
    flat: list[Expr] = []
    for a in args:
        if isinstance(a, And):
            flat.extend(a.args)
        elif a != TRUE:
            flat.append(a)
    if not flat:
        return TRUE
    return flat[0] if len(flat) == 1 else And(tuple(flat))


# --------------------------------------------------------------- systems --


@dataclass(frozen=True)
class Var:
    """A variable and its domain: value ``i`` is printed as ``values[i]``."""

    name: str
    values: tuple[str, ...]

    @property
    def size(self) -> int:
        return len(self.values)


@dataclass(frozen=True)
class Action:
    """What a command means, for people: who acts, on what, sending what.

    Engines ignore it; counterexamples, charts and the Promela export print it.
    """

    actor: str  # "A", "B", or "net"
    kind: str  # call, rcv, timer, retransmit, lose, duplicate, ignore
    event: str = ""  # spec event name(s) taken, "+"-joined for chained ones
    received: str = ""  # segment consumed from the actor's inbound channel
    sends: tuple[str, ...] = ()  # segments appended to the actor's outbound channel
    transitions: tuple[str, ...] = ()  # spec transition ids taken
    channel: str = ""  # for net actions: the channel acted on
    signal: str = ""  # what the actor's user is told, "" for nothing
    new_connection: bool = False  # the actor starts a new connection: its per-connection history restarts

    def describe(self) -> str:
        """One short line: ``A: rcv FIN -> sends ACK``."""
        if self.actor == "net":
            what = f"{self.kind} {self.received} on {self.channel}"
            return f"net: {what}"
        head = {
            "call": f"call {self.event}",
            "timer": f"timer {self.event}",
            "rcv": f"rcv {self.received} ({self.event})",
            "ignore": f"rcv {self.received} (ignored)",
            "retransmit": "retransmit",
        }.get(self.kind, self.kind)
        tail = f" -> sends {', '.join(self.sends)}" if self.sends else ""
        return f"{self.actor}: {head}{tail}"


@dataclass(frozen=True)
class Command:
    """``guard -> var := expr, ...`` (assignments are simultaneous)."""

    name: str
    guard: Expr
    updates: tuple[tuple[int, Expr], ...]
    action: Action


@dataclass
class System:
    """A finite transition system written as guarded commands."""

    vars: tuple[Var, ...]
    init: tuple[int, ...]
    commands: tuple[Command, ...]
    # Named groups of variables, for printing and for the property language:
    # e.g. endpoints["A"]["state"] = index, channels["AB"] = slot indices.
    endpoints: dict[str, dict[str, int]] = field(default_factory=dict)
    channels: dict[str, tuple[int, ...]] = field(default_factory=dict)
    options: dict[str, object] = field(default_factory=dict)
    # Per channel, an object that can print it and say when it is empty
    # (``show(state) -> list[str]``, ``empty()``, ``length()``).
    views: dict[str, Any] = field(default_factory=dict)
    # What the property language may say about a command's action (the
    # segments, states and signals it names), and the past-time monitors
    # added for properties: name -> variable (model/temporal.py).
    vocabulary: Any = None
    monitors: dict[str, int] = field(default_factory=dict)
    # Derived data computed once per system by its readers (not copied by
    # dataclasses.replace: a changed system starts with an empty cache).
    cache: dict[Any, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    def index(self, name: str) -> int:
        """Variable number of ``name``."""
        for i, v in enumerate(self.vars):
            if v.name == name:
                return i
        raise KeyError(name)

    def show(self, state: tuple[int, ...]) -> dict[str, object]:
        """A global state as names: endpoint states, history, channels."""
        out: dict[str, object] = {}
        for ep, fields in self.endpoints.items():
            out[ep] = self.vars[fields["state"]].values[state[fields["state"]]]
        for ch, view in self.views.items():
            out[ch] = view.show(state)
        return out


def evaluate(expr: Expr, state: tuple[int, ...]) -> int:
    """Evaluate an expression on a concrete state (slow path; engines compile)."""
    if isinstance(expr, Const):
        return expr.value
    if isinstance(expr, Ref):
        return state[expr.var]
    if isinstance(expr, Not):
        return int(not evaluate(expr.arg, state))
    if isinstance(expr, And):
        return int(all(evaluate(a, state) for a in expr.args))
    if isinstance(expr, Or):
        return int(any(evaluate(a, state) for a in expr.args))
    if isinstance(expr, Add):
        return sum(evaluate(a, state) for a in expr.args)
    if isinstance(expr, Ite):
        return evaluate(expr.then if evaluate(expr.cond, state) else expr.other, state)
    left, right = evaluate(expr.left, state), evaluate(expr.right, state)
    return int(
        {
            "==": left == right,
            "!=": left != right,
            "<": left < right,
            "<=": left <= right,
            ">": left > right,
            ">=": left >= right,
        }[expr.op]
    )


def to_python(expr: Expr, state: str = "s") -> str:
    """Python source for ``expr`` over the tuple named ``state``."""
    if isinstance(expr, Const):
        return str(expr.value)
    if isinstance(expr, Ref):
        return f"{state}[{expr.var}]"
    if isinstance(expr, Not):
        return f"(not {to_python(expr.arg, state)})"
    if isinstance(expr, And):
        return "(" + " and ".join(to_python(a, state) for a in expr.args) + ")"
    if isinstance(expr, Or):
        return "(" + " or ".join(to_python(a, state) for a in expr.args) + ")"
    if isinstance(expr, Add):
        return "(" + " + ".join(f"int({to_python(a, state)})" for a in expr.args) + ")"
    if isinstance(expr, Ite):
        c, t, o = (to_python(x, state) for x in (expr.cond, expr.then, expr.other))
        return f"({t} if {c} else {o})"
    return f"({to_python(expr.left, state)} {expr.op} {to_python(expr.right, state)})"


def free_vars(expr: Expr) -> set[int]:
    """The variables an expression reads."""
    if isinstance(expr, Const):
        return set()
    if isinstance(expr, Ref):
        return {expr.var}
    if isinstance(expr, Not):
        return free_vars(expr.arg)
    if isinstance(expr, And | Or | Add):
        out: set[int] = set()
        for a in expr.args:
            out |= free_vars(a)
        return out
    if isinstance(expr, Ite):
        return free_vars(expr.cond) | free_vars(expr.then) | free_vars(expr.other)
    return free_vars(expr.left) | free_vars(expr.right)


def substitute(expr: Expr, values: dict[int, Expr]) -> Expr:
    """``expr`` with each variable in ``values`` replaced by its expression."""
    if isinstance(expr, Const):
        return expr
    if isinstance(expr, Ref):
        return values.get(expr.var, expr)
    if isinstance(expr, Not):
        return Not(substitute(expr.arg, values))
    if isinstance(expr, And):
        return And(tuple(substitute(a, values) for a in expr.args))
    if isinstance(expr, Or):
        return Or(tuple(substitute(a, values) for a in expr.args))
    if isinstance(expr, Add):
        return Add(tuple(substitute(a, values) for a in expr.args))
    if isinstance(expr, Ite):
        return Ite(substitute(expr.cond, values), substitute(expr.then, values), substitute(expr.other, values))
    return Cmp(expr.op, substitute(expr.left, values), substitute(expr.right, values))


def simplify(expr: Expr) -> Expr:
    """Constant folding: subexpressions without variables become constants, And/Or drop
    their neutral arguments and collapse on an absorbing one. Booleans fold to 0/1."""
    if isinstance(expr, Const | Ref):
        return expr
    if isinstance(expr, Not):
        arg = simplify(expr.arg)
        if isinstance(arg, Const):
            return Const(int(not arg.value))
        return arg.arg if isinstance(arg, Not) else Not(arg)
    if isinstance(expr, And | Or):
        absorbing = 0 if isinstance(expr, And) else 1
        kept: list[Expr] = []
        for a in expr.args:
            a = simplify(a)
            if isinstance(a, Const):
                if bool(a.value) == bool(absorbing):
                    return Const(absorbing)
                continue
            kept.extend(a.args if type(a) is type(expr) else (a,))  # type: ignore[union-attr]
        if not kept:
            return Const(1 - absorbing)
        if len(kept) == 1:
            return kept[0]
        return And(tuple(kept)) if isinstance(expr, And) else Or(tuple(kept))
    if isinstance(expr, Add):
        args = tuple(simplify(a) for a in expr.args)
        if all(isinstance(a, Const) for a in args):
            return Const(sum(a.value for a in args if isinstance(a, Const)))
        return Add(args)
    if isinstance(expr, Ite):
        cond = simplify(expr.cond)
        if isinstance(cond, Const):
            return simplify(expr.then if cond.value else expr.other)
        return Ite(cond, simplify(expr.then), simplify(expr.other))
    left, right = simplify(expr.left), simplify(expr.right)
    if isinstance(left, Const) and isinstance(right, Const):
        return Const(evaluate(Cmp(expr.op, left, right), ()))
    return Cmp(expr.op, left, right)


def partial(expr: Expr, known: dict[int, Expr]) -> Expr:
    """``simplify(substitute(expr, known))`` in one pass, stopping at the first
    absorbing argument of an And/Or (the hot path of step predicates)."""
    if isinstance(expr, Const):
        return expr
    if isinstance(expr, Ref):
        return known.get(expr.var, expr)
    if isinstance(expr, And | Or):
        absorbing = 0 if isinstance(expr, And) else 1
        kept: list[Expr] = []
        for a in expr.args:
            a = partial(a, known)
            if isinstance(a, Const):
                if bool(a.value) == bool(absorbing):
                    return Const(absorbing)
                continue
            kept.append(a)
        if not kept:
            return Const(1 - absorbing)
        if absorbing == 0:
            # ``x == c and p``: p may assume x == c (catches ``x == c and x != c``).
            pins = [(a.left.var, a.right) for a in kept if isinstance(a, Cmp) and a.op == "=="
                    and isinstance(a.left, Ref) and isinstance(a.right, Const)]
            pinned: dict[int, Expr] = dict(pins)
            if len(set(pins)) != len(pinned):
                return FALSE  # x == a and x == b with a != b
            if pinned:
                rest = [partial(a, pinned) for a in kept if not (isinstance(a, Cmp) and a.op == "=="
                                                             and isinstance(a.left, Ref) and a.left.var in pinned)]
                if any(r == FALSE for r in rest):
                    return FALSE
                kept = [eq(v, c.value) for v, c in pinned.items() if isinstance(c, Const)] + [
                    r for r in rest if r != TRUE]
        return kept[0] if len(kept) == 1 else simplify(And(tuple(kept)) if absorbing == 0 else Or(tuple(kept)))
    if isinstance(expr, Not):
        arg = partial(expr.arg, known)
        return Const(int(not arg.value)) if isinstance(arg, Const) else simplify(Not(arg))
    if isinstance(expr, Cmp):
        left, right = partial(expr.left, known), partial(expr.right, known)
        if isinstance(left, Const) and isinstance(right, Const):
            return Const(evaluate(Cmp(expr.op, left, right), ()))
        return Cmp(expr.op, left, right)
    return simplify(substitute(expr, known))
