"""Guarded commands compiled to numpy over many packed states at once.

The explicit engine expands a whole slice of a BFS layer per call: the
states are packed words (``model/packed.py``), each command's guard becomes
one boolean mask over the slice, and each successor is its source's words
plus a delta (``(new - old) * weight`` per assigned variable, constant where
the guard fixes the old value). Commands are grouped, as in the scalar
``compile_successors``, by the variables their guards most often test for
equality, so a command is evaluated only on the states that can enable it.

The generated source is plain Python over numpy arrays; ``show_source``
returns it for reading. Nothing here knows about TCP.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from tcpcheck.model import gcl
from tcpcheck.model.packed import U64, Layout

MIN_SPLIT = 3  # a group of fewer commands is not split further
MAX_NESTING = 3


def conjuncts(guard: gcl.Expr) -> list[gcl.Expr]:
    """The conjuncts of a guard (itself when it is no conjunction)."""
    return list(guard.args) if isinstance(guard, gcl.And) else [guard]


def key_equality(atom: gcl.Expr) -> tuple[int, int] | None:
    """(variable, value) when ``atom`` is ``variable == constant``: what command trees branch on."""
    if (
        isinstance(atom, gcl.Cmp)
        and atom.op == "=="
        and isinstance(atom.left, gcl.Ref)
        and isinstance(atom.right, gcl.Const)
    ):
        return atom.left.var, atom.right.value
    return None


class _Source:
    """numpy source text for expressions over cached columns ``c{var}``."""

    def __init__(self) -> None:
        self.used: set[int] = set()

    def col(self, var: int) -> str:
        self.used.add(var)
        return f"c{var}"

    def cond(self, e: gcl.Expr) -> str:
        if isinstance(e, gcl.Const):
            return "T" if e.value else "F"
        if isinstance(e, gcl.Ref):
            return f"({self.col(e.var)} != 0)"
        if isinstance(e, gcl.Not):
            if isinstance(e.arg, gcl.Const):
                return "F" if e.arg.value else "T"
            return f"(~{self.cond(e.arg)})"
        if isinstance(e, gcl.And):  # an empty And is true, an empty Or false ("not X.can(c)" with no such step)
            return "(" + " & ".join(self.cond(a) for a in e.args) + ")" if e.args else "T"
        if isinstance(e, gcl.Or):
            return "(" + " | ".join(self.cond(a) for a in e.args) + ")" if e.args else "F"
        if isinstance(e, gcl.Ite):
            return f"np.where({self.cond(e.cond)}, {self.cond(e.then)}, {self.cond(e.other)})"
        if isinstance(e, gcl.Cmp):
            return f"({self.term(e.left)} {e.op} {self.term(e.right)})"
        return f"({self.term(e)} != 0)"

    def term(self, e: gcl.Expr) -> str:
        if isinstance(e, gcl.Const):
            return str(e.value)
        if isinstance(e, gcl.Ref):
            return self.col(e.var)
        if isinstance(e, gcl.Add):
            return "(" + " + ".join(self.term(a) for a in e.args) + ")"
        if isinstance(e, gcl.Ite):
            return f"np.where({self.cond(e.cond)}, {self.term(e.then)}, {self.term(e.other)})"
        # a truth value used as a number: numpy's bool + bool is "or", so widen it first
        return f"({self.cond(e)}).astype(I64)"


def _prelude(layout: Layout) -> dict[str, object]:
    # numpy's booleans for the constants: ``~`` on Python's True is -2, which is true
    return {"np": np, "U64": U64, "I64": np.int64, "column": layout.column, "T": np.True_, "F": np.False_}


@dataclass
class _Node:
    commands: list[tuple[int, gcl.Command]]
    fixed: dict[int, int]  # variable -> value every state at this node has
    key: int | None = None
    children: dict[int, _Node] | None = None
    rest: list[tuple[int, gcl.Command]] | None = None


def _split(commands: list[tuple[int, gcl.Command]], fixed: dict[int, int], depth: int) -> _Node:
    node = _Node(commands, fixed)
    if depth >= MAX_NESTING or len(commands) < MIN_SPLIT:
        return node
    freq = Counter(k[0] for _, c in commands for a in conjuncts(c.guard)
                   if (k := key_equality(a)) and k[0] not in fixed)
    if not freq:
        return node
    var, hits = freq.most_common(1)[0]
    if hits < MIN_SPLIT:
        return node
    by_value: dict[int, list[tuple[int, gcl.Command]]] = {}
    rest = []
    for i, c in commands:
        value = next((k[1] for a in conjuncts(c.guard) if (k := key_equality(a)) and k[0] == var), None)
        if value is None:
            rest.append((i, c))
        else:
            by_value.setdefault(value, []).append((i, c))
    node.key = var
    node.children = {value: _split(cs, {**fixed, var: value}, depth + 1) for value, cs in sorted(by_value.items())}
    node.rest = rest
    return node


class _Emitter:
    """Writes one function per node of the grouping tree."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.lines: list[str] = []
        self.count = 0

    def command(self, i: int, c: gcl.Command, fixed: dict[int, int], out: list[str]) -> set[int]:
        src = _Source()
        atoms = [a for a in conjuncts(c.guard) if not ((k := key_equality(a)) and fixed.get(k[0]) == k[1])]
        known = dict(fixed)
        for a in atoms:
            if (k := key_equality(a)) is not None:
                known[k[0]] = k[1]
        mask = " & ".join(src.cond(a) for a in atoms) if atoms else None
        if mask is not None and not src.used:  # a constant guard
            if not all(gcl.evaluate(a, ()) for a in atoms):
                return set()
            mask = None
        # Each word of the successor: (word & clear) | set_ + constant + variable deltas.
        layout = self.layout
        clear = [(1 << 64) - 1] * layout.words
        setb = [0] * layout.words
        const = [0] * layout.words
        varying: list[list[str]] = [[] for _ in range(layout.words)]
        for var, e in c.updates:
            w, weight = layout.unit(var)
            f, _ = layout.where[var]
            if isinstance(e, gcl.Const) and var in known:
                const[w] = (const[w] + (e.value - known[var]) * weight) % (1 << 64)
            elif isinstance(e, gcl.Const) and f.single:
                clear[w] &= ~(((1 << f.bits) - 1) << f.shift) & ((1 << 64) - 1)
                setb[w] |= e.value << f.shift
            else:
                new = src.term(e)
                old = str(known[var]) if var in known else src.col(var)
                varying[w].append(f"(({new}) - {old}).astype(I64).view(U64) * U64({weight})")
        sel_cols = sorted(src.used)
        body = out
        if mask is None:
            body.append("    sel = everything")
        else:
            body.append(f"    m = {mask}")
            body.append("    sel = np.flatnonzero(m)")
        body.append("    if sel.size:")
        # columns the updates read, at the selected rows
        upd = _Source()
        for var, e in c.updates:
            if not (isinstance(e, gcl.Const) and (var in known or layout.where[var][0].single)):
                upd.term(e)
                if var not in known:
                    upd.col(var)
        del sel_cols
        for v in sorted(upd.used):
            body.append(f"        s{v} = c{v}[sel]")
        words = []
        for w in range(layout.words):
            expr = f"words[{w}][sel]"
            if clear[w] != (1 << 64) - 1:
                expr = f"({expr} & U64({clear[w]}))"
            if setb[w]:
                expr = f"({expr} | U64({setb[w]}))"
            if const[w]:
                expr = f"{expr} + U64({const[w]})"
            for d in varying[w]:
                expr += " + " + _rename_selected(d)
            words.append(expr)
        body.append(f"        add({i}, rows[sel], [{', '.join(words)}])")
        return src.used | upd.used

    def node(self, node: _Node) -> str:
        """Emit the function for ``node``; return its name."""
        name = f"node{self.count}"
        self.count += 1
        body: list[str] = []
        used: set[int] = set()
        children: list[tuple[int, str]] = []
        if node.children is not None:
            for value, sub in node.children.items():
                children.append((value, self.node(sub)))
            direct = node.rest or []
        else:
            direct = node.commands
        for i, c in direct:
            used |= self.command(i, c, node.fixed, body)
        lines = [f"def {name}(words, rows, add):", "    n = rows.size", "    everything = np.arange(n)"]
        if node.key is not None:
            used.add(node.key)
        for v in sorted(used):
            lines.append(f"    c{v} = column(words, {v})")
        lines += body
        if node.key is not None:
            for value, fname in children:
                lines.append(f"    pick = np.flatnonzero(c{node.key} == {value})")
                lines.append("    if pick.size:")
                lines.append(f"        {fname}([w[pick] for w in words], rows[pick], add)")
        self.lines += lines + [""]
        return name


def _rename_selected(delta: str) -> str:
    """A delta written over columns ``cV`` rewritten over the selected rows ``sV``."""
    import re

    return re.sub(r"\bc(\d+)\b", r"s\1", delta)


VectorSuccessors = Callable[[Sequence[np.ndarray]], tuple[np.ndarray, np.ndarray, list[np.ndarray]]]


def compile_vector_successors(system: gcl.System, layout: Layout) -> tuple[VectorSuccessors, str]:
    """A function from packed states to all their successors, and its source.

    ``succ(words) -> (rows, commands, new_words)``: ``rows[j]`` is the index
    (into ``words``) of the state whose command ``commands[j]`` leads to the
    state ``new_words[.][j]``.
    """
    root = _split(list(enumerate(system.commands)), {}, 0)
    emitter = _Emitter(layout)
    top = emitter.node(root)
    source = "\n".join(emitter.lines)
    namespace = _prelude(layout)
    exec(compile(source, "<tcpcheck vector successors>", "exec"), namespace)  # noqa: S102
    entry = namespace[top]
    nwords = layout.words

    def successors(words: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
        rows_out: list[np.ndarray] = []
        cmds_out: list[tuple[int, int]] = []
        words_out: list[list[np.ndarray]] = [[] for _ in range(nwords)]

        def add(cmd: int, rows: np.ndarray, new: list[np.ndarray]) -> None:
            rows_out.append(rows)
            cmds_out.append((cmd, rows.size))
            for w in range(nwords):
                words_out[w].append(new[w])

        n = len(words[0])
        entry(list(words), np.arange(n), add)  # type: ignore[operator]
        if not rows_out:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, [np.zeros(0, dtype=U64) for _ in range(nwords)]
        cmds = np.repeat(np.array([c for c, _ in cmds_out], dtype=np.int64),
                         np.array([k for _, k in cmds_out], dtype=np.int64))
        return np.concatenate(rows_out), cmds, [np.concatenate(ws) for ws in words_out]

    return successors, source


def compile_vector_predicate(expr: gcl.Expr, layout: Layout) -> Callable[[Sequence[np.ndarray]], np.ndarray]:
    """A boolean expression over many packed states: one bool per state."""
    src = _Source()
    return _columns_function(src.cond(expr), "bool", src, layout)


def compile_matrix_predicate(expr: gcl.Expr) -> Callable[[np.ndarray], np.ndarray]:
    """A boolean expression over states given as the rows of an integer matrix (one column per
    variable, unpacked): one bool per row. Houdini filters its candidates on a sample this way."""
    src = _Source()
    text = src.cond(expr)
    lines = ["def f(rows):", "    n = len(rows)"]
    lines += [f"    c{v} = rows[:, {v}]" for v in sorted(src.used)]
    lines.append(f"    return np.broadcast_to(np.asarray({text}, dtype=bool), (n,))")
    namespace: dict[str, object] = {"np": np, "I64": np.int64, "T": np.True_, "F": np.False_}
    exec(compile("\n".join(lines), "<tcpcheck matrix expression>", "exec"), namespace)  # noqa: S102
    return namespace["f"]  # type: ignore[return-value]


def compile_vector_predicates(exprs: Sequence[gcl.Expr],
                              layout: Layout) -> Callable[[Sequence[np.ndarray]], np.ndarray]:
    """Many boolean expressions over many packed states at once: an (states, expressions) bool array,
    each variable's column extracted once."""
    src = _Source()
    texts = [src.cond(e) for e in exprs]
    lines = ["def f(words):", "    n = len(words[0])", f"    out = np.empty((n, {len(texts)}), dtype=bool)"]
    lines += [f"    c{v} = column(words, {v})" for v in sorted(src.used)]
    lines += [f"    out[:, {i}] = {t}" for i, t in enumerate(texts)]
    lines.append("    return out")
    namespace = _prelude(layout)
    exec(compile("\n".join(lines), "<tcpcheck vector expressions>", "exec"), namespace)  # noqa: S102
    return namespace["f"]  # type: ignore[return-value]


def compile_vector_term(expr: gcl.Expr, layout: Layout) -> Callable[[Sequence[np.ndarray]], np.ndarray]:
    """An integer expression over many packed states: one int64 per state."""
    src = _Source()
    return _columns_function(src.term(expr), "I64", src, layout)


def _columns_function(text: str, dtype: str, src: _Source,
                      layout: Layout) -> Callable[[Sequence[np.ndarray]], np.ndarray]:
    """``text`` (numpy source over the columns ``src`` used) as a function of the packed words."""
    lines = ["def f(words):", "    n = len(words[0])"]
    lines += [f"    c{v} = column(words, {v})" for v in sorted(src.used)]
    lines.append(f"    return np.broadcast_to(np.asarray({text}, dtype={dtype}), (n,))")
    namespace = _prelude(layout)
    exec(compile("\n".join(lines), "<tcpcheck vector expression>", "exec"), namespace)  # noqa: S102
    return namespace["f"]  # type: ignore[return-value]
