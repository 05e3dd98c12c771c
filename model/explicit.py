"""The explicit-state engine: breadth-first search over packed global states.

Each global state is packed into 64-bit words (``model/packed.py``) and kept
once in an ``ExactStore`` (``model/store.py``): its words, the number of the
state it was first reached from, and a hash table of numbers; about 20 bytes
a state for a one-word state. The search expands a BFS layer a slice at a
time with the guarded commands compiled to numpy (``model/vectorized.py``).
States are numbered in BFS order (by depth, then by parent, then by packed
value), so the first state of the order that breaks a property is at the
least depth, and the parent chain back from it is a shortest counterexample.

Options, each reported in ``StateSpace.stats``:

* ``mirror``: symmetry reduction (``model/symmetry.py``): one state per
  pair {s, mirror(s)}; properties are evaluated on both.
* ``record_edges``: keep the successor numbers of every state (4 bytes an
  edge), which ``recoverable`` properties (AG (from -> EF p)) need; without
  it they are recomputed by a second pass when asked for.

The scalar ``compile_successors`` (one state at a time, plain Python) is
the reference the vectorized one is tested against, and what traces are
replayed with. ``model/supertrace.py`` is the bitstate variant.
"""

from __future__ import annotations

import bisect
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from tcpcheck.model import gcl
from tcpcheck.model.errors import SearchLimit
from tcpcheck.model.packed import U64, Layout
from tcpcheck.model.por import Reduction
from tcpcheck.model.properties import Property
from tcpcheck.model.results import Verdict, trace
from tcpcheck.model.store import EMPTY, ExactStore, GrowingArray, group_rows, lexicographic_min, sorted_distinct
from tcpcheck.model.symmetry import Mirror, normalise
from tcpcheck.model.vectorized import (
    VectorSuccessors,
    compile_vector_predicate,
    compile_vector_successors,
    compile_vector_term,
    conjuncts,
    key_equality,
)

if TYPE_CHECKING:
    import networkx as nx

Successors = Callable[[tuple[int, ...]], list[tuple[int, tuple[int, ...]]]]

# How often (in new states) ``explore`` reports progress and checks limits:
# often enough for a live line, rare enough to cost nothing measurable.
PROGRESS_EVERY = 10_000


@dataclass(frozen=True)
class SearchProgress:
    """How far a search has got: what a progress callback is given."""

    states: int
    transitions: int
    frontier: int  # states found but not yet expanded
    seconds: float

CHUNK = 1 << 15  # states expanded per numpy call: bounds the transient arrays (about 10 successors each)


def compile_successors(system: gcl.System) -> Successors:
    """Python successor function for ``system``: state -> [(command, state')], one state at a time."""
    commands = list(enumerate(system.commands))
    # Group commands by the variable their guards most often test for
    # equality, then the rest by the next such variable, and so on.
    groups: list[tuple[int | None, list[tuple[int, gcl.Command]]]] = []
    rest = commands
    while rest:
        freq = Counter(k[0] for _, c in rest for a in conjuncts(c.guard) if (k := key_equality(a)))
        if not freq:
            groups.append((None, rest))
            break
        var = freq.most_common(1)[0][0]
        keyed = [(i, c) for i, c in rest if any((k := key_equality(a)) and k[0] == var for a in conjuncts(c.guard))]
        groups.append((var, keyed))
        rest = [(i, c) for i, c in rest if (i, c) not in keyed]

    n = len(system.vars)
    lines = ["def successors(s):", "    out = []", "    add = out.append"]

    def emit_cmd(i: int, c: gcl.Command, skip: gcl.Expr | None, indent: str) -> None:
        atoms = [a for a in conjuncts(c.guard) if a != skip]
        cond = " and ".join(gcl.to_python(a) for a in atoms) or "True"
        new = dict(c.updates)
        values = ", ".join(gcl.to_python(new[v]) if v in new else f"s[{v}]" for v in range(n))
        lines.append(f"{indent}if {cond}:")
        lines.append(f"{indent}    add(({i}, ({values},)))")

    for key_var, members in groups:
        if key_var is None:
            for i, c in members:
                emit_cmd(i, c, None, "    ")
            continue
        by_value: dict[int, list[tuple[int, gcl.Command]]] = {}
        for i, c in members:
            value = next(k[1] for a in conjuncts(c.guard) if (k := key_equality(a)) and k[0] == key_var)
            by_value.setdefault(value, []).append((i, c))
        lines.append(f"    v = s[{key_var}]")
        for j, (value, cmds) in enumerate(sorted(by_value.items())):
            lines.append(f"    {'if' if j == 0 else 'elif'} v == {value}:")
            for i, c in cmds:
                emit_cmd(i, c, gcl.eq(key_var, value), "        ")
    lines.append("    return out")
    namespace: dict[str, object] = {}
    exec(compile("\n".join(lines), "<tcpcheck successors>", "exec"), namespace)  # noqa: S102
    return namespace["successors"]  # type: ignore[return-value]


def compile_predicate(expr: gcl.Expr) -> Callable[[tuple[int, ...]], bool]:
    """Python predicate for a boolean expression (one state)."""
    namespace: dict[str, object] = {}
    exec(f"def p(s):\n    return bool({gcl.to_python(expr)})", namespace)  # noqa: S102
    return namespace["p"]  # type: ignore[return-value]


@dataclass
class StateSpace:
    """The reachable global states (one per mirror pair when reduced), numbered in BFS order."""

    system: gcl.System
    layout: Layout
    store: ExactStore
    layers: list[int]  # layers[d]: number of the first state at depth d; the last entry is the count
    transitions: int  # (state, command) successor pairs
    terminal_count: int  # states with no successor
    seconds: float
    mirror: Mirror | None = None
    edge_counts: np.ndarray | None = field(default=None, repr=False)  # successors per state (distinct)
    edge_targets: np.ndarray | None = field(default=None, repr=False)  # their numbers, state by state
    _successors: VectorSuccessors | None = field(default=None, repr=False)
    _scalar: Successors | None = field(default=None, repr=False)  # the one-state function explore was given
    _states: list[tuple[int, ...]] | None = field(default=None, repr=False)
    reduction: Reduction | None = field(default=None, repr=False)  # partial-order reduction (model/por.py)
    _unreduced: StateSpace | None = field(default=None, repr=False)  # for shortest traces under it
    _unreduced_depth: int | None = field(default=None, repr=False)  # its depth bound (None: all of it)

    # ------------------------------------------------------------ basics --
    def __len__(self) -> int:
        return self.store.n

    @property
    def count(self) -> int:
        """Stored states."""
        return self.store.n

    @property
    def depth(self) -> int:
        """Depth of the deepest state (BFS layers - 1)."""
        return len(self.layers) - 2

    @property
    def states(self) -> list[tuple[int, ...]]:
        """Every stored state as a tuple, in BFS order (decoded on first use: for small spaces)."""
        if self._states is None:
            self._states = self.layout.decode_many(self.store.words_of(slice(None)))
        return self._states

    @property
    def edges(self) -> list[tuple[int, int, int]]:
        """Every transition as (source, target, command) state numbers (recomputed: for small spaces)."""
        out: list[tuple[int, int, int]] = []
        for lo, hi, words in self.chunks():
            rows, cmds, ids = self._successor_ids(lo, hi, words)
            out.extend(zip((rows + lo).tolist(), ids.tolist(), cmds.tolist(), strict=True))
        return out

    def state(self, index: int) -> tuple[int, ...]:
        """One stored state."""
        return self.layout.decode([int(k[index]) for k in self.store.keys])

    def depth_of(self, index: int) -> int:
        """BFS depth of state ``index``."""
        return bisect.bisect_right(self.layers, index) - 1

    def depths(self) -> np.ndarray:
        """BFS depth of every state, in state order."""
        sizes = [b - a for a, b in zip(self.layers, self.layers[1:], strict=False)]
        return np.repeat(np.arange(len(sizes), dtype=np.int64), sizes)

    def chunks(self, size: int = CHUNK, reverse: bool = False) -> Iterator[tuple[int, int, list[np.ndarray]]]:
        """(first, end, words) over every stored state in slices."""
        n = self.store.n
        starts = range(0, n, size)
        for lo in reversed(starts) if reverse else starts:
            hi = min(n, lo + size)
            yield lo, hi, self.store.words_of(slice(lo, hi))

    def successors_of(self, state: tuple[int, ...]) -> list[tuple[int, tuple[int, ...]]]:
        """(command, successor) of one state: from the one-state function ``explore`` was given, else from
        the vectorized one (numpy on one row costs more than a plain call: counterexamples replay many)."""
        if self._scalar is not None:
            return [(c, tuple(map(int, nxt))) for c, nxt in self._scalar(state)]
        words = [np.array([w], dtype=U64) for w in self.layout.encode(state)]
        _, cmds, new = self.vector_successors()(words)
        return list(zip(cmds.tolist(), self.layout.decode_many(new), strict=True))

    def vector_successors(self) -> VectorSuccessors:
        if self._successors is None:
            self._successors = compile_vector_successors(self.system, self.layout)[0]
        return self._successors

    def canonical(self, words: list[np.ndarray]) -> list[np.ndarray]:
        """The stored representative of each state (itself, or the smaller of it and its mirror image)."""
        if self.mirror is None:
            return words
        return lexicographic_min(words, self.layout.mirrored(words))

    def edge_codes(self, ids: np.ndarray, new: list[np.ndarray], canon: list[np.ndarray]) -> np.ndarray:
        """Successor numbers as stored in the edge lists: with the mirror reduction, ``2 * id + flip``
        where ``flip`` says the successor is the image of the stored state ``id`` (so that a path can
        be followed with its orientation, ``recoverable``); without it, ``id``."""
        if self.mirror is None:
            return ids
        flip = np.logical_or.reduce([a != b for a, b in zip(new, canon, strict=True)])
        return (ids.astype(np.int64) << 1) | flip

    def full_count(self) -> int:
        """Reachable states of the unreduced system (a mirror pair counts two, a symmetric state one)."""
        if self.mirror is None:
            return self.count
        total = 0
        for _, _, words in self.chunks():
            image = self.layout.mirrored(words)
            same = np.logical_and.reduce([a == b for a, b in zip(words, image, strict=True)])
            total += 2 * len(same) - int(same.sum())
        return total

    def reduction_stats(self) -> dict[str, Any]:
        """What the partial-order reduction did (``{}`` without one)."""
        r = self.reduction
        if r is None:
            return {}
        return {"method": r.describe(), "visible_variables": len(r.visible), "reduced_states": r.reduced_states,
                "proviso_states": r.proviso_states, "pruned_transitions": r.pruned,
                "distinct_choices": len(r.memo),
                "unreduced_trace_states": None if self._unreduced is None else self._unreduced.count}

    def unreduced(self, depth: int | None) -> StateSpace:
        """The unreduced space within ``depth`` steps (all of it for None), for shortest traces under the
        partial-order reduction: the reduced search's paths are real but not always shortest. Kept, and
        reused for any depth it covers."""
        have = self._unreduced
        if have is None or (self._unreduced_depth is not None and (depth is None or depth > self._unreduced_depth)):
            step = self._successors
            have = explore(self.system, mirror=self.mirror, max_depth=depth, successors=self._scalar,
                           vector_successors=None if self._scalar is not None else (lambda _: step),
                           record_edges=depth is None and self.reduction is not None and self.reduction.singleton)
            self._unreduced, self._unreduced_depth = have, depth
        return have

    def stats(self) -> dict[str, Any]:
        """What the search did and what it holds, for reports."""
        out: dict[str, Any] = {
            "states": self.count,
            "transitions": self.transitions,
            "depth": self.depth,
            "seconds": round(self.seconds, 4),
            "words_per_state": self.layout.words,
            "bits_per_state": self.layout.bits,
            "store_bytes": self.store.nbytes,
            "store_bytes_per_state": round(self.store.nbytes / max(1, self.count), 1),
            "exhaustive": True,
            "symmetry": self.mirror.describe() if self.mirror else None,
        }
        if self.mirror is not None and self.reduction is None:
            out["unreduced_states"] = self.full_count()
        if self.reduction is not None:
            out["partial_order"] = self.reduction.describe()
        if self.edge_targets is not None:
            out["edge_bytes"] = self.edge_targets.nbytes + (self.edge_counts.nbytes if self.edge_counts is not None
                                                            else 0)
        return out

    # ------------------------------------------------------------ queries --
    def first(self, expr: gcl.Expr) -> tuple[int, bool] | None:
        """The first state (BFS order) satisfying ``expr``, and whether it is its mirror image that does."""
        pred = compile_vector_predicate(expr, self.layout)
        for lo, _, words in self.chunks():
            hit = pred(words)
            mirrored = None
            if self.mirror is not None:
                mirrored = pred(self.layout.mirrored(words))
                any_hit = hit | mirrored
            else:
                any_hit = hit
            if any_hit.any():
                i = int(np.argmax(any_hit))
                return lo + i, bool(not hit[i] and mirrored is not None and mirrored[i])
        return None

    def column(self, expr: gcl.Expr, mirrored: bool = False) -> np.ndarray:
        """An integer expression's value in every stored state (or in its mirror image)."""
        term = compile_vector_term(expr, self.layout)
        parts = [term(self.layout.mirrored(w) if mirrored else w) for _, _, w in self.chunks()]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)

    def _orientations(self, words: list[np.ndarray]) -> list[list[np.ndarray]]:
        return [words, self.layout.mirrored(words)] if self.mirror is not None else [words]

    def distinct(self, exprs: Sequence[gcl.Expr]) -> list[tuple[int, ...]]:
        """The distinct value tuples of integer expressions over every reachable state (with the mirror
        reduction, over the stored states and their images), sorted."""
        terms = [compile_vector_term(e, self.layout) for e in exprs]
        found: set[tuple[int, ...]] = set()
        for _, _, words in self.chunks():
            for w in self._orientations(words):
                cols = [t(w) for t in terms]
                if len(cols) <= 3 and all(c.size == 0 or (c.min() >= 0 and c.max() < 1 << 20) for c in cols):
                    # one int64 code per row, so that the distinct ones come from one sort
                    code = np.zeros(len(w[0]), dtype=np.int64)
                    for c in cols:
                        code = (code << 20) | c
                    cols = [(sorted_distinct(code) >> (20 * (len(cols) - 1 - i))) & ((1 << 20) - 1)
                            for i in range(len(cols))]
                found.update(zip(*(c.tolist() for c in cols), strict=True))
        return sorted(found)

    def maximum(self, expr: gcl.Expr) -> int:
        """The largest value of an integer expression over every reachable state."""
        term = compile_vector_term(expr, self.layout)
        best = None
        for _, _, words in self.chunks():
            for w in self._orientations(words):
                top = int(term(w).max())
                best = top if best is None else max(best, top)
        return 0 if best is None else best

    def image(self, state: tuple[int, ...]) -> tuple[int, ...]:
        return self.mirror.state(state) if self.mirror is not None else state

    def path_to(self, index: int, mirrored: bool = False) -> tuple[list[tuple[int, ...]], list[int | None]]:
        """A shortest path from the initial state to state ``index`` (to its mirror image if ``mirrored``).

        The stored parent chain gives the states; the commands, and with the
        mirror reduction the orientation of each state, are recovered by
        replaying the scalar successor function along it.
        """
        chain = [index]
        while (p := int(self.store.parent[chain[-1]])) != int(EMPTY):
            chain.append(p)
        chain.reverse()
        here = self.system.init
        states: list[tuple[int, ...]] = [here]
        cmds: list[int | None] = [None]
        for rep in chain[1:]:
            target = self.state(rep)
            wanted = {target, self.image(target)}
            cmd, here = min((c, s) for c, s in self.successors_of(here) if s in wanted)
            states.append(here)
            cmds.append(cmd)
        goal = self.state(index)
        if mirrored:
            goal = self.image(goal)
        if states[-1] != goal:
            assert self.mirror is not None, "a path that misses its target"
            states = [self.mirror.state(s) for s in states]
            cmds = [None if c is None else self.mirror.commands[c] for c in cmds]
        return states, cmds

    # ----------------------------------------------------------- the graph --
    def _successor_ids(self, lo: int, hi: int, words: list[np.ndarray],
                       coded: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self.reduction is not None:
            raise ValueError("the partial-order reduced space keeps its successor edges only (csr)")
        rows, cmds, new = self.vector_successors()(words)
        canon = self.canonical(new)
        ids = self.store.lookup(canon)
        assert (ids >= 0).all(), "a successor of a stored state is not stored"
        return rows, cmds, self.edge_codes(ids, new, canon) if coded else ids

    def csr(self) -> tuple[np.ndarray, np.ndarray]:
        """(offsets, targets): the distinct successors of state i are targets[offsets[i]:offsets[i + 1]]
        (with the mirror reduction coded ``2 * id + flip``, ``edge_codes``)."""
        if self.edge_targets is None or self.edge_counts is None:
            counts, targets = GrowingArray(np.uint32), GrowingArray(np.uint32)
            for lo, hi, words in self.chunks():
                rows, _, ids = self._successor_ids(lo, hi, words, coded=True)
                c, t = _distinct_edges(rows, ids, hi - lo)
                counts.append(c)
                targets.append(t)
            self.edge_counts, self.edge_targets = counts.finish(), targets.finish()
        offsets = np.zeros(self.count + 1, dtype=np.int64)
        np.cumsum(self.edge_counts, out=offsets[1:])
        return offsets, self.edge_targets

    def recoverable(self, expr: gcl.Expr, oriented: bool = False) -> np.ndarray:
        """Per state, whether a state satisfying ``expr`` is reachable from it (EF expr).

        Backward propagation over the successor lists, in sweeps from the
        last state to the first: most paths to a goal run deeper in BFS
        order, so one sweep settles most states; sweeps repeat until none
        changes anything.

        With the mirror reduction the result has a row per stored state and
        a column per orientation (0: the stored state, 1: its image), over
        the double cover of the reduced graph: from (s, o) a successor coded
        ``2 * t + f`` leads to (t, o xor f). That is exact for any ``expr``;
        with ``oriented`` off (for an ``expr`` that is its own image) both
        columns are the same and one is computed.
        """
        offsets, targets = self.csr()
        pred = compile_vector_predicate(expr, self.layout)
        both = self.mirror is not None and oriented
        columns = [pred(o) for _, _, w in self.chunks() for o in (self._orientations(w) if both else [w])]
        if both:  # rows (s, o) at 2 * s + o: an edge code 2 * t + f leads to row code ^ o
            n = self.count
            good = np.empty(2 * n, dtype=bool)
            at = 0
            for k in range(0, len(columns), 2):
                size = columns[k].size
                good[2 * at:2 * (at + size):2], good[2 * at + 1:2 * (at + size):2] = columns[k], columns[k + 1]
                at += size
        else:
            good = np.concatenate(columns) if columns else np.zeros(0, bool)
        if self.mirror is not None and not both:
            targets = targets >> 1  # orientation ignored: the goal is its own image
        changed = True
        while changed:
            changed = False
            for lo in reversed(range(0, self.count, CHUNK)):
                hi = min(self.count, lo + CHUNK)
                starts = offsets[lo:hi + 1]
                has = np.flatnonzero(starts[1:] > starts[:-1])
                if not has.size:
                    continue
                out = targets[starts[0]:starts[-1]]
                for o in (0, 1) if both else (None,):
                    here = lo + has if o is None else 2 * (lo + has) + o
                    succ = out if o is None else out ^ o
                    while True:
                        g = good[succ]
                        reach = np.logical_or.reduceat(g, starts[has] - starts[0])
                        fresh = reach & ~good[here]
                        if not fresh.any():
                            break
                        good[here[fresh]] = True
                        changed = True
        if both:
            return good.reshape(-1, 2)
        return good[:, None].repeat(2, axis=1) if self.mirror is not None else good

    def graph(self) -> nx.DiGraph:
        """The reachable space as a networkx DiGraph (nodes are state numbers; node attribute
        ``state`` is the valuation, edge attribute ``commands`` the command names between the two)."""
        import networkx as nx

        g = nx.DiGraph()
        g.add_nodes_from((i, {"state": s}) for i, s in enumerate(self.states))
        for lo, hi, words in self.chunks():
            rows, cmds, ids = self._successor_ids(lo, hi, words)
            for r, c, d in zip(rows.tolist(), cmds.tolist(), ids.tolist(), strict=True):
                name = self.system.commands[c].name
                if g.has_edge(lo + r, d):
                    g[lo + r][d]["commands"].append(name)
                else:
                    g.add_edge(lo + r, d, commands=[name])
        return g


def _distinct_edges(rows: np.ndarray, ids: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per source row (0..n-1), its distinct target numbers, grouped by row: (counts, targets)."""
    pairs = sorted_distinct((rows.astype(U64) << U64(32)) | ids.astype(U64))
    counts = np.bincount((pairs >> U64(32)).astype(np.int64), minlength=n).astype(np.uint32)
    return counts, (pairs & U64(0xFFFFFFFF)).astype(np.uint32)


def vectorize(successors: Successors, layout: Layout) -> VectorSuccessors:
    """A one-state-at-a-time successor function as a vectorized one over ``layout``'s packed states."""
    nvars = len(layout.system.vars)

    def step(words: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
        rows: list[int] = []
        cmds: list[int] = []
        out: list[tuple[int, ...]] = []
        for r, state in enumerate(layout.decode_many(words)):
            for cmd, nxt in successors(state):
                rows.append(r)
                cmds.append(cmd)
                out.append(nxt)
        # one 2-D array and its columns: a list per variable costs more than the search on small spaces
        table = np.array(out, dtype=np.int64).reshape(len(out), nvars)
        return np.array(rows, dtype=np.int64), np.array(cmds, dtype=np.int64), layout.pack(list(table.T))

    return step


def explore(
    system: gcl.System,
    progress: Callable[[SearchProgress], None] | None = None,
    *,
    mirror: Mirror | None = None,
    record_edges: bool = False,
    max_depth: int | None = None,
    chunk: int = CHUNK,
    successors: Successors | None = None,
    every: int = PROGRESS_EVERY,
    max_states: int | None = None,
    vector_successors: Callable[[Layout], VectorSuccessors | None] | None = None,
    reduction: Reduction | None = None,
) -> StateSpace:
    """Breadth-first search of every state reachable from ``system.init``.

    ``progress`` (a ``SearchProgress``) is called after every slice of a
    layer once ``every`` more states are stored (it may raise
    ``SearchLimit`` itself, e.g. for a memory limit); ``max_states`` stops
    the search with ``SearchLimit`` once more states than that are stored; ``max_depth`` stops it after that many BFS
    layers (the space is then the states within that many steps).
    ``successors``: another compilation of the same commands, one state at
    a time (e.g. a mutant's derived from the original's, ``model.family``),
    used instead of compiling the vectorized one. ``vector_successors``:
    given the search's layout, another compilation of the same commands
    over packed states (e.g. ``model.family.derived_vector_successors``),
    or None to compile them here. ``reduction``: partial-order reduction
    (``model/por.py``): each state's successors are its ample set's, or all
    of them when an ample successor is already stored at the state's depth
    or less (the cycle proviso); the successor edges are then always
    recorded, since they cannot be recomputed.
    """
    t0 = time.perf_counter()
    layout = Layout(system, mirror.perm if mirror is not None else None)
    derived = vector_successors(layout) if vector_successors is not None else None
    if derived is not None:
        step = derived
    elif successors is None:
        step = compile_vector_successors(system, layout)[0]
    else:
        step = vectorize(successors, layout)
    store = ExactStore(layout.words)
    init = [np.array([w], dtype=U64) for w in layout.encode(system.init)]
    store.add(init, np.array([EMPTY], dtype=np.uint32))
    space = StateSpace(system, layout, store, [0], 0, 0, 0.0, mirror, _successors=step, _scalar=successors,
                       reduction=reduction)
    if reduction is not None:
        reduction.bind(layout)
        record_edges = True
    counts, targets = GrowingArray(np.uint32), GrowingArray(np.uint32)
    report_at = every
    while store.n > space.layers[-1] and (max_depth is None or len(space.layers) <= max_depth):
        lo_layer, hi_layer = space.layers[-1], store.n
        for lo in range(lo_layer, hi_layer, chunk):
            hi = min(hi_layer, lo + chunk)
            words = store.words_of(slice(lo, hi))
            rows, cmds, new = step(words)
            space.terminal_count += int(np.count_nonzero(np.bincount(rows, minlength=hi - lo) == 0))
            if reduction is not None:
                rows, new, given, ids = _ample(reduction, space, words, rows, cmds, new, hi_layer)
            else:
                given, new = new, space.canonical(new)
                ids = store.lookup(new)
            space.transitions += rows.size
            missing = np.flatnonzero(ids < 0)
            if missing.size:
                fresh = [w[missing] for w in new]
                # equal states together, each run led by the candidate from the earliest source
                order, starts = group_rows(fresh, tiebreak=rows[missing])
                leaders = order[starts]
                if max_states is not None and store.n + leaders.size > max_states:
                    # it has found more than max_states distinct states: stop at the limit
                    raise SearchLimit("states", max_states, max_states, space.transitions, time.perf_counter() - t0)
                parents = rows[missing][leaders]
                by_parent = np.argsort(parents, kind="stable")  # BFS order: by parent, then packed value
                chosen = leaders[by_parent]
                numbers = np.empty(leaders.size, dtype=np.int64)
                numbers[by_parent] = store.add([w[chosen] for w in fresh],
                                               (parents[by_parent] + lo).astype(np.uint32))
                ids[missing[order]] = numbers[np.cumsum(starts) - 1]
            if record_edges:
                c, t = _distinct_edges(rows, space.edge_codes(ids, given, new), hi - lo)
                counts.append(c)
                targets.append(t)
            if progress is not None and store.n >= report_at:
                report_at = store.n + every
                progress(SearchProgress(store.n, space.transitions, store.n - hi, time.perf_counter() - t0))
        space.layers.append(hi_layer)
    if store.n > space.layers[-1]:
        space.layers.append(store.n)  # stopped by max_depth: the last layer is unexpanded
    if record_edges and max_depth is None:
        space.edge_counts, space.edge_targets = counts.finish(), targets.finish()
    space.seconds = time.perf_counter() - t0
    return space


def _ample(reduction: Reduction, space: StateSpace, words: list[np.ndarray], rows: np.ndarray, cmds: np.ndarray,
           new: list[np.ndarray], end_of_layer: int
           ) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray], np.ndarray]:
    """The successors a reduced search follows from a slice of a layer: (rows, canonical successors,
    successors as given, their numbers or -1), each state's ample set unless the cycle proviso applies."""
    keep = reduction.keep(words, rows, cmds)
    canon = space.canonical(new)
    ids = space.store.lookup(canon)
    # C3: an ample successor stored at this depth or less may close a cycle: expand that state fully
    closing = np.unique(rows[keep & (ids >= 0) & (ids < end_of_layer)])
    reduced = np.unique(rows[~keep])
    full = np.isin(rows, closing)
    keep |= full
    reduction.proviso_states += int(np.isin(reduced, closing).sum())
    reduction.reduced_states += int(reduced.size - np.isin(reduced, closing).sum())
    reduction.pruned += int(np.count_nonzero(~keep))
    return rows[keep], [w[keep] for w in canon], [w[keep] for w in new], ids[keep]


# ------------------------------------------------------------- properties --


def deadlock_note(space: StateSpace, index: int, mirrored: bool = False) -> str:
    """Why no good state is reachable from state ``index``, in words."""
    system = space.system
    state = space.state(index)
    if mirrored:
        state = space.image(state)
    full = [ch for ch, view in system.views.items() if len(view.show(state)) == system.options.get("bound")]
    stuck = not space.successors_of(state)
    head = (
        "deadlock: the last state has no successor"
        if stuck
        else ("from the last state no state satisfying it is reachable")
    )
    if full:
        head += f" ({' and '.join(full)} full: a bounded-buffer effect; try a larger --bound)"
    return head


def check(space: StateSpace, prop: Property) -> Verdict:
    """Decide one property on an explored state space."""
    t0 = time.perf_counter()
    system = space.system
    skipped = prop.skipped_by(system.options)
    if skipped:
        return Verdict(
            prop.name, prop.kind, prop.expected(system.options), "skipped", "explicit",
            note=f"does not apply with {skipped}",
        )
    method = ("exhaustive BFS" + (f", symmetry reduced ({space.mirror.describe()})" if space.mirror else "")
              + (", partial-order reduced" if space.reduction is not None else ""))
    verdict = Verdict(
        prop.name,
        prop.kind,
        prop.expected(system.options),
        "holds",
        "explicit",
        method=method,
        extra={"states": space.count},
    )
    # Under the mirror reduction the stored states and their images are every reachable state,
    # so an instance that is the image of one found to hold (B of an "each" property, of A)
    # holds too: its search would meet the same states in the other orientation. Skipping it
    # halved the invariant searches of verify --reorder at K = 3.
    fine: set[tuple[gcl.Expr, gcl.Expr]] = set()
    for label, expr, source in prop.instances_from(system):
        expr = gcl.simplify(expr)
        bad: tuple[int, bool] | None = None
        if space.mirror is not None:
            if (normalise(space.mirror.expr(expr)), normalise(space.mirror.expr(source))) in fine:
                continue
            fine.add((normalise(expr), normalise(source)))  # a violation ends the loop: only holds count
        if prop.kind == "invariant" and expr == gcl.TRUE:
            pass  # e.g. "not X.can(c)" where no command's step satisfies c: nothing to search
        elif prop.kind == "invariant":
            # "not X.can(c)" too: the vectorized predicate beats deciding it from the
            # transitions, which this engine would have to recompute (bench/step_check_bench.py)
            bad = space.first(gcl.Not(expr))
        elif prop.kind == "reachable":
            hit = space.first(expr)
            if hit is None:
                verdict.verdict, verdict.instance = "violated", label
                verdict.note = f"no reachable state satisfies it ({space.count} states searched)"
                break
            if verdict.witness is None:
                verdict.witness = _shortest_trace(space, hit, expr)
            continue
        else:  # recoverable: AG (from -> EF p), by backward propagation from the p-states
            mirror = space.mirror
            if mirror is None:
                good = space.recoverable(expr)
                start = compile_vector_predicate(source, space.layout)
                for lo, _, words in space.chunks():
                    stuck = start(words) & ~good[lo: lo + len(words[0])]
                    if stuck.any():
                        bad = (lo + int(np.argmax(stuck)), False)
                        break
            else:  # a state or its image stuck, whichever comes first (BFS order: least depth)
                good = space.recoverable(expr, oriented=not (mirror.symmetric(expr) and mirror.symmetric(source)))
                start = compile_vector_predicate(source, space.layout)
                for lo, _, words in space.chunks():
                    size = len(words[0])
                    stuck = [start(w) & ~good[lo: lo + size, o] for o, w in enumerate(space._orientations(words))]
                    either = stuck[0] | stuck[1]
                    if either.any():
                        i = int(np.argmax(either))
                        bad = (lo + i, bool(not stuck[0][i]))
                        break
            if bad is not None:
                verdict.note = deadlock_note(space, *bad)
        if bad is not None:
            verdict.verdict, verdict.instance = "violated", label
            if prop.kind == "recoverable" and space.reduction is not None:
                # the stuck state nearest the start needs EF p on the unreduced graph: all of it
                exact = check(space.unreduced(None), prop)
                assert (exact.verdict, exact.instance) == ("violated", label), "reduced and unreduced differ"
                verdict.counterexample, verdict.note = exact.counterexample, exact.note
            else:
                verdict.counterexample = _shortest_trace(space, bad, gcl.Not(expr))
            break
    verdict.seconds = time.perf_counter() - t0
    return verdict


def _shortest_trace(space: StateSpace, hit: tuple[int, bool], goal: gcl.Expr) -> list[Any]:
    """A shortest path to a state satisfying ``goal``, ``hit`` being one: its parent chain, or under the
    partial-order reduction (whose paths may be longer) the first such state of an unreduced BFS
    bounded by ``hit``'s depth."""
    if space.reduction is not None:
        exact = space.unreduced(space.depth_of(hit[0]))
        again = exact.first(goal)
        assert again is not None, "a state the reduced search reached is not within its depth"
        return trace(space.system, *exact.path_to(*again))
    return trace(space.system, *space.path_to(*hit))


def check_all(space: StateSpace, props: Sequence[Property]) -> list[Verdict]:
    """Decide every property."""
    return [check(space, p) for p in props]
