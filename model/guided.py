"""An inductive invariant found by blocking counterexamples to induction, guided by every reachable state.

Where the whole reachable set R of a finite system is known (breadth first,
when it is small), every clause that no state of R falsifies is invariant,
and R itself is inductive. So a conjunction C of such clauses that is not
yet inductive has a counterexample to induction: a state s satisfying C with
a successor that breaks C. s cannot be in R (R is closed under successors and
satisfies every clause), so the clause "not s" is invariant, and so is
"not c" for any sub-cube c of s's valuation that contains no state of R.
Blocking the smallest such c and asking again converges (each round removes
s, a state C allowed, from a finite space) on an inductive C; what it took is
one Z3 query per round and a bit-set intersection per literal dropped.

That replaces the relative-induction queries IC3 spends on generalising a
lemma (R answers "is this cube unreachable?" exactly, where IC3 only knows
"unreachable within i steps, relative to a frame") and Houdini's rounds of
dropping candidates that are invariant but not inductive alone (here they
stay, and what they lack is added). Measured at K = 3 FIFO on every
property (5,116 states; 3,630 two-variable clauses and 97 targets to start
from): 306 rounds, 305 cubes of 3 to 5 literals, 8 to 13 CPU-s, where IC3
took 110 to 160 s on one of those targets (``bench/z3_speed_bench.py``).

R only proposes clauses; nothing is proved from it. The last query, the
unsatisfiable one, is Z3's proof of consecution; initiation is checked on
the initial state itself, and the caller's k-induction query (k = 0) proves
each target excluded. If R were wrong (a reachable state missing), some
clause would be false, C could not become inductive, and a round would meet
a counterexample inside R: the search then stops and says so, and the
caller falls back on its other methods.

Nothing here knows about TCP.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import z3

from tcpcheck.model import gcl

Cube = tuple[tuple[int, int], ...]  # sorted (var, value) literals


class NotClosed(Exception):
    """A counterexample to induction inside the given reachable set: the set is not closed under
    successors (it misses a reachable state), so the clauses it proposed cannot all be invariant."""


class OutOfTime(Exception):
    """The CPU-time budget ran out before the conjunction became inductive."""


@dataclass
class Blocked:
    """The outcome: the cubes blocked on top of the starting clauses, and what it took."""

    cubes: list[Cube] = field(default_factory=list)
    rounds: int = 0
    seconds: float = 0.0


class StateSets:
    """Per literal (var, value), the states of a set (R here, IC3's sample there) where it holds,
    as the bits of one int: a cube contains a state of the set iff the AND over its literals is
    not zero."""

    def __init__(self, system: gcl.System, reachable: Sequence[tuple[int, ...]]) -> None:
        rows = np.array(reachable, dtype=np.int64).reshape(len(reachable), len(system.vars))
        self.bits: dict[tuple[int, int], int] = {}
        self.count: dict[tuple[int, int], int] = {}
        for v, var in enumerate(system.vars):
            for a in range(var.size):
                hit = rows[:, v] == a
                # little-endian bit order: state i is bit i
                self.bits[(v, a)] = int.from_bytes(np.packbits(hit, bitorder="little").tobytes(), "little")
                self.count[(v, a)] = int(hit.sum())
        self.everything = (1 << len(reachable)) - 1

    def within(self, cube: Sequence[tuple[int, int]]) -> int:
        """The states inside ``cube``, as bits (0: none)."""
        acc = self.everything
        for lit in cube:
            acc &= self.bits[lit]
            if not acc:
                break
        return acc

    def meets(self, cube: Sequence[tuple[int, int]]) -> bool:
        """Whether ``cube`` holds a state of the set."""
        return bool(self.within(cube))

    def smallest_clear(self, state: tuple[int, ...]) -> Cube:
        """A sub-cube of ``state``'s valuation that contains no state of R, greedily small: the
        literals most states of R share are dropped first (they tell the fewest states apart)."""
        cube = [(v, a) for v, a in enumerate(state)]
        for lit in sorted(cube, key=lambda x: -self.count[x]):
            smaller = [x for x in cube if x != lit]
            if smaller and not self.meets(smaller):
                cube = smaller
        return tuple(sorted(cube))


def block_to_induction(enc: Any, reachable: Sequence[tuple[int, ...]], start_cubes: Sequence[Cube] = (),
                       start: Sequence[gcl.Expr] = (), seconds: float = float("inf")) -> Blocked:
    """Cubes whose negations, with the starting clauses, make an inductive conjunction.

    ``reachable`` must be every reachable state of ``enc.system``. The starting clauses are
    ``start_cubes`` (each excluded: e.g. Houdini's two-atom candidates) and ``start``
    (expressions, e.g. the negations of unreachable targets); none may be false in a state of
    ``reachable``. Raises ``NotClosed`` when ``reachable`` proves incomplete or a starting clause
    excludes the initial state, ``OutOfTime`` past ``seconds`` of CPU time.
    """
    t0, c0 = time.perf_counter(), time.process_time()
    system = enc.system
    known = set(reachable)
    sets = StateSets(system, reachable)
    s, t = enc.state("g"), enc.state("g'")
    solver = enc.solver()
    solver.add(enc.domain(s), enc.trans(s, t, enc.selector("gcmd")))
    now: dict[tuple[int, int], z3.BoolRef] = {}
    nxt: dict[tuple[int, int], z3.BoolRef] = {}
    for v, var in enumerate(system.vars):
        for a in range(var.size):
            p, q = z3.Bool(f"g{v}={a}"), z3.Bool(f"g'{v}={a}")
            solver.add(p == (enc.wide(s[v]) == enc.num(a)), q == (enc.wide(t[v]) == enc.num(a)))
            now[(v, a)], nxt[(v, a)] = p, q
    init = system.init
    if any(all(init[v] == a for v, a in cube) for cube in start_cubes) or not all(
            gcl.evaluate(e, init) for e in start):
        raise NotClosed("a starting clause excludes the initial state")
    broken: list[z3.BoolRef] = []
    for cube in start_cubes:
        solver.add(z3.Or([z3.Not(now[x]) for x in cube]))
        broken.append(z3.And([nxt[x] for x in cube]))
    for e in start:
        solver.add(enc.cond(e, s))
        broken.append(z3.Not(enc.cond(e, t)))
    # "Some clause breaks at t" grows with every blocked cube: a chain of literals, each
    # implying the last's disjunction or one of the new cubes, so no round rebuilds it.
    some = z3.Bool("g_some0")
    solver.add(z3.Implies(some, z3.Or(broken) if broken else z3.BoolVal(False)))
    out = Blocked()
    while True:
        if time.process_time() - c0 > seconds:
            raise OutOfTime(f"{out.rounds} rounds, {len(out.cubes)} cubes")
        out.rounds += 1
        result = solver.check(some)
        if result == z3.unsat:
            break
        if result == z3.unknown:
            raise RuntimeError(f"Z3 gave up while blocking ({solver.reason_unknown()})")
        state = enc.values(solver.model(), s)
        if state in known:
            raise NotClosed(f"a reachable state has a successor outside the reachable set: {state}")
        cube = sets.smallest_clear(state)
        out.cubes.append(cube)
        solver.add(z3.Or([z3.Not(now[x]) for x in cube]))
        grown = z3.Bool(f"g_some{out.rounds}")
        solver.add(z3.Implies(grown, z3.Or(some, z3.And([nxt[x] for x in cube]))))
        some = grown
    # Initiation, without trusting the reachable set to hold the initial state.
    if any(all(init[v] == a for v, a in cube) for cube in out.cubes):
        raise NotClosed("a blocked cube holds the initial state: the reachable set lacks it")
    out.seconds = time.perf_counter() - t0
    return out
