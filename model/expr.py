"""The property language: parsing, and typing against a composed system.

    A.state == TIME_WAIT -> A.fin_first or A.sent_rst
    self.state in {CLOSE_WAIT, LAST_ACK} -> self.rcvd_fin and not self.fin_first
    AB.empty and BA.empty -> (A.state == ESTABLISHED <-> B.state == ESTABLISHED)

Names: ``A.``/``B.`` (or ``self.``/``peer.`` in properties written for each
endpoint) followed by ``state``, a history variable or ``blocked`` (its
channel to the peer is full: a step that sends must wait); ``AB.``/``BA.``
followed by ``empty`` or ``len``; state names; ``true``/``false``; integers.
Operators, loosest first: ``<->``, ``->`` (right-associative), ``since``,
``or``, ``and``, ``not``, comparisons (``== != < <= > >=``, ``in {...}``,
``not in {...}``), ``+ -``.

Past time and steps (model/temporal.py; all of them are state predicates,
so every engine decides them):

    once(p)            p has held at some point of the current connection
    historically(p)    p has held throughout it
    p since q          q held at some point, and p ever since (after it)
    X.did(c)           endpoint X (A, B, self, peer) has taken a step satisfying c
    X.can(c)           endpoint X can take a step satisfying c now; an invariant
                       ``not X.can(c)`` says no reachable step satisfies c

In ``c``, ``X.state`` and the other names mean the values before the step,
and these describe the step itself: ``rcvd`` and ``sent`` (the segment
received or sent, ``none`` if none), ``rcvd.SYN``/``ACK``/``FIN``/``RST``,
``rcvd.acks_syn``, ``rcvd.acks_fin``, ``rcvd.seq_zero`` (a RST sent with
sequence number zero, RFC 9293 §3.10.7.1), ``sent.SYN``/``ACK``/``FIN``/``RST``
(some segment sent carries the flag), ``to`` (X's state after the step),
``signal`` (what X's user is told, ``none`` if nothing), ``event`` (the user
call or timer, ``none`` for a segment), ``retransmit``, ``ignored`` (the
segment was dropped without a transition).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from tcpcheck.model import gcl

# Per-endpoint history variables of the composed system (model/compose.py),
# each true once the event it names has happened in the current connection.
HISTORY_VARS = (
    "opened",  # left CLOSED (never reset: an endpoint opens once)
    "reopened",  # started a new connection from TIME_WAIT (never reset)
    "passive",  # opened with listen, or a new connection started by a received SYN
    "sent_syn",  # sent a segment carrying SYN
    "rcvd_syn",  # received the peer's SYN (a transition on a SYN event fired)
    "sent_fin",  # sent a segment carrying FIN
    "rcvd_fin",  # received the peer's FIN (a transition on a FIN event fired)
    "fin_first",  # sent its FIN before receiving the peer's
    "sent_rst",  # sent a RST
    "aborted",  # the user called ABORT
)
# Per-endpoint retransmission queue (model/compose.py, with loss or reordering):
# our SYN / our FIN was sent and is not yet acknowledged.
QUEUE_VARS = ("rtx_syn", "rtx_fin")


class ExprError(Exception):
    """A parse or type error at a column of the expression text."""

    def __init__(self, message: str, column: int) -> None:
        super().__init__(f"column {column + 1}: {message}")
        self.column = column
        self.message = message


# ------------------------------------------------------------------ syntax --


@dataclass(frozen=True)
class Node:
    pos: int

    def children(self) -> tuple[Node, ...]:
        return ()

    def names(self) -> Iterator[str]:
        """Every dotted name the expression mentions."""
        if isinstance(self, Name):
            yield self.text
        if isinstance(self, Call) and "." in self.func:
            yield self.func
        for c in self.children():
            yield from c.names()


@dataclass(frozen=True)
class Name(Node):
    text: str


@dataclass(frozen=True)
class Number(Node):
    value: int


@dataclass(frozen=True)
class Unary(Node):
    op: str
    arg: Node

    def children(self) -> tuple[Node, ...]:
        return (self.arg,)


@dataclass(frozen=True)
class Binary(Node):
    op: str
    left: Node
    right: Node

    def children(self) -> tuple[Node, ...]:
        return (self.left, self.right)


@dataclass(frozen=True)
class Call(Node):
    """``once(p)``, ``historically(p)``, ``X.did(c)``, ``X.can(c)``."""

    func: str
    args: tuple[Node, ...]

    def children(self) -> tuple[Node, ...]:
        return self.args


@dataclass(frozen=True)
class Member(Node):
    arg: Node
    items: tuple[Node, ...]
    negated: bool

    def children(self) -> tuple[Node, ...]:
        return (self.arg, *self.items)


_TOKEN = re.compile(
    r"\s*(?:(?P<num>\d+)|(?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)"
    r"|(?P<op><->|->|==|!=|<=|>=|[<>(){},+\-]))"
)
_KEYWORDS = {"and", "or", "not", "in", "since"}
FUNCTIONS = ("once", "historically")  # past-time operators over one state predicate
STEP_FUNCTIONS = ("did", "can")  # X.did(c), X.can(c): over a step condition
OWNERS = ("A", "B", "self", "peer")


def _tokens(text: str) -> list[tuple[str, str, int]]:
    out: list[tuple[str, str, int]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if not m:
            col = pos + len(text[pos:]) - len(text[pos:].lstrip())
            raise ExprError(f"unexpected character {text[col]!r}", col)
        kind = m.lastgroup or ""
        value = m.group(kind)
        start = m.start(kind)
        if kind == "name" and value in _KEYWORDS:
            kind = "op"
        out.append((kind, value, start))
        pos = m.end()
    out.append(("end", "", len(text)))
    return out


# Bounds that keep every later pass (typing, both engines, Promela, Python)
# far from Python's recursion limit and from C's int: nesting of brackets,
# 'not' and functions while parsing, depth of the finished tree (a chain of
# 'and' or '+' is as deep as it is long), and the largest integer (Promela's
# int is 32 bits).
MAX_NESTING = 32
MAX_DEPTH = 200
MAX_NUMBER = 2**31 - 1


class _Parser:
    def __init__(self, text: str) -> None:
        self.toks = _tokens(text)
        self.i = 0
        self.nesting = 0

    def nest(self, pos: int) -> None:
        """One level deeper (a bracket, 'not', a function); refused past MAX_NESTING."""
        self.nesting += 1
        if self.nesting > MAX_NESTING:
            raise ExprError(f"nested more than {MAX_NESTING} deep; split the property", pos)

    def peek(self) -> tuple[str, str, int]:
        return self.toks[self.i]

    def take(self, value: str | None = None) -> tuple[str, str, int]:
        tok = self.toks[self.i]
        if value is not None and tok[1] != value:
            found = tok[1] or "end of expression"
            raise ExprError(f"expected {value!r}, found {found!r}", tok[2])
        self.i += 1
        return tok

    def at(self, *values: str) -> bool:
        kind, value, _ = self.peek()
        return kind == "op" and value in values

    def expr(self) -> Node:
        left = self.implies()
        while self.at("<->"):
            pos = self.take()[2]
            left = Binary(pos, "<->", left, self.implies())
        return left

    def implies(self) -> Node:
        left = self.since()
        if self.at("->"):
            pos = self.take()[2]
            return Binary(pos, "->", left, self.implies())
        return left

    def since(self) -> Node:
        left = self.disj()
        while self.at("since"):
            pos = self.take()[2]
            left = Binary(pos, "since", left, self.disj())
        return left

    def disj(self) -> Node:
        left = self.conj()
        while self.at("or"):
            pos = self.take()[2]
            left = Binary(pos, "or", left, self.conj())
        return left

    def conj(self) -> Node:
        left = self.negation()
        while self.at("and"):
            pos = self.take()[2]
            left = Binary(pos, "and", left, self.negation())
        return left

    def negation(self) -> Node:
        if self.at("not"):
            pos = self.take()[2]
            self.nest(pos)
            inner = self.negation()
            self.nesting -= 1
            return Unary(pos, "not", inner)
        return self.comparison()

    def comparison(self) -> Node:
        left = self.sum()
        if self.at("==", "!=", "<", "<=", ">", ">="):
            op, pos = self.take()[1:]
            return Binary(pos, op, left, self.sum())
        if self.at("in") or (self.at("not") and self.toks[self.i + 1][1] == "in"):
            negated = self.take()[1] == "not"
            pos = self.take("in")[2] if negated else self.toks[self.i - 1][2]
            self.take("{")
            items = [self.sum()]
            while self.at(","):
                self.take()
                items.append(self.sum())
            self.take("}")
            return Member(pos, left, tuple(items), negated)
        return left

    def sum(self) -> Node:
        left = self.atom()
        while self.at("+", "-"):
            op, pos = self.take()[1:]
            left = Binary(pos, op, left, self.atom())
        return left

    def atom(self) -> Node:
        kind, value, pos = self.peek()
        if kind == "num":
            self.take()
            if len(value) > 10 or int(value) > MAX_NUMBER:
                raise ExprError(f"number {value[:20]}{'...' if len(value) > 20 else ''} is larger than {MAX_NUMBER}",
                                pos)
            return Number(pos, int(value))
        if kind == "name":
            self.take()
            if self.at("("):
                return self.call(value, pos)
            return Name(pos, value)
        if self.at("("):
            self.nest(self.take()[2])
            inner = self.expr()
            self.take(")")
            self.nesting -= 1
            return inner
        found = value or "end of expression"
        raise ExprError(f"expected a name, number or '(', found {found!r}", pos)


    def call(self, func: str, pos: int) -> Call:
        owner, dot, name = func.rpartition(".")
        if not (func in FUNCTIONS or dot and owner in OWNERS and name in STEP_FUNCTIONS):
            known = ", ".join([*FUNCTIONS, *(f"X.{f}" for f in STEP_FUNCTIONS)])
            raise ExprError(f"unknown function {func!r}; the functions are {known} (X one of A, B, self, peer)", pos)
        self.nest(self.take("(")[2])
        args = [self.expr()]
        self.take(")")
        self.nesting -= 1
        return Call(pos, func, tuple(args))


def parse(text: str) -> Node:
    """Parse an expression; raises ExprError with the column on bad syntax."""
    p = _Parser(text)
    tree = p.expr()
    kind, value, pos = p.peek()
    if kind != "end":
        raise ExprError(f"unexpected {value!r} after a complete expression", pos)
    todo = [(tree, 1)]  # iteratively: a recursive walk is what the bound protects
    while todo:
        node, depth = todo.pop()
        if depth > MAX_DEPTH:
            raise ExprError(f"more than {MAX_DEPTH} operators deep; split the property", node.pos)
        todo.extend((child, depth + 1) for child in node.children())
    return tree


# ------------------------------------------------------------------ typing --

# A typed value: the gcl expression, and its type: "bool", "int", or the
# name of an enumeration ("state").
Typed = tuple[gcl.Expr, str]


class Env:
    """What names mean in a given system, and the enum constants."""

    def __init__(
        self,
        names: dict[str, Typed],
        enums: dict[str, tuple[str, ...]],
        aliases: dict[str, str] | None = None,
        extension: Callable[[Node, Env], Typed] | None = None,
    ) -> None:
        self.names = names
        self.enums = enums
        self.aliases = aliases or {}
        # Types calls and ``since`` (model/temporal.py); None where there are none.
        self.extension = extension

    def lookup(self, text: str) -> Typed | None:
        owner, dot, rest = text.partition(".")
        if dot and owner in self.aliases:
            text = f"{self.aliases[owner]}.{rest}"
        return self.names.get(text)


def typecheck(tree: Node, env: Env) -> gcl.Expr:
    """Type a parsed expression as a boolean gcl expression, or raise ExprError."""
    expr, kind = _typed(tree, env, None)
    if kind != "bool":
        raise ExprError(f"the expression is a {kind}, but a property must be true or false", tree.pos)
    return expr


def _constant(tree: Name, env: Env, want: str | None) -> Typed | None:
    for enum, values in env.enums.items():
        if tree.text in values and (want is None or want == enum):
            return gcl.Const(values.index(tree.text)), enum
    if tree.text in ("true", "false"):
        return gcl.Const(int(tree.text == "true")), "bool"
    return None


def _typed(tree: Node, env: Env, want: str | None) -> Typed:
    if isinstance(tree, Number):
        return gcl.Const(tree.value), "int"
    if isinstance(tree, Name):
        found = env.lookup(tree.text) or _constant(tree, env, want)
        if found is not None and found[1] == "step":
            raise ExprError(f"{tree.text!r} describes a step: use it inside X.can(...) or X.did(...)", tree.pos)
        if found is None:
            usable = [n for n, (_, kind) in env.names.items() if kind != "step"]
            known = sorted(
                {n.replace("A.", "X.").replace("B.", "X.") for n in usable}
                | {f"{a}.{n.split('.', 1)[1]}" for a in env.aliases for n in usable if n.startswith("A.")}
            )
            hint = ", ".join(k for k in known if not k.startswith("X.")) or ", ".join(known)
            raise ExprError(f"unknown name {tree.text!r}; known names: {hint}, and the state names", tree.pos)
        return found
    if isinstance(tree, Call) or isinstance(tree, Binary) and tree.op == "since":
        if env.extension is None:
            what = tree.func if isinstance(tree, Call) else "since"
            raise ExprError(f"'{what}' cannot be used here: only properties may use past time and steps", tree.pos)
        return env.extension(tree, env)
    if isinstance(tree, Unary):
        arg = _expect(tree.arg, env, "bool", "not")
        return gcl.Not(arg), "bool"
    if isinstance(tree, Member):
        arg, kind = _typed(tree.arg, env, None)
        if kind == "bool":
            raise ExprError("'in' needs a state or a number on its left, not a boolean", tree.pos)
        items = [_expect(item, env, kind, "in") for item in tree.items]
        test: gcl.Expr = gcl.Or(tuple(gcl.Cmp("==", arg, i) for i in items))
        return (gcl.Not(test) if tree.negated else test), "bool"
    assert isinstance(tree, Binary)
    op = tree.op
    if op in ("and", "or", "->", "<->"):
        left = _expect(tree.left, env, "bool", op)
        right = _expect(tree.right, env, "bool", op)
        if op == "and":
            return gcl.conj(left, right), "bool"
        if op == "or":
            return gcl.Or((left, right)), "bool"
        if op == "->":
            return gcl.Or((gcl.Not(left), right)), "bool"
        return gcl.Cmp("==", left, right), "bool"
    if op in ("+", "-"):
        left = _expect(tree.left, env, "int", op)
        right = _expect(tree.right, env, "int", op)
        if op == "-":
            right = gcl.Add((gcl.Const(0),)) if right == gcl.Const(0) else _negate(right, tree)
        return gcl.Add((left, right)), "int"
    # comparisons: type the side that is not a bare constant first
    ordering = op in ("<", "<=", ">", ">=")
    if isinstance(tree.left, Name) and env.lookup(tree.left.text) is None:
        right, kind = _typed(tree.right, env, None)
        if ordering and kind != "int":
            raise ExprError(f"'{op}' compares numbers, not {kind} values", tree.pos)
        left = _expect(tree.left, env, kind, op)
    else:
        left, kind = _typed(tree.left, env, None)
        if ordering and kind != "int":
            raise ExprError(f"'{op}' compares numbers, not {kind} values", tree.pos)
        right = _expect(tree.right, env, kind, op)
    return gcl.Cmp(op, left, right), "bool"


def _negate(expr: gcl.Expr, tree: Node) -> gcl.Expr:
    if isinstance(expr, gcl.Const):
        return gcl.Const(-expr.value)
    raise ExprError("subtraction of a variable is not supported; move it to the other side", tree.pos)


def _expect(tree: Node, env: Env, kind: str, op: str) -> gcl.Expr:
    expr, got = _typed(tree, env, kind)
    if got != kind:
        raise ExprError(f"type clash: '{op}' needs a {kind} here, but this is a {got}", tree.pos)
    return expr


def render(tree: Node, aliases: dict[str, str] | None = None) -> str:
    """Canonical text of an expression, with ``self``/``peer`` replaced per ``aliases``.

    Two subexpressions that mean the same for the same endpoint render the
    same: the key of a past-time monitor (model/temporal.py).
    """
    al = aliases or {}

    def name(text: str) -> str:
        owner, dot, rest = text.partition(".")
        return f"{al[owner]}.{rest}" if dot and owner in al else text

    def go(t: Node) -> str:
        if isinstance(t, Number):
            return str(t.value)
        if isinstance(t, Name):
            return name(t.text)
        if isinstance(t, Unary):
            return f"(not {go(t.arg)})"
        if isinstance(t, Call):
            return f"{name(t.func)}({', '.join(go(a) for a in t.args)})"
        if isinstance(t, Member):
            items = ", ".join(go(i) for i in t.items)
            return f"({go(t.arg)} {'not in' if t.negated else 'in'} {{{items}}})"
        assert isinstance(t, Binary)
        return f"({go(t.left)} {t.op} {go(t.right)})"

    return go(tree)
