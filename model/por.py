"""Partial-order reduction for the explicit engine: stubborn sets over a static independence relation.

Two moves of different actors often commute: A receiving a segment on BA
and the network losing one on AB reach the same state in either order. A
search that explores only a *stubborn* subset of the enabled commands at a
state (and the rest later, or never when they lead nowhere new) decides the
same safety properties over fewer states. The subset is chosen per state,
Valmari's way, from relations computed once from the guarded commands:

* **independence** (static): commands t and u are independent when in every
  valuation where both are enabled neither disables the other and both
  orders reach the same state. Commands that write no variable the other
  reads or writes are independent; when they overlap (e.g. A appending to
  channel AB while B removes from it), the condition is decided by Z3 over
  the variables' domains on the two commands' *footprints* (the guard
  conjuncts and assignments that touch the other's variables), cached by
  footprint, so A's send of an ACK and B's receipt of a SYN on the same
  reordering channel are found to commute while two receipts of the same
  segment are not. Two commands of one actor that test the same variable
  for different constants are never enabled together, hence independent.
* **necessary enabling sets**: for a disabled command, one guard conjunct
  that is false here and the commands that could make it true (those that
  write one of its variables, less those that assign a constant that
  leaves an ``x == c`` conjunct false).

A set T is stubborn at s when (D1) every command dependent on an enabled
member is in T, (D2) every disabled member has a false conjunct whose
enablers are all in T, and T holds an enabled command. The search expands
``ample(s) = T & enabled(s)`` when, besides:

* C2 (visibility): no ample command writes a *visible* variable, one that a
  checked property reads (state predicates; a step property ``X.can(c)``
  reads the guards of the commands it matches, and a past-time operator its
  monitor variable, so the commands it watches are visible); the endpoints'
  state variables are always visible so that the reported reachable pairs
  are exact. With the symmetry reduction the visible set is closed under
  the mirror.
* C3 (cycles, for this BFS): a state any of whose ample successors is
  already stored at its own depth or less is fully expanded; every cycle of
  the reduced graph has such an edge, so no command is ignored around it.
* C4 (branching time): with a ``recoverable`` property (AG (from -> EF p)),
  which is not a linear-time property, only singleton ample sets are taken
  (Gerth, Kuiper, Peled and Penczek, 1995).

Deadlocks (states with no successor) are all kept by stubborn sets, so the
terminal-state count is exact. Stored states and their depths are not: a
counterexample the reduced search finds may be longer than the shortest
one, so ``explicit.check`` recomputes every trace by an unreduced BFS
bounded by the depth found (the whole space for ``recoverable``).

The choice depends only on which guard conjuncts hold at the state, so it
is computed once per distinct vector of conjunct values (memoised) and
looked up for the rest. Nothing here knows about TCP.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tcpcheck.model import gcl
from tcpcheck.model.packed import Layout
from tcpcheck.model.vectorized import compile_vector_predicates, conjuncts, key_equality

# Footprint pairs already decided by Z3, shared by every system of a run (mutants repeat them).
_COMMUTE: dict[tuple[tuple[str, ...], tuple[str, ...], tuple[int, ...]], bool] = {}


def writes(c: gcl.Command) -> frozenset[int]:
    """Variables the command may change."""
    return frozenset(v for v, e in c.updates if e != gcl.Ref(v))


def reads(c: gcl.Command) -> frozenset[int]:
    """Variables the guard or an assignment reads."""
    out = gcl.free_vars(c.guard)
    for _, e in c.updates:
        out |= gcl.free_vars(e)
    return frozenset(out)


@dataclass(frozen=True)
class _Part:
    """A guard conjunct (``var`` None) or an assignment ``var := expr`` of a command, with what it reads
    and its text (the cache key: hashing strings is cheap, hashing expression trees is not)."""

    var: int | None
    expr: gcl.Expr
    used: frozenset[int]
    text: str


def _parts(c: gcl.Command) -> tuple[list[_Part], list[_Part]]:
    """The command's conjuncts and its (non-trivial) assignments."""
    guard = [_Part(None, a, frozenset(gcl.free_vars(a)), repr(a)) for a in conjuncts(c.guard)]
    updates = [_Part(v, e, frozenset(gcl.free_vars(e)), repr((v, e))) for v, e in c.updates if e != gcl.Ref(v)]
    return guard, updates


def _footprint(t: tuple[list[_Part], list[_Part]], u_reads: frozenset[int],
               u_writes: frozenset[int]) -> tuple[list[_Part], list[_Part]]:
    """What of a command t can interact with a command u reading ``u_reads`` and writing ``u_writes``:
    the guard conjuncts u may change, and the assignments u reads, overwrites, or whose value u may
    change. The rest of t commutes with u whatever it is."""
    guard, updates = t
    return ([p for p in guard if p.used & u_writes],
            [p for p in updates if p.var in u_reads or p.var in u_writes or p.used & u_writes])


def _keys(c: gcl.Command) -> dict[int, int]:
    """The ``variable == constant`` conjuncts of the guard."""
    return dict(k for a in conjuncts(c.guard) if (k := key_equality(a)))


def _exclusive(kt: dict[int, int], ku: dict[int, int]) -> bool:
    """Whether two guards (their ``_keys``) test one variable for two different constants (never both
    enabled)."""
    return any(v in kt and kt[v] != value for v, value in ku.items())


def _commute(system: gcl.System, ft: tuple[list[_Part], list[_Part]], fu: tuple[list[_Part], list[_Part]]) -> bool:
    """Z3: wherever both footprints' guards hold, each keeps the other's guard and both orders agree."""
    used = sorted({v for part in (*ft[0], *ft[1], *fu[0], *fu[1]) for v in part.used}
                  | {p.var for p in (*ft[1], *fu[1]) if p.var is not None})
    key = (tuple(p.text for p in (*ft[0], *ft[1])), tuple(p.text for p in (*fu[0], *fu[1])),
           tuple(system.vars[v].size for v in used))
    if key in _COMMUTE:
        return _COMMUTE[key]
    import z3

    x = {v: z3.Int(f"v{v}") for v in used}
    mt = {p.var: p.expr for p in ft[1] if p.var is not None}
    mu = {p.var: p.expr for p in fu[1] if p.var is not None}
    guard_t, guard_u = gcl.conj(*(p.expr for p in ft[0])), gcl.conj(*(p.expr for p in fu[0]))
    after_u = {v: mu.get(v, gcl.Ref(v)) for v in used}
    after_t = {v: mt.get(v, gcl.Ref(v)) for v in used}
    goals = [_z3_bool(gcl.substitute(guard_u, after_t), x), _z3_bool(gcl.substitute(guard_t, after_u), x)]
    for v in used:
        tu = gcl.substitute(mt.get(v, gcl.Ref(v)), after_u)  # u first, then t
        ut_ = gcl.substitute(mu.get(v, gcl.Ref(v)), after_t)
        goals.append(_z3_int(tu, x) == _z3_int(ut_, x))
    solver = z3.Solver()
    solver.add([z3.And(0 <= x[v], x[v] < system.vars[v].size) for v in used])
    solver.add(_z3_bool(guard_t, x), _z3_bool(guard_u, x), z3.Not(z3.And(goals)))
    result = solver.check() == z3.unsat
    _COMMUTE[key] = result
    return result


def _z3_int(e: gcl.Expr, x: dict[int, Any]) -> Any:
    import z3

    if isinstance(e, gcl.Const):
        return z3.IntVal(e.value)
    if isinstance(e, gcl.Ref):
        return x[e.var]
    if isinstance(e, gcl.Add):
        return z3.Sum([_z3_int(a, x) for a in e.args])
    if isinstance(e, gcl.Ite):
        return z3.If(_z3_bool(e.cond, x), _z3_int(e.then, x), _z3_int(e.other, x))
    return z3.If(_z3_bool(e, x), z3.IntVal(1), z3.IntVal(0))


def _z3_bool(e: gcl.Expr, x: dict[int, Any]) -> Any:
    import z3

    if isinstance(e, gcl.Not):
        return z3.Not(_z3_bool(e.arg, x))
    if isinstance(e, gcl.And):
        return z3.And([_z3_bool(a, x) for a in e.args])
    if isinstance(e, gcl.Or):
        return z3.Or([_z3_bool(a, x) for a in e.args])
    if isinstance(e, gcl.Cmp):
        a, b = _z3_int(e.left, x), _z3_int(e.right, x)
        return {"==": a == b, "!=": a != b, "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[e.op]
    if isinstance(e, gcl.Ite):
        return z3.If(_z3_bool(e.cond, x), _z3_bool(e.then, x), _z3_bool(e.other, x))
    return _z3_int(e, x) != 0


def dependence(system: gcl.System) -> list[frozenset[int]]:
    """For each command, the commands it is dependent on (itself excluded): the static relation."""
    cmds = system.commands
    r = [reads(c) for c in cmds]
    w = [writes(c) for c in cmds]
    keys = [_keys(c) for c in cmds]
    parts = [_parts(c) for c in cmds]
    dep: list[set[int]] = [set() for _ in cmds]
    for i, t in enumerate(cmds):
        for j in range(i + 1, len(cmds)):
            u = cmds[j]
            if not (w[i] & (r[j] | w[j]) or w[j] & r[i]):
                continue  # disjoint footprints
            if _exclusive(keys[i], keys[j]):
                continue  # never enabled together
            if t.action.actor == u.action.actor and t.action.actor != "net":
                dependent = True  # one endpoint's moves: ordered by its own state
            else:
                dependent = not _commute(system, _footprint(parts[i], r[j], w[j]), _footprint(parts[j], r[i], w[i]))
            if dependent:
                dep[i].add(j)
                dep[j].add(i)
    return [frozenset(d) for d in dep]


@dataclass
class Reduction:
    """The static relations of one system and the per-state ample choice, memoised."""

    system: gcl.System
    visible: frozenset[int]  # variables the checked properties (and the report) read
    singleton: bool  # C4: a recoverable property is checked
    dep: list[frozenset[int]]
    atoms: list[gcl.Expr]  # distinct guard conjuncts
    command_atoms: list[tuple[int, ...]]  # each command's conjuncts, as atom numbers
    enablers: list[frozenset[int]]  # per atom: the commands that could make it true
    invisible: list[bool]  # per command: writes no visible variable
    memo: dict[bytes, np.ndarray | None] = field(default_factory=dict, repr=False)
    layout: Layout | None = field(default=None, repr=False)
    _atom_values: Any = field(default=None, repr=False)
    _flat: np.ndarray = field(init=False, repr=False)  # every command's conjuncts in a row, fewest enablers first
    _starts: np.ndarray = field(init=False, repr=False)  # where each command's conjuncts start in _flat
    _invisible: np.ndarray = field(init=False, repr=False)
    _dep_matrix: np.ndarray = field(init=False, repr=False)  # dep as a 0/1 matrix (symmetric)
    reduced_states: int = 0  # states expanded with a proper ample set
    proviso_states: int = 0  # states fully expanded by the cycle proviso
    pruned: int = 0  # successor pairs not followed

    def __post_init__(self) -> None:
        ordered = [sorted(atoms, key=lambda a: len(self.enablers[a])) for atoms in self.command_atoms]
        self._flat = np.array([a for atoms in ordered for a in atoms], dtype=np.int64)
        self._starts = np.cumsum([0] + [len(atoms) for atoms in ordered[:-1]]).astype(np.int64)
        self._invisible = np.array(self.invisible, dtype=bool)
        self._dep_matrix = np.zeros((len(self.dep), len(self.dep)), dtype=np.float32)
        for i, d in enumerate(self.dep):
            self._dep_matrix[i, sorted(d)] = 1

    def describe(self) -> str:
        """One line: what the reduction keeps visible."""
        return (f"stubborn sets, {len(self.visible)} of {len(self.system.vars)} variables visible"
                + (", singleton ample sets (a recoverable property is checked)" if self.singleton else ""))

    def bind(self, layout: Layout) -> None:
        """Compile the conjuncts over ``layout``'s packed states."""
        self.layout = layout
        self._atom_values = compile_vector_predicates(self.atoms, layout)

    def keep(self, words: Sequence[np.ndarray], rows: np.ndarray, cmds: np.ndarray) -> np.ndarray:
        """For each successor (rows, cmds) of the states ``words``, whether it is in its state's ample set."""
        if len(words[0]) == 0 or rows.size == 0:
            return np.ones(rows.size, dtype=bool)
        packed = np.packbits(self._atom_values(words), axis=1)  # (states, atoms) conjunct values, as bytes
        keys, index = np.unique(packed, axis=0, return_inverse=True)
        index = index.reshape(-1)
        fresh = [k for k in range(len(keys)) if keys[k].tobytes() not in self.memo]
        if fresh:
            values = np.unpackbits(keys[fresh], axis=1, count=len(self.atoms)).astype(bool)
            flat = values[:, self._flat]  # each command's conjuncts, fewest enablers first
            enabled = np.logical_and.reduceat(flat, self._starts, axis=1)
            # a seed with an enabled visible command among its dependents fails at once: most do
            blocked = (enabled & ~self._invisible).astype(np.float32) @ self._dep_matrix > 0
            hopeful = (enabled & self._invisible & ~blocked).any(axis=1) & (enabled.sum(axis=1) > 1)
            for n, k in enumerate(fresh):
                self.memo[keys[k].tobytes()] = self._ample(flat[n], enabled[n]) if hopeful[n] else None
        table = np.ones((len(keys), len(self.system.commands)), dtype=bool)
        for k in range(len(keys)):
            mask = self.memo[keys[k].tobytes()]
            if mask is not None:
                table[k] = mask
        return table[index[rows], cmds]

    def _ample(self, flat: np.ndarray, enabled_mask: np.ndarray) -> np.ndarray | None:
        """The smallest ample set over the seeds tried, as a command mask; None for all enabled."""
        off = np.flatnonzero(~flat)
        at = np.searchsorted(off, self._starts)
        first = np.where(at < off.size, off[np.minimum(at, off.size - 1)], -1)
        # per command: -1 when enabled, else its false conjunct with fewest enablers
        false_atom = np.where(enabled_mask, -1, self._flat[np.maximum(first, 0)]).tolist()
        enabled = np.flatnonzero(enabled_mask).tolist()
        limit = 2 if self.singleton else len(enabled)  # a set with this many enabled is no reduction
        best: set[int] | None = None
        tried: set[int] = set()
        for seed in enabled:
            if not self.invisible[seed] or seed in tried:
                continue
            found = self._closure(seed, false_atom, limit if best is None else min(limit, len(best)))
            if found is not None:
                best = found
                tried |= found
                if len(found) == 1:
                    break
        if best is None:
            return None
        mask = np.zeros(len(self.system.commands), dtype=bool)
        mask[sorted(best)] = True
        return mask

    def _closure(self, seed: int, false_atom: list[int], limit: int) -> set[int] | None:
        """The enabled part of the stubborn set grown from ``seed``, or None when it has ``limit`` enabled
        commands or an enabled visible one (no use as an ample set)."""
        members, stack, enabled = {seed}, [seed], set()
        while stack:
            u = stack.pop()
            a = false_atom[u]
            if a < 0:
                if not self.invisible[u]:
                    return None
                enabled.add(u)
                if len(enabled) >= limit:
                    return None
                more: Iterable[int] = self.dep[u]
            else:
                more = self.enablers[a]
            for v in more:
                if v not in members:
                    if false_atom[v] < 0 and not self.invisible[v]:
                        return None  # an enabled visible command
                    members.add(v)
                    stack.append(v)
        return enabled


def visible_variables(system: gcl.System, props: Sequence[Any], mirror: Any = None) -> frozenset[int]:
    """The variables the properties that apply read (their instances), plus each endpoint's state."""
    out: set[int] = {f["state"] for f in system.endpoints.values() if "state" in f}
    for p in props:
        if not p.skipped_by(system.options):
            for _, expr, source in p.instances_from(system):
                out |= gcl.free_vars(expr) | gcl.free_vars(source)
    if mirror is not None:
        out |= {mirror.perm[v] for v in out}
    return frozenset(out)


def partial_order(system: gcl.System, props: Sequence[Any], mirror: Any = None) -> Reduction:
    """The reduction for checking ``props`` on ``system`` (with the symmetry ``mirror`` if given)."""
    visible = visible_variables(system, props, mirror)
    atoms: dict[gcl.Expr, int] = {}
    command_atoms = []
    for c in system.commands:
        command_atoms.append(tuple(atoms.setdefault(a, len(atoms)) for a in conjuncts(c.guard)))
    w = [writes(c) for c in system.commands]
    enablers = []
    for atom in atoms:
        vars_ = gcl.free_vars(atom)
        key = key_equality(atom)
        found = set()
        for i, c in enumerate(system.commands):
            if not w[i] & vars_:
                continue
            if key is not None:
                new = dict(c.updates)[key[0]]
                if isinstance(new, gcl.Const) and new.value != key[1]:
                    continue  # assigns another constant: leaves ``x == c`` false
            found.add(i)
        enablers.append(frozenset(found))
    invisible = [not (w[i] & visible) for i in range(len(system.commands))]
    singleton = any(p.kind == "recoverable" and not p.skipped_by(system.options) for p in props)
    cache_key = ("por-dependence",)
    if cache_key not in system.cache:
        system.cache[cache_key] = dependence(system)
    return Reduction(system, visible, singleton, system.cache[cache_key], list(atoms), command_atoms,
                     enablers, invisible)
