"""The symbolic engine: the guarded commands of ``model/gcl.py`` as a Z3 transition relation.

Nothing here knows about TCP: it reads a ``gcl.System`` (variables with finite
domains, an initial valuation, guarded commands) and the properties' ``gcl``
expressions, exactly what the explicit engine reads.

* **Encoding.** Each variable is one Z3 term per time frame: a bit-vector as
  narrow as its domain by default (BMC 4x faster than ``Int`` measured), or
  an ``Int`` with a range constraint (needed for unbounded counters). A step
  is T(s, s', c): an integer selector ``c`` names the command taken, the
  command's guard holds in ``s``, and each variable of ``s'`` is the update of
  the selected command or keeps its value. Reading ``c`` off a model gives the
  command sequence of a counterexample, which ``tcpcheck.model.results.trace`` turns
  into the same Steps the explicit engine prints.
* **Bounded model checking** with iterative deepening over one unrolling,
  each query a fresh solver by default (``Unrolling``): the first depth at
  which a target is satisfiable is the length of a shortest path to it, so
  counterexamples and witnesses are shortest.
* **Unbounded proofs.** Where every reachable state can be drawn (a finite
  system of at most ``Options.sample_limit`` of them), ``guided``: every
  clause none of them breaks is invariant, so it starts from all such
  two-variable clauses and the negations of the unreachable targets, and
  blocks counterexamples to induction (``tcpcheck.model.guided``) until Z3
  finds the conjunction inductive. At K = 3 FIFO that proves every open
  target in one pass of about 300 queries (13 CPU-s), where Houdini,
  k-induction and IC3 below took about 150 s. Elsewhere, cheapest first:
  (1) Houdini: candidate clauses
  ``not (x = a and y = b)`` over every pair of variables, filtered by a
  breadth-first sample of reachable states, plus the negations of the targets
  still open, pruned with Z3 until the survivors are inductive. Candidates are
  clauses over one Boolean indicator per atom (measured 3x faster than over
  bit-vector equalities). (2) k-induction (k <= 3) strengthened by that
  invariant. (3) IC3 (``tcpcheck.model.ic3``) for what is left and no sampled
  reachable state meets (what one meets has a path, which BMC finds for less
  than IC3's search), starting from Houdini's clauses, which then only has to find the few wider lemmas they lack (e.g.
  CLOSING is unreachable at K = 1 FIFO, which no two-variable clauses and
  k <= 3 prove). Spacer (PDR over Horn clauses, ``z3.Fixedpoint``) was
  measured first and dropped: it timed out after 120 s on the smallest model
  (K = 1, 316 commands) for time_wait_active_closer in every encoding tried
  (selector, one rule per command, Int, BitVec); IC3 alone, without Houdini's
  clauses, did not converge on it in 60 s either. Tried again at K = 3 FIFO on
  the two invariants only IC3 proves there, with Houdini's invariant in every
  rule body: unknown after 90-120 CPU-s in every encoding and option set,
  where IC3 takes about 110 s and 5 s (bench/spacer_vs_ic3.py). Where none finds a proof
  within its budget, the verdict falls back to the explicit state space and
  its ``method`` says so.
* **Every channel bound at once.** ``abstract_every_bound`` turns a system
  whose channels are per-segment counters (``reorder``) into one whose
  counters are unbounded naturals, dropping the capacity guards: every
  bounded system is a restriction of it, so an invariant proved there holds
  for every K.
* ``recoverable`` properties (AG (from -> EF p)) mix a universal and an
  existential path quantifier, which neither BMC nor Horn clauses over
  ``Reach`` express; ``check`` decides them on the explicit state space and
  says so in the verdict's ``method``.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import z3

from tcpcheck.model import gcl
from tcpcheck.model.properties import Property
from tcpcheck.model.results import Step, Verdict, trace

# Z3's own Ctrl-C handler swallows the signal when it arrives outside a
# solver check (measured: verify --engine z3 interrupted 2.5 s in ran on);
# without it, Python raises KeyboardInterrupt when the current call returns.
z3.set_param("ctrl_c", False)

SORTS = ("int", "bv")
DEFAULT_SORT = "bv"  # measured: BMC to depth 15 at K = 1 takes 4.8 s with bit-vectors, 19 s with integers
ENGINE = "z3"


# ---------------------------------------------------------------- encoding --


def _is_capacity_guard(atom: gcl.Expr, counters: set[int]) -> bool:
    """``c1 + ... + cn <= K - m`` over channel counters: a channel's room check."""
    return (
        isinstance(atom, gcl.Cmp)
        and atom.op == "<="
        and isinstance(atom.right, gcl.Const)
        and isinstance(atom.left, gcl.Add)
        and bool(atom.left.args)
        and all(isinstance(a, gcl.Ref) and a.var in counters for a in atom.left.args)
    )


def channel_counters(system: gcl.System) -> set[int]:
    """The channel variables that are counters (values "0".."K"), empty for FIFO slots."""
    out: set[int] = set()
    for vars_ in system.channels.values():
        for v in vars_:
            values = system.vars[v].values
            if values == tuple(str(i) for i in range(len(values))):
                out.add(v)
    return out


@dataclass
class Abstraction:
    """A system with some variables' upper bounds lifted, and why that is sound."""

    system: gcl.System
    unbounded: frozenset[int]
    dropped_guards: int
    description: str


def abstract_every_bound(system: gcl.System) -> Abstraction:
    """The counter abstraction of a reordering system, for every channel bound at once.

    With reordering, a channel is one counter per segment kind, and the bound
    K appears only as the counters' domain (0..K) and in the guards
    ``sum(counters) <= K - n`` before a send. Dropping those guards and
    letting the counters range over all naturals gives a system of which
    every bounded one (any K, same faults) is a restriction: same initial
    state, each bounded transition is one of ours. Its reachable states
    therefore include theirs, and an invariant proved here holds for every K.
    """
    counters = channel_counters(system)
    if not counters:
        raise ValueError("the channels are FIFO slots, not counters: build the system with reorder=True")
    dropped = 0
    commands = []
    for c in system.commands:
        atoms = list(c.guard.args) if isinstance(c.guard, gcl.And) else [c.guard]
        kept = [a for a in atoms if not _is_capacity_guard(a, counters)]
        dropped += len(atoms) - len(kept)
        commands.append(gcl.Command(c.name, gcl.conj(*kept), c.updates, c.action))
    # the monitors and the step vocabulary carry over: the commands update the monitors as before
    abstract = dataclasses.replace(system, commands=tuple(commands), options={**system.options, "bound": "any"})
    faults = [f for f in ("reorder", "loss", "duplicate") if system.options.get(f)]
    return Abstraction(
        abstract,
        frozenset(counters),
        dropped,
        f"counter abstraction: {len(counters)} channel counters range over all naturals and the "
        f"{dropped} channel-capacity guards are dropped ({'+'.join(faults)}); every bounded system with "
        f"these faults is a restriction of it, so a proof here holds for every channel bound K",
    )


class Encoding:
    """One ``gcl.System`` as Z3 terms: states, initial condition, transition relation.

    ``unbounded`` variables have no upper bound (the counter abstraction).
    """

    def __init__(self, system: gcl.System, sort: str = DEFAULT_SORT, unbounded: Iterable[int] = ()) -> None:
        if sort not in SORTS:
            raise ValueError(f"unknown sort {sort!r}; use one of {SORTS}")
        self.system = system
        self.sort = sort
        self.unbounded = frozenset(unbounded)
        if sort == "bv" and self.unbounded:
            raise ValueError("unbounded variables need the int sort")
        # Wide enough for any sum of variables the guards compute, plus a sign bit.
        total = sum(v.size for v in system.vars) + 2
        self.width = max(4, total.bit_length() + 2)
        self.widths = [max(1, (v.size - 1).bit_length()) for v in system.vars]
        self.commands = system.commands
        self.ctx_counter = 0
        self._template: tuple[list[Any], list[Any], Any, z3.BoolRef] | None = None

    # terms --------------------------------------------------------------
    def num(self, value: int) -> z3.ArithRef | z3.BitVecRef:
        """A constant at the common arithmetic width."""
        return z3.IntVal(value) if self.sort == "int" else z3.BitVecVal(value, self.width)

    def state(self, tag: str) -> list[Any]:
        """Fresh constants for one time frame (bit-vectors as narrow as each domain allows)."""
        if self.sort == "int":
            return [z3.Int(f"{v.name}@{tag}") for v in self.system.vars]
        return [z3.BitVec(f"{v.name}@{tag}", w) for v, w in zip(self.system.vars, self.widths, strict=True)]

    def domain(self, s: Sequence[Any]) -> z3.BoolRef:
        """Every variable within its declared domain (unbounded ones: non-negative)."""
        parts = []
        for i, (v, x) in enumerate(zip(self.system.vars, s, strict=True)):
            if self.sort == "bv":
                if v.size < 2 ** self.widths[i]:
                    parts.append(z3.ULE(x, v.size - 1))
                continue
            parts.append(x >= 0)
            if i not in self.unbounded:
                parts.append(x <= v.size - 1)
        return z3.And(parts)

    def init(self, s: Sequence[Any]) -> z3.BoolRef:
        """The initial valuation."""
        return z3.And([self.wide(x) == self.num(v) for x, v in zip(s, self.system.init, strict=True)])

    def wide(self, x: Any) -> Any:
        """A variable's term at the common arithmetic width (bit-vectors are stored narrow, unsigned)."""
        if self.sort == "int" or x.size() == self.width:
            return x
        return z3.ZeroExt(self.width - x.size(), x)

    def term(self, e: gcl.Expr, s: Sequence[Any]) -> Any:
        """``e`` as an integer term (booleans are 0/1, as in ``gcl.evaluate``)."""
        if isinstance(e, gcl.Const):
            return self.num(e.value)
        if isinstance(e, gcl.Ref):
            return self.wide(s[e.var])
        if isinstance(e, gcl.Add):
            terms = [self.term(a, s) for a in e.args]
            return terms[0] if len(terms) == 1 else z3.Sum(terms) if self.sort == "int" else _bv_sum(terms)
        if isinstance(e, gcl.Ite):
            return z3.If(self.cond(e.cond, s), self.term(e.then, s), self.term(e.other, s))
        return z3.If(self.cond(e, s), self.num(1), self.num(0))

    def cond(self, e: gcl.Expr, s: Sequence[Any]) -> z3.BoolRef:
        """``e`` as a formula (an integer is true when non-zero)."""
        if isinstance(e, gcl.Const):
            return z3.BoolVal(e.value != 0)
        if isinstance(e, gcl.Not):
            return z3.Not(self.cond(e.arg, s))
        if isinstance(e, gcl.And):
            return z3.And([self.cond(a, s) for a in e.args])
        if isinstance(e, gcl.Or):
            return z3.Or([self.cond(a, s) for a in e.args])
        if isinstance(e, gcl.Ite):
            return z3.If(self.cond(e.cond, s), self.cond(e.then, s), self.cond(e.other, s))
        if isinstance(e, gcl.Cmp):
            left, right = self.term(e.left, s), self.term(e.right, s)
            return {
                "==": lambda: left == right,
                "!=": lambda: left != right,
                "<": lambda: left < right,
                "<=": lambda: left <= right,
                ">": lambda: left > right,
                ">=": lambda: left >= right,
            }[e.op]()
        return self.term(e, s) != self.num(0)

    def solver(self) -> z3.Solver:
        """A solver for this encoding's logic (bit-vectors, or linear integers)."""
        if self.sort == "bv":
            return z3.SolverFor("QF_BV")
        solver = z3.SolverFor("QF_LIA")
        # Z3's older simplex solver: on the counter abstraction at K = 3 (--every-bound), Houdini
        # took 1.43 CPU-s with it against 1.78 with the default, k-induction 0.40 against 0.88
        # (two runs each, same invariant, same proofs).
        solver.set("arith.solver", 2)
        return solver

    def selector(self, name: str) -> Any:
        """A fresh command selector (a bit-vector under the bv sort, so the query stays pure bit-vector)."""
        if self.sort == "int":
            return z3.Int(name)
        return z3.BitVec(name, max(1, len(self.commands).bit_length()))

    def trans(self, s: Sequence[Any], t: Sequence[Any], sel: Any) -> z3.BoolRef:
        """T(s, t) for the command numbered ``sel``; ``t`` stays within the domains.

        Built once over template frames, then renamed per call with
        ``z3.substitute`` (in C++): building the terms afresh from the
        commands in Python was half of BMC's time on the timed model
        (measured: 12 s of 24 s to its depth-11 counterexample at MSL 1).
        """
        if self._template is None:
            ts, tt, tsel = self.state("T"), self.state("T'"), self.selector("cmd@T")
            self._template = (ts, tt, tsel, self._trans(ts, tt, tsel))
        ts, tt, tsel, body = self._template
        return z3.substitute(body, *zip(ts, s, strict=True), *zip(tt, t, strict=True), (tsel, sel))

    def _trans(self, s: Sequence[Any], t: Sequence[Any], sel: Any) -> z3.BoolRef:
        parts: list[z3.BoolRef] = [sel >= 0, sel < len(self.commands)] if self.sort == "int" else [
            z3.ULT(sel, len(self.commands))]
        parts.extend(z3.Implies(sel == i, self.cond(c.guard, s)) for i, c in enumerate(self.commands))
        # Per variable, the commands that assign it grouped by the expression
        # they assign: one If per distinct update keeps T small.
        by_var: dict[int, dict[gcl.Expr, list[int]]] = {}
        for i, c in enumerate(self.commands):
            for v, e in c.updates:
                by_var.setdefault(v, {}).setdefault(e, []).append(i)
        for v, x in enumerate(t):
            value: Any = self.wide(s[v])
            for e, idx in by_var.get(v, {}).items():
                hit = sel == idx[0] if len(idx) == 1 else z3.Or([sel == i for i in idx])
                value = z3.If(hit, self.term(e, s), value)
            parts.append(self.wide(x) == value)
        parts.append(self.domain(t))
        return z3.And(parts)

    def values(self, model: z3.ModelRef, s: Sequence[Any]) -> tuple[int, ...]:
        """A frame's valuation in ``model``."""
        out = []
        for x in s:
            val = model.eval(x, model_completion=True)
            out.append(val.as_long())
        return tuple(out)


def _bv_sum(terms: list[Any]) -> Any:
    total = terms[0]
    for t in terms[1:]:
        total = total + t
    return total


# --------------------------------------------------------------------- BMC --


@dataclass
class Path:
    """A path found by BMC: states and the command taken into each (None first)."""

    states: list[tuple[int, ...]]
    commands: list[int | None]

    @property
    def depth(self) -> int:
        return len(self.states) - 1


class Unrolling:
    """One BMC unrolling, deepened on demand and shared by every target.

    With ``fresh`` off: one incremental solver, each step and goal switched on
    by an assumption literal. With ``fresh`` (the checker's default), each query is a new solver given the
    steps it needs, the lemmas learnt so far and the goal, and no
    assumptions: Z3 then runs its whole QF_BV preprocessing (constant
    propagation from the initial state, solving the next-state equations
    away, then bit-blasting) before the SAT solver; the incremental solver
    must keep every frame's variables for later queries and does far less.
    Measured on the timed model without TIME_WAIT (2 incarnations, MSL 1),
    in one run at load 8: 40.9 s to the depth-11 counterexample against
    215.3 s incrementally (bench/timed_z3_bench.py).
    """

    def __init__(self, enc: Encoding, fresh: bool = False) -> None:
        self.enc = enc
        self.fresh = fresh
        self.solver = enc.solver()
        self.frames = [enc.state("0")]
        self.selectors: list[Any] = []
        self.steps: list[z3.BoolRef] = []
        self.relations: list[z3.BoolRef] = []  # T(frame k - 1, frame k), kept for fresh queries
        self.lemmas: list[tuple[int, z3.BoolRef]] = []  # (depth, what holds at that frame), fresh queries
        self.solver.add(enc.init(self.frames[0]))
        self.checks = 0

    @property
    def depth(self) -> int:
        return len(self.frames) - 1

    def deepen(self) -> None:
        """Add one more step."""
        k = len(self.frames)
        t = self.enc.state(str(k))
        sel = self.enc.selector(f"cmd@{k}")
        relation = self.enc.trans(self.frames[-1], t, sel)
        # Each step is switched on by a literal that a query assumes only up
        # to its depth: a shorter path need not extend to the deepest frame
        # (it may end in a deadlock).
        step = z3.Bool(f"step@{k}")
        if self.fresh:
            self.relations.append(relation)
        else:
            self.solver.add(z3.Implies(step, relation))
        self.frames.append(t)
        self.selectors.append(sel)
        self.steps.append(step)

    def learn(self, fact: z3.BoolRef, depth: int) -> None:
        """``fact`` holds at frame ``depth`` of every path of at least ``depth`` steps."""
        if self.fresh:
            self.lemmas.append((depth, fact))
        else:
            # under the step's literal: it speaks of paths that take it
            self.solver.add(z3.Implies(self.steps[depth - 1], fact) if depth else fact)

    def query(self, goal: z3.BoolRef, depth: int | None = None) -> z3.ModelRef | None:
        """A model of the first ``depth`` steps (default: all) and ``goal``, or None.

        Incrementally, the goal is guarded by a fresh assumption literal
        rather than push/pop: Z3 then keeps its incremental bit-blasting SAT
        solver (measured 1.7x faster than push/pop at K = 3, depth 15).
        """
        self.checks += 1
        depth = self.depth if depth is None else depth
        if self.fresh:
            solver = self.enc.solver()
            solver.add(self.enc.init(self.frames[0]), *self.relations[:depth],
                       *(fact for d, fact in self.lemmas if d <= depth), goal)
            result = solver.check()
            if result == z3.unknown:
                raise RuntimeError(f"Z3 gave up on a BMC query ({solver.reason_unknown()})")
            return solver.model() if result == z3.sat else None
        lit = z3.Bool(f"goal{self.checks}")
        self.solver.add(z3.Implies(lit, goal))
        result = self.solver.check(lit, *self.steps[:depth])
        if result == z3.sat:
            model = self.solver.model()
            self.solver.add(z3.Not(lit))
            return model
        self.solver.add(z3.Not(lit))
        if result != z3.unsat:
            raise RuntimeError(f"Z3 gave up on a BMC query ({self.solver.reason_unknown()})")
        return None

    def hit(self, target: gcl.Expr, depth: int) -> Path | None:
        """A path of exactly ``depth`` steps ending in a ``target`` state, if any."""
        while self.depth < depth:
            self.deepen()
        m = self.query(self.enc.cond(target, self.frames[depth]), depth)
        if m is None:
            return None
        states = [self.enc.values(m, f) for f in self.frames[: depth + 1]]
        cmds: list[int | None] = [None] + [m.eval(c, model_completion=True).as_long() for c in self.selectors[:depth]]
        return Path(states, cmds)

    def shortest(self, target: gcl.Expr, max_depth: int, start: int = 0) -> Path | None:
        """Iterative deepening: the shortest path (``start`` <= length <= ``max_depth``) to ``target``."""
        for depth in range(start, max_depth + 1):
            path = self.hit(target, depth)
            if path is not None:
                return path
        return None


# ------------------------------------------------------ Houdini invariants --

Atom = tuple[int, str, int]  # (var, op, value): var == value, or var >= value for unbounded counters


def _atoms(system: gcl.System, unbounded: frozenset[int]) -> list[Atom]:
    """Candidate atoms per variable: (var, op, value) with op "==" or ">=" (unbounded counters)."""
    out: list[Atom] = []
    for v, var in enumerate(system.vars):
        if v in unbounded:
            out += [(v, "==", 0), (v, ">=", 1)]
        else:
            out += [(v, "==", a) for a in range(var.size)]
    return out


def _atom_expr(atom: Atom) -> gcl.Expr:
    v, op, a = atom
    return gcl.Cmp(op, gcl.Ref(v), gcl.Const(a))


def sample_states(system: gcl.System, limit: int) -> list[tuple[int, ...]]:
    """Up to ``limit`` reachable states, breadth first: used only to discard
    candidate invariants cheaply (a sampled state refutes a candidate; nothing
    is ever proved from samples)."""
    from collections import deque

    from tcpcheck.model.explicit import compile_successors

    succ = compile_successors(system)
    seen = {system.init}
    queue = deque([system.init])
    while queue and len(seen) < limit:
        for _, nxt in succ(queue.popleft()):
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
                if len(seen) >= limit:
                    break
    return list(seen)


HOUDINI_WALK = 300  # states visited from each of Houdini's counterexamples to drop more candidates at once


class _Indicators:
    """One Boolean per atom and frame, defined as the atom: clauses over them are plain SAT clauses.

    Measured at K = 2 with loss: Houdini's solver time falls from 21 s to 7 s
    when candidates are clauses over these rather than over bit-vector
    equalities directly.
    """

    def __init__(self, enc: Encoding, solver: z3.Solver, atoms: Sequence[Atom], frame: Sequence[Any],
                 tag: str) -> None:
        self.lits = [z3.Bool(f"{tag}:{v}{op}{a}") for v, op, a in atoms]
        for lit, (v, op, a) in zip(self.lits, atoms, strict=True):
            x = enc.wide(frame[v])
            solver.add(lit == (x == enc.num(a) if op == "==" else x >= enc.num(a)))
        self._negated = [z3.Not(lit) for lit in self.lits]
        self._ctx = self.lits[0].ctx if self.lits else z3.main_ctx()

    def excluded(self, pair: tuple[int, int]) -> z3.BoolRef:
        """The clause ``not (atom_i and atom_j)``."""
        # Straight to Z3's C API: thousands of these per frame, and z3.Or's
        # argument coercion was a third of k-induction's set-up (cProfile,
        # --every-bound at K = 3).
        args = (z3.Ast * 2)(self._negated[pair[0]].as_ast(), self._negated[pair[1]].as_ast())
        return z3.BoolRef(z3.Z3_mk_or(self._ctx.ref(), 2, args), self._ctx)


@dataclass
class Strengthening:
    """An inductive invariant found by Houdini: the surviving two-atom exclusions and extra clauses."""

    atoms: list[Atom]
    pairs: list[tuple[int, int]]  # not (atoms[i] and atoms[j])
    extra: list[gcl.Expr]
    candidates: int
    rounds: int
    seconds: float
    # Cubes blocked on top of the clauses (``model/guided.py``): not (x = a and y = b and ...).
    cubes: list[tuple[tuple[int, int], ...]] = dataclasses.field(default_factory=list)
    found_by: str = "Houdini"

    @functools.cached_property
    def clauses(self) -> list[gcl.Expr]:
        """Every clause as an expression (built once: each proved verdict reports them)."""
        return [gcl.Not(gcl.And((_atom_expr(self.atoms[i]), _atom_expr(self.atoms[j])))) for i, j in self.pairs
                ] + list(self.extra) + [gcl.Not(gcl.conj(*(gcl.eq(v, a) for v, a in c))) for c in self.cubes]

    def expr(self) -> gcl.Expr:
        return gcl.conj(*self.clauses)

    def describe(self, system: gcl.System, limit: int = 12) -> list[str]:
        """The clauses as readable text (first ``limit``)."""
        return [_show(c, system) for c in self.clauses[:limit]]

    def assert_on(self, enc: Encoding, solver: z3.Solver, frame: Sequence[Any], tag: str) -> None:
        """Add the invariant at ``frame`` to ``solver``."""
        ind = _Indicators(enc, solver, self.atoms, frame, tag)
        for p in self.pairs:  # as excluded(): past solver.add's coercion of each clause
            z3.Z3_solver_assert(ind._ctx.ref(), solver.solver, ind.excluded(p).as_ast())
        solver.add(*(enc.cond(e, frame) for e in self.extra))
        if self.cubes:
            index = {(v, a): k for k, (v, op, a) in enumerate(self.atoms) if op == "=="}
            solver.add(*(z3.Or([z3.Not(ind.lits[index[x]]) for x in c]) for c in self.cubes))


def _show(e: gcl.Expr, system: gcl.System) -> str:
    if isinstance(e, gcl.Const):
        return str(e.value)
    if isinstance(e, gcl.Ref):
        return system.vars[e.var].name
    if isinstance(e, gcl.Not):
        return f"not {_show(e.arg, system)}"
    if isinstance(e, gcl.And | gcl.Or):
        sep = " and " if isinstance(e, gcl.And) else " or "
        return "(" + sep.join(_show(a, system) for a in e.args) + ")"
    if isinstance(e, gcl.Add):
        return "(" + " + ".join(_show(a, system) for a in e.args) + ")"
    if isinstance(e, gcl.Ite):
        return f"({_show(e.then, system)} if {_show(e.cond, system)} else {_show(e.other, system)})"
    if isinstance(e.left, gcl.Ref) and isinstance(e.right, gcl.Const) and e.op in ("==", "!="):
        var = system.vars[e.left.var]
        if 0 <= e.right.value < var.size and not var.values[0].isdigit():
            return f"{var.name} {e.op} {var.values[e.right.value]}"
    return f"{_show(e.left, system)} {e.op} {_show(e.right, system)}"


def _truth(atoms: Sequence[Atom], rows: np.ndarray) -> np.ndarray:
    """Each atom's truth (columns) in each state (``rows``, one column per variable)."""
    cols = rows[:, [a[0] for a in atoms]]
    values = np.array([a[2] for a in atoms], dtype=np.int64)
    return np.where(np.array([a[1] == ">=" for a in atoms], dtype=bool), cols >= values, cols == values)


def _unseen_pairs(atoms: Sequence[Atom], truth: np.ndarray) -> list[tuple[int, int]]:
    """The pairs of atoms of different variables that no row of ``truth`` (a state's atoms, one
    column per atom) makes both true: the candidate clauses not (atom_i and atom_j)."""
    # Per atom, its states as packed bits, and one AND per pair of atoms. Per state in Python
    # this was half of --every-bound's time; as a float32 matrix product (held.T @ held), 0.5 s
    # of it at K = 3 (20,001 states x 106 atoms); packed, 0.006 s.
    packed = np.packbits(truth, axis=0)
    atom_var = [a[0] for a in atoms]
    out: list[tuple[int, int]] = []
    for i in range(len(atoms) - 1):
        met = (packed[:, i:i + 1] & packed[:, i + 1:]).any(axis=0)
        out += [(i, j) for j in (np.flatnonzero(~met) + i + 1).tolist() if atom_var[j] != atom_var[i]]
    return out


def _unbroken(extra: Sequence[gcl.Expr], rows: np.ndarray) -> tuple[list[gcl.Expr], list[Callable[..., Any]]]:
    """The expressions of ``extra`` that hold in every row of ``rows`` (states), each with its
    compiled test: one some (reachable) state breaks is not invariant."""
    from tcpcheck.model.vectorized import compile_matrix_predicate

    # Compiled to numpy over all the states at once: per state, even compiled to Python, this was
    # 4 of --every-bound's 14 CPU seconds at K = 3 (cProfile); interpreted (gcl.evaluate) it had
    # been 3 of Houdini's 3.5 CPU minutes at K = 3 FIFO (py-spy).
    holds = [compile_matrix_predicate(e) for e in extra]
    kept = [k for k, h in enumerate(holds) if h(rows).all()]
    return [extra[k] for k in kept], [holds[k] for k in kept]


def guided(enc: Encoding, extra: Sequence[gcl.Expr], reachable: Sequence[tuple[int, ...]],
           seconds: float = float("inf")) -> Strengthening:
    """An inductive invariant from every reachable state (``model/guided.py``).

    It starts from the clauses no reachable state breaks: every two-atom exclusion (Houdini's
    candidates) and the expressions of ``extra`` (the negations of the targets no reachable
    state meets), and blocks counterexamples to induction until the conjunction is inductive.
    ``reachable`` must be the whole reachable set (``model.guided.NotClosed`` otherwise).
    """
    from tcpcheck.model.guided import block_to_induction

    t0 = time.perf_counter()
    system = enc.system
    atoms = _atoms(system, enc.unbounded)
    rows = np.array([system.init, *reachable], dtype=np.int64).reshape(-1, len(system.vars))
    pairs = _unseen_pairs(atoms, _truth(atoms, rows))
    kept, _ = _unbroken(extra, rows)
    cubes = [tuple(sorted((atoms[i][0], atoms[i][2]) for i in pair)) for pair in pairs]
    blocked = block_to_induction(enc, reachable, cubes, kept, seconds)
    return Strengthening(atoms, pairs, kept, len(pairs) + len(extra), blocked.rounds,
                         time.perf_counter() - t0, blocked.cubes,
                         f"blocking counterexamples to induction, guided by all {len(reachable)} reachable states")


def houdini(enc: Encoding, extra: Sequence[gcl.Expr] = (), sample_limit: int = 20000,
            samples: Sequence[tuple[int, ...]] | None = None) -> Strengthening:
    """The largest inductive conjunction of candidate clauses (Houdini).

    Candidates: every two-variable exclusion ``not (x = a and y = b)`` that no
    sampled reachable state refutes, plus ``extra`` (e.g. the invariants
    being proved, so that mutually inductive ones survive together). The
    sample is ``samples`` if given, else up to ``sample_limit`` states. Then,
    until Z3 finds no successor of a state satisfying all survivors that
    breaks one, drop every candidate that successor breaks. What remains
    holds initially and is preserved by every command: an inductive invariant.
    """
    t0 = time.perf_counter()
    system = enc.system
    atoms = _atoms(system, enc.unbounded)
    sample = sample_states(system, sample_limit) if samples is None else samples

    def matrix(states: Sequence[tuple[int, ...]]) -> np.ndarray:
        """The states as the rows of a matrix, one column per variable."""
        return np.array(states, dtype=np.int64).reshape(len(states), len(system.vars))

    sample_rows = matrix([system.init, *sample])
    pairs = _unseen_pairs(atoms, _truth(atoms, sample_rows))
    extra, holds = _unbroken(extra, sample_rows)
    s, t = enc.state("h"), enc.state("h'")
    solver = enc.solver()
    solver.add(enc.domain(s), enc.trans(s, t, enc.selector("hcmd")))
    now = _Indicators(enc, solver, atoms, s, "h")
    nxt = _Indicators(enc, solver, atoms, t, "h'")
    n = len(pairs) + len(extra)
    marks = [z3.Bool(f"cand{k}") for k in range(n)]
    broken = [z3.Bool(f"broken{k}") for k in range(n)]
    for k, p in enumerate(pairs):
        solver.add(z3.Implies(marks[k], now.excluded(p)), broken[k] == z3.Not(nxt.excluded(p)))
    for k, e in enumerate(extra, len(pairs)):
        solver.add(z3.Implies(marks[k], enc.cond(e, s)), broken[k] == z3.Not(enc.cond(e, t)))
    # The candidates a batch of states breaks, with numpy: the atoms' truth per state, then the
    # live pairs both of whose atoms hold. Per state in Python (itertools over its true atoms)
    # this was a third of Houdini's time at K = 3 FIFO (py-spy).
    pair_i = np.array([i for i, _ in pairs], dtype=np.int64)
    pair_j = np.array([j for _, j in pairs], dtype=np.int64)
    alive = np.ones(n, dtype=bool)

    def broken_in(states: Sequence[tuple[int, ...]]) -> np.ndarray:
        """The live candidates some state of ``states`` falsifies (their numbers)."""
        rows = matrix(states)
        true = _truth(atoms, rows)
        live_pairs = np.flatnonzero(alive[: len(pairs)])
        hit = (true[:, pair_i[live_pairs]] & true[:, pair_j[live_pairs]]).any(axis=0)
        out = [live_pairs[hit]]
        for k in np.flatnonzero(alive[len(pairs):]) + len(pairs):
            if not holds[k - len(pairs)](rows).all():
                out.append(np.array([k]))
        return np.concatenate(out)

    # "Some live candidate breaks", built once: a dropped candidate's mark is
    # asserted false. Building the disjunction afresh each round over the
    # live ones cost half of Houdini's time in the z3 Python layer (measured
    # at K = 2 FIFO), and left one retired thousand-literal clause per round.
    some = z3.Bool("some_broken")
    solver.add(z3.Implies(some, z3.Or([z3.And(marks[k], broken[k]) for k in range(n)])))
    # The live marks are handed to Z3's C API as they are: z3py's Solver.check casts each of
    # thousands of assumptions in Python, every round (16 % of Houdini's time, py-spy).
    mark_asts = [m.as_ast() for m in marks]
    some_ast = some.as_ast()
    rounds = 0
    successors = None
    while alive.any():
        rounds += 1
        lits = [some_ast, *(mark_asts[k] for k in np.flatnonzero(alive).tolist())]
        result = z3.CheckSatResult(z3.Z3_solver_check_assumptions(
            solver.ctx.ref(), solver.solver, len(lits), (z3.Ast * len(lits))(*lits)))
        if result == z3.unknown:
            raise RuntimeError(f"Z3 gave up during Houdini ({solver.reason_unknown()})")
        if result == z3.unsat:
            break
        model = solver.model()
        # Z3's state satisfied every live candidate, and so does each state reached from it
        # once the candidates its successors break are dropped (they all are): a short walk
        # from it drops all of those at once. Measured at K = 3 FIFO (the same 1,196 clauses
        # either way): 760 solver rounds and 58 s of CPU without this walk, 247 rounds and 35 s
        # with it. Which candidates survive does not depend on the walk: Houdini's result is
        # the largest inductive subset of the candidates, whatever order they are dropped in.
        if successors is None:
            from tcpcheck.model.explicit import compile_successors

            successors = compile_successors(system)
        start = enc.values(model, s)
        walk, visited = [start, enc.values(model, t)], {start}
        at = 0
        while at < len(walk) and len(visited) < HOUDINI_WALK:
            for _, after in successors(walk[at]):
                if after not in visited:
                    visited.add(after)
                    walk.append(after)
            at += 1
        dropped = broken_in(walk)
        alive[dropped] = False
        solver.add(*(z3.Not(marks[k]) for k in dropped.tolist()))
    live = np.flatnonzero(alive).tolist()
    return Strengthening(atoms, [pairs[k] for k in live if k < len(pairs)],
                         [extra[k - len(pairs)] for k in live if k >= len(pairs)], n, rounds,
                         time.perf_counter() - t0)


class Induction:
    """k-induction strengthened by an invariant, one solver for every target.

    Frames ``0..max_k`` all satisfy the invariant; steps are switched on per
    query. ``k = 0``: the invariant alone excludes the target. ``k >= 1``:
    ``k`` consecutive invariant states none of which is a target have no
    successor that is one; the base case (no target within ``k - 1`` steps)
    is the caller's BMC.
    """

    def __init__(self, enc: Encoding, strengthening: Strengthening, max_k: int) -> None:
        self.enc = enc
        self.strengthening = strengthening
        self.max_k = max_k
        self.solver = enc.solver()
        self.frames: list[list[Any]] = []
        self.steps: list[z3.BoolRef] = []
        self.queries = 0

    def _frame(self, k: int) -> list[Any]:
        """Frame ``k``, built (with the invariant and the step into it) on first use: most
        targets need k = 0 only, and each frame's copy of the invariant costs Python time
        (measured on --every-bound at K = 3: 0.16 s a frame, four frames built up front)."""
        while len(self.frames) <= k:
            n = len(self.frames)
            frame = self.enc.state(f"i{n}")
            self.solver.add(self.enc.domain(frame))
            self.strengthening.assert_on(self.enc, self.solver, frame, f"i{n}")
            if n:
                step = z3.Bool(f"istep{n - 1}")
                self.solver.add(z3.Implies(step, self.enc.trans(self.frames[n - 1], frame,
                                                                self.enc.selector(f"icmd{n}"))))
                self.steps.append(step)
            self.frames.append(frame)
        return self.frames[k]

    def prove(self, target: gcl.Expr, max_k: int) -> int | None:
        """The least k <= ``max_k`` that excludes ``target``, or None."""
        for k in range(min(max_k, self.max_k) + 1):
            self._frame(k)
            self.queries += 1
            lit = z3.Bool(f"iq{self.queries}")
            self.solver.add(z3.Implies(lit, z3.And(
                *(z3.Not(self.enc.cond(target, f)) for f in self.frames[:k]),
                self.enc.cond(target, self.frames[k]))))
            result = self.solver.check(lit, *self.steps[:k])
            self.solver.add(z3.Not(lit))
            if result == z3.unsat:
                return k
            if result == z3.unknown:
                raise RuntimeError(f"Z3 gave up during k-induction ({self.solver.reason_unknown()})")
        return None


# ------------------------------------------------------------- properties --


@dataclass
class Options:
    """Knobs of the symbolic engine."""

    sort: str = DEFAULT_SORT
    max_depth: int = 200  # BMC gives up beyond this (no target of the tested models needs more than ~35)
    probe_depth: int = 5  # BMC depth after which proofs are attempted (deep unsat BMC queries are the costly ones)
    max_k: int = 3  # strengthened k-induction depth
    sample_limit: int = 20000
    stall: int = 6  # BMC depths without a new hit before proofs are attempted
    # IC3's budget per target Houdini and k-induction leave open, in CPU seconds (0: no IC3), so
    # that the method a verdict names does not depend on the machine's load (with a wall-clock
    # budget, established_iff_quiescent at K = 3 FIFO fell back to the explicit search at load 7).
    # The slowest proof measured, that one, took 150 to 180 s of CPU at load 7.
    ic3_seconds: float = 300.0
    # An invariant's verdict names the instance whose counterexample is the
    # shortest found (what the timed model's explicit search reports), and
    # BMC stops at it; off: the first violated instance in order.
    any_instance: bool = False
    # After an unsatisfiable BMC query at depth d, assert that no target
    # holds at frame d (measured on the timed model: 1.3x to 1.6x to its
    # depth-11 counterexample; bench/timed_z3_bench.py).
    learn_misses: bool = True
    # Where every reachable state is drawn (at most sample_limit of them), the invariant is built
    # by blocking counterexamples to induction guided by them (``guided``), in at most this much
    # CPU time; Houdini, k-induction and IC3 where not (0: never). Measured at K = 3 FIFO on every
    # property: 13 CPU-s for the proofs IC3, Houdini and k-induction took about 150 s over.
    guided_seconds: float = 120.0
    # Each BMC query a new solver, fully preprocessed (see ``Unrolling``); off: one incremental solver.
    # Measured at K = 3 FIFO, every target: depths 0..5 in 4.3 s of CPU fresh against 9.3 s
    # incrementally, depth 6 alone 2.3 s against 20.5 s.
    fresh_queries: bool = True


@dataclass
class _Target:
    key: tuple[str, str]  # (property, instance)
    expr: gcl.Expr  # the state BMC looks for: a violation (invariant) or a witness (reachable)
    kind: str = "invariant"  # the property's kind
    path: Path | None = None
    proof_k: int | None = None
    ic3: Any = None  # model.ic3.Outcome of a proof by IC3
    explicit_unreachable: bool = False
    sampled: bool = False  # a sampled reachable state meets it: it has a path, left to BMC


class Checker:
    """Decides properties of one system: BMC for paths, strengthened k-induction for proofs."""

    def __init__(self, system: gcl.System, options: Options | None = None,
                 explicit_space: Callable[[], Any] | None = None, unbounded: Iterable[int] = (),
                 progress: Callable[[str], None] | None = None) -> None:
        self.system = system
        # Told what the engine is on ("IC3: no_deadlock[A]"); may raise
        # SearchLimit (e.g. a memory limit) to stop the search.
        self.progress = progress or (lambda text: None)
        self.options = options or Options()
        self.enc = Encoding(system, self.options.sort, unbounded)
        self.bmc = Unrolling(self.enc, self.options.fresh_queries)
        self._space_factory = explicit_space
        self._space: Any = None
        self.strengthening: Strengthening | None = None
        self._samples: list[tuple[int, ...]] | None = None
        # An infinite abstraction has no explicit state space to fall back on.
        self.explicit_fallback = not self.enc.unbounded

    def space(self) -> Any:
        """The explicit state space, built on first use (recoverable properties only)."""
        if self._space is None:
            if self._space_factory is not None:
                self._space = self._space_factory()
            else:
                from tcpcheck.model.explicit import explore

                self._space = explore(self.system)
        return self._space

    def samples(self) -> list[tuple[int, ...]]:
        """Reachable states drawn once, breadth first: Houdini's candidate filter and IC3's guide."""
        if self._samples is None:
            self._samples = sample_states(self.system, self.options.sample_limit)
        return self._samples

    def reachable(self) -> list[tuple[int, ...]] | None:
        """Every reachable state, when the sample holds them all (the search ran out of states
        before the limit); None otherwise, and for an infinite abstraction."""
        if self.enc.unbounded:
            return None
        samples = self.samples()
        return samples if len(samples) < self.options.sample_limit else None

    def _search(self, targets: list[_Target], props: Sequence[Property]) -> None:
        """Shortest path to every target that has one; a proof for every other.

        Batched iterative deepening: at depth d, ask for any pending target at
        frame d; each model settles every target it satisfies (none was
        reachable in fewer steps, so d is the shortest). Proofs are attempted
        once BMC reaches ``probe_depth`` or a depth where nothing new is found
        for a while; an unproved target sends BMC deeper.
        """
        enc = self.enc
        pending = list(targets)
        depth = 0
        tried_proof = False
        last_hit = 0
        while pending:
            self.progress(f"BMC depth {depth}: {len(pending)} targets open ({_names(pending)})")
            while enc is not None:
                while self.bmc.depth < depth:
                    self.bmc.deepen()
                frame = self.bmc.frames[depth]
                goal = z3.Or([enc.cond(t.expr, frame) for t in pending])
                m = self.bmc.query(goal, depth)
                if m is None:
                    if self.options.learn_misses:
                        # No path of exactly `depth` steps reaches these targets,
                        # so no deeper path passes one at frame `depth`: a lemma
                        # the deeper queries would otherwise have to rediscover.
                        self.bmc.learn(z3.Not(goal), depth)
                    break
                states = [enc.values(m, f) for f in self.bmc.frames[: depth + 1]]
                cmds: list[int | None] = [None] + [
                    m.eval(c, model_completion=True).as_long() for c in self.bmc.selectors[:depth]
                ]
                hit = [t for t in pending if gcl.evaluate(t.expr, states[-1])]
                assert hit, "the BMC model satisfies a pending target"
                for t in hit:
                    t.path = Path(states, cmds)
                settled = self._settled(hit)
                pending = [t for t in pending if t.path is None and t.key[0] not in settled]
                last_hit = depth
                if not pending:
                    break
            if not pending:
                return
            stalled = depth >= last_hit + self.options.stall
            if not tried_proof and (depth >= self.options.probe_depth or stalled):
                tried_proof = True
                self._prove(pending, props, depth)
                pending = [t for t in pending if t.proof_k is None and t.path is None]
                open_ = [t for t in pending if not t.sampled]  # a sampled target has a path BMC will find
                if open_ and self.explicit_fallback:
                    self._fallback(open_)
                    pending = [t for t in pending if not t.explicit_unreachable]
                if not pending:
                    return
            if depth >= self.options.max_depth:
                return
            depth += 1

    def _settled(self, hit: list[_Target]) -> set[str]:
        """Properties a BMC hit decides, with ``any_instance``: one violated
        instance settles an invariant, so its other instances need no path
        (searching on for them cost the timed model three more depths, the
        dearest ones). Without it every instance gets its own shortest path
        and the verdict names the first in order, as ``explicit.check`` does."""
        return {t.key[0] for t in hit if t.kind == "invariant"} if self.options.any_instance else set()

    def _fallback(self, pending: list[_Target]) -> None:
        """Targets neither found nor proved unreachable: ask the explicit state space.

        Unreachable ones are settled there (and the verdict says so); for
        reachable ones BMC goes on, and meets them at their BFS depth.
        """
        self.progress(f"explicit search for what Z3 left open ({_names(pending)})")
        space = self.space()
        for t in pending:
            t.explicit_unreachable = space.first(t.expr) is None

    def _prove(self, pending: list[_Target], props: Sequence[Property], bmc_depth: int) -> None:
        if self.strengthening is None:
            # What is to be proved joins the candidates: mutually inductive
            # with the two-atom clauses, it survives where it alone would not.
            extra = [gcl.Not(t.expr) for t in pending]
            reachable = self.reachable() if self.options.guided_seconds > 0 else None
            if reachable is not None:
                from tcpcheck.model.guided import NotClosed, OutOfTime

                self.progress(f"invariant from all {len(reachable)} reachable states for {_names(pending)}")
                try:
                    self.strengthening = guided(self.enc, extra, reachable, self.options.guided_seconds)
                except (NotClosed, OutOfTime) as why:
                    self.progress(f"no invariant from the reachable states ({why}): Houdini instead")
            if self.strengthening is None:
                self.progress(f"Houdini invariant for {_names(pending)}")
                self.strengthening = houdini(self.enc, extra, samples=self.samples())
        induction = Induction(self.enc, self.strengthening, self.options.max_k)
        for t in pending:
            self.progress(f"k-induction: {_names([t])}")
            # BMC has found no target state within bmc_depth steps: the base
            # case of k-induction for any k <= bmc_depth + 1.
            t.proof_k = induction.prove(t.expr, min(self.options.max_k, bmc_depth + 1))
        rest = [t for t in pending if t.proof_k is None]
        if rest and not self.enc.unbounded:
            # A target a sampled (reachable) state meets has a path: BMC, going on deeper with
            # fresh queries, finds the shortest one for far less than IC3's search for it.
            # Measured at K = 3 FIFO: BMC alone on the witnesses 6 to 11 steps deep (and
            # time_wait_only_one_side's violation) took 16 s of CPU from depth 0 with fresh
            # queries; IC3 had spent 86 s on them, incremental BMC 114 s. The whole engine,
            # before and after: bench/z3_speed_bench.py.
            from tcpcheck.model.explicit import compile_predicate

            samples = self.samples()
            for t in rest:
                t.sampled = any(map(compile_predicate(t.expr), samples))
            rest = [t for t in rest if not t.sampled]
        if rest and not self.enc.unbounded and self.options.ic3_seconds > 0:
            self._ic3(rest)

    def _ic3(self, targets: list[_Target]) -> None:
        """IC3 on what Houdini and k-induction left, from Houdini's invariant: proof or (shortest) path."""
        from tcpcheck.model.ic3 import IC3, Budget, certify

        st = self.strengthening
        assert st is not None
        cubes = [tuple(sorted((st.atoms[i][0], st.atoms[i][2]) for i in pair)) for pair in st.pairs]
        ic3 = IC3(self.enc, cubes, st.extra, samples=self.samples())
        # Violations of invariants first: they are usually unreachable, and
        # proofs come quicker on frames not yet crowded by the search for deep
        # witnesses of reachability targets. Measured at K = 3 FIFO: with the
        # witnesses searched first, half_close_only_pair and
        # established_iff_quiescent both ran out of a 120 s budget; in this
        # order (and with IC3 guided by the sample) both are proved.
        for t in sorted(targets, key=lambda t: t.kind != "invariant"):
            self.progress(f"IC3: {_names([t])}")
            try:
                out = ic3.reach(t.expr, self.options.ic3_seconds)
            except Budget:
                continue
            if out.reachable:
                t.path = Path(out.states, out.commands)
            else:
                if not certify(self.enc, out, t.expr):
                    raise RuntimeError(f"IC3's invariant for {t.key} does not re-check: an engine defect")
                t.ic3 = out
                t.proof_k = 0

    def check_all(self, props: Sequence[Property]) -> list[Verdict]:
        """Decide every property; verdicts name the method and, for proofs, the invariant."""
        t0 = time.perf_counter()
        targets: dict[str, list[tuple[str, _Target]]] = {}
        for p in props:
            if p.skipped_by(self.system.options) or p.kind == "recoverable":
                continue
            for label, expr, _ in p.instances_from(self.system):
                goal = gcl.Not(expr) if p.kind == "invariant" else expr
                targets.setdefault(p.name, []).append((label, _Target((p.name, label), goal, p.kind)))
        flat = [t for ts in targets.values() for _, t in ts]
        if flat:
            self._search(flat, props)
        shared = time.perf_counter() - t0
        out = []
        for p in props:
            t1 = time.perf_counter()
            v = self._verdict(p, targets.get(p.name, []))
            v.seconds = time.perf_counter() - t1 + (shared / max(1, len(targets)) if p.name in targets else 0.0)
            out.append(v)
        return out

    def check(self, prop: Property) -> Verdict:
        """Decide one property."""
        return self.check_all([prop])[0]

    def _proof_extra(self, verdict: Verdict, targets: list[_Target]) -> None:
        if any(t.explicit_unreachable for t in targets):
            verdict.method = "explicit (no symbolic proof found: Houdini, k-induction and IC3 within budget)"
            verdict.extra["symbolic_proof"] = False
            return
        assert self.strengthening is not None
        st = self.strengthening
        ks = [t.proof_k or 0 for t in targets]
        by_ic3 = [t.ic3 for t in targets if t.ic3 is not None]
        verdict.method = "IC3" if by_ic3 else "k-induction" if max(ks) > 0 else "inductive invariant"
        verdict.bound = max(ks)
        verdict.extra["symbolic_proof"] = True
        verdict.extra["k"] = max(ks)
        verdict.extra["invariant"] = {
            "clauses": len(st.clauses),
            "candidates": st.candidates,
            "found_by": st.found_by,
            "rounds": st.rounds,
            "blocked_cubes": len(st.cubes),
            "sample": st.describe(self.system),
        }
        if by_ic3:
            # IC3 started from Houdini's clauses; its own are the cubes it blocked for good.
            verdict.extra["invariant"]["ic3_clauses"] = max(o.learnt for o in by_ic3)
            verdict.extra["invariant"]["ic3_queries"] = sum({id(o): o.queries for o in by_ic3}.values())

    def _verdict(self, prop: Property, targets: list[tuple[str, _Target]]) -> Verdict:
        system = self.system
        skipped = prop.skipped_by(system.options)
        if skipped:
            return Verdict(prop.name, prop.kind, prop.expected(system.options), "skipped", ENGINE,
                           note=f"does not apply with {skipped}")
        if prop.kind == "recoverable":
            from tcpcheck.model.explicit import check as explicit_check

            self.progress(f"explicit reverse reachability: {prop.name}")
            v = explicit_check(self.space(), prop)
            v.engine = ENGINE
            v.method = "explicit reverse reachability (AG EF is not encoded symbolically)"
            return v
        v = Verdict(prop.name, prop.kind, prop.expected(system.options), "holds", ENGINE, extra={"sort": self.enc.sort})
        hits = [(label, t.path) for label, t in targets if t.path is not None]
        if prop.kind == "invariant" and hits:
            label, path = min(hits, key=lambda hit: hit[1].depth) if self.options.any_instance else hits[0]
            v.verdict, v.instance, v.method, v.bound = "violated", label, "BMC", path.depth
            v.counterexample = trace(system, path.states, path.commands)
            v.note = f"shortest counterexample: {path.depth} steps"
            return v
        unknown = [t for _, t in targets if t.path is None and t.proof_k is None and not t.explicit_unreachable]
        if unknown:
            v.verdict = "unknown"
            v.method = "BMC"
            v.bound = self.bmc.depth
            v.note = f"no path within {self.bmc.depth} steps and no proof by {self.options.max_k}-induction"
            return v
        if prop.kind == "invariant":
            self._proof_extra(v, [t for _, t in targets])
            return v
        for label, t in targets:
            if t.path is None:
                v.verdict, v.instance = "violated", label
                self._proof_extra(v, [t])
                v.note = "no reachable state satisfies it: its negation is proved invariant"
                return v
        v.method = "BMC"
        v.bound = max(t.path.depth for _, t in targets if t.path is not None)
        first = targets[0][1].path
        assert first is not None
        v.witness = trace(system, first.states, first.commands)
        return v


def check_all(system: gcl.System, props: Sequence[Property], options: Options | None = None,
              explicit_space: Callable[[], Any] | None = None,
              progress: Callable[[str], None] | None = None) -> list[Verdict]:
    """Decide every property with the symbolic engine (``progress`` is told
    which property and method it is on)."""
    return Checker(system, options, explicit_space, progress=progress).check_all(props)


def _names(targets: Sequence[_Target]) -> str:
    """``no_deadlock, time_wait_naive[A]``: targets by property and instance, short."""
    names = [f"{p}[{label}]" if label else p for p, label in (t.key for t in targets)]
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def prove_every_bound(system: gcl.System, props: Sequence[Property], options: Options | None = None,
                      progress: Callable[[str], None] | None = None) -> list[Verdict]:
    """Prove invariants on the counter abstraction of ``system`` (see ``abstract_every_bound``).

    A verdict ``holds`` here holds for every channel bound. A violation in
    the abstraction may be spurious (it may need more room than a given K
    has), so it is reported as ``unknown``, never as ``violated``.
    """
    abstraction = abstract_every_bound(system)
    opts = options or Options()
    # Unbounded counters need mathematical integers: bit-vectors would wrap.
    # BMC goes as deep as k-induction's base case needs (max_k - 1 steps) and stops there: a
    # path found deeper would only make an unproved invariant "unknown" with another note (a
    # violation here may be spurious), and searching for time_wait_only_one_side's 11 steps was
    # a third of --every-bound's time at K = 3.
    depth = max(0, opts.max_k - 1)
    checker = Checker(abstraction.system, Options("int", depth, depth, opts.max_k, opts.sample_limit),
                      unbounded=abstraction.unbounded, progress=progress)
    invariants = [p for p in props if p.kind == "invariant"]
    if len(invariants) != len(props):
        raise ValueError("only invariants carry over from the abstraction to every bound")
    sound = [p for p in invariants if _can_only_negated(p.tree)]
    proved = iter(checker.check_all(sound))
    out = [next(proved) if _can_only_negated(p.tree) else Verdict(
        p.name, p.kind, p.expected(system.options), "unknown", ENGINE,
        note="X.can(c) is not negated: a step the abstraction enables may need room a bounded channel lacks")
        for p in invariants]
    for v in out:
        v.extra["abstraction"] = abstraction.description
        v.extra["every_bound"] = v.verdict == "holds"
        v.bound = None if v.verdict == "holds" else v.bound
        if v.verdict == "violated":
            v.verdict = "unknown"
            v.note = "violated in the counter abstraction, which may be spurious for a given K: check that K"
        v.note = (v.note + "; " if v.note else "") + abstraction.description
    return out


def _can_only_negated(tree: Any, negated: bool = False) -> bool:
    """Whether every ``X.can(c)`` in a property occurs under a negation (``not X.can(c)``).

    The abstraction drops the capacity guards, so it enables every step a
    bounded system enables and more: ``not X.can(c)`` proved there holds at
    every K, but ``X.can(c)`` in a positive position could hold there only.
    """
    from tcpcheck.model.expr import Binary, Call, Unary

    if isinstance(tree, Call) and tree.func.endswith(".can"):
        return negated
    if isinstance(tree, Unary) and tree.op == "not":
        return _can_only_negated(tree.arg, not negated)
    if isinstance(tree, Binary) and tree.op not in ("and", "or"):  # ->, <->, comparisons: mixed polarity
        return not any(isinstance(n, Call) and n.func.endswith(".can") for n in _walk(tree))
    return all(_can_only_negated(c, negated) for c in tree.children())


def _walk(tree: Any) -> Iterable[Any]:
    yield tree
    for c in tree.children():
        yield from _walk(c)


def replay(system: gcl.System, steps: Sequence[Step]) -> list[tuple[int, ...]]:
    """Replay a trace through the explicit engine's successor function.

    Each step's command must be enabled in the previous state and lead to a
    state showing what the step says; returns the states. Raises
    AssertionError on the first step that does not replay.
    """
    from tcpcheck.model.explicit import compile_successors

    # compiled once per system: tests replay many traces of one system
    succ = system.cache.get("replay-successors")
    if succ is None:
        succ = system.cache["replay-successors"] = compile_successors(system)
    by_name = {c.name: i for i, c in enumerate(system.commands)}
    state = system.init
    states = [state]
    assert steps and steps[0].command == "" and steps[0].kind == "init", "a trace starts at the initial state"
    for st in steps[1:]:
        cmd = by_name[st.command]
        nxt = [n for c, n in succ(state) if c == cmd]
        assert nxt, f"step {st.step}: command {st.command} is not enabled"
        state = nxt[0]
        shown = system.show(state)
        assert {ep: str(shown[ep]) for ep in system.endpoints} == st.states, f"step {st.step}: endpoint states differ"
        assert {ch: list(shown[ch]) for ch in system.channels} == st.channels, f"step {st.step}: channels differ"  # type: ignore[call-overload]
        states.append(state)
    return states
