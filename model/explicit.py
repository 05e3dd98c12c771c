"""The explicit-state engine: breadth-first search over global states.

The guarded commands are compiled once into a Python successor function
(generated source, grouped by the variables most guards test), so the
search touches only commands whose key variables match. BFS order gives
shortest counterexamples; ``recoverable`` properties (AG EF p) and
deadlocks are decided by reverse reachability over the explored space.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tcpcheck.model import gcl
from tcpcheck.model.errors import SearchLimit
from tcpcheck.model.properties import Property
from tcpcheck.model.results import Verdict, trace
from tcpcheck.model.temporal import forbidden_steps

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


def _atoms(guard: gcl.Expr) -> list[gcl.Expr]:
    return list(guard.args) if isinstance(guard, gcl.And) else [guard]


def _key_eq(atom: gcl.Expr) -> tuple[int, int] | None:
    if (
        isinstance(atom, gcl.Cmp)
        and atom.op == "=="
        and isinstance(atom.left, gcl.Ref)
        and isinstance(atom.right, gcl.Const)
    ):
        return atom.left.var, atom.right.value
    return None


def compile_successors(system: gcl.System) -> Successors:
    """Python successor function for ``system``: state -> [(command, state')]."""
    commands = list(enumerate(system.commands))
    # Group commands by the variable their guards most often test for
    # equality, then the rest by the next such variable, and so on.
    groups: list[tuple[int | None, list[tuple[int, gcl.Command]]]] = []
    rest = commands
    while rest:
        freq = Counter(k[0] for _, c in rest for a in _atoms(c.guard) if (k := _key_eq(a)))
        if not freq:
            groups.append((None, rest))
            break
        var = freq.most_common(1)[0][0]
        keyed = [(i, c) for i, c in rest if any((k := _key_eq(a)) and k[0] == var for a in _atoms(c.guard))]
        groups.append((var, keyed))
        rest = [(i, c) for i, c in rest if (i, c) not in keyed]

    n = len(system.vars)
    lines = ["def successors(s):", "    out = []", "    add = out.append"]

    def emit_cmd(i: int, c: gcl.Command, skip: gcl.Expr | None, indent: str) -> None:
        atoms = [a for a in _atoms(c.guard) if a != skip]
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
            value = next(k[1] for a in _atoms(c.guard) if (k := _key_eq(a)) and k[0] == key_var)
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
    """Python predicate for a boolean expression."""
    namespace: dict[str, object] = {}
    exec(f"def p(s):\n    return bool({gcl.to_python(expr)})", namespace)  # noqa: S102
    return namespace["p"]  # type: ignore[return-value]


@dataclass
class StateSpace:
    """The reachable global states, in BFS order, with their edges."""

    system: gcl.System
    states: list[tuple[int, ...]]
    parent: list[tuple[int, int]]  # (predecessor, command) per state; (-1, -1) for the initial one
    edges: list[tuple[int, int, int]]  # (source, target, command)
    seconds: float
    _preds: list[list[int]] | None = field(default=None, repr=False)
    _sources: list[list[int]] | None = field(default=None, repr=False)

    @property
    def transitions(self) -> int:
        return len(self.edges)

    def predecessors(self) -> list[list[int]]:
        """Reverse adjacency, built once."""
        if self._preds is None:
            preds: list[list[int]] = [[] for _ in self.states]
            for src, dst, _ in self.edges:
                preds[dst].append(src)
            self._preds = preds
        return self._preds

    def sources(self) -> list[list[int]]:
        """Per command, the states where it is enabled, in BFS order; built once."""
        if self._sources is None:
            sources: list[list[int]] = [[] for _ in self.system.commands]
            for src, _, cmd in self.edges:
                if not sources[cmd] or sources[cmd][-1] != src:
                    sources[cmd].append(src)
            self._sources = sources
        return self._sources

    def graph(self) -> nx.DiGraph:
        """The reachable space as a networkx DiGraph (nodes are state numbers;
        node attribute ``state`` is the valuation, edge attribute ``command``
        the command names taken between the two)."""
        import networkx as nx

        g = nx.DiGraph()
        g.add_nodes_from((i, {"state": s}) for i, s in enumerate(self.states))
        for src, dst, cmd in self.edges:
            if g.has_edge(src, dst):
                g[src][dst]["commands"].append(self.system.commands[cmd].name)
            else:
                g.add_edge(src, dst, commands=[self.system.commands[cmd].name])
        return g

    def path_to(self, index: int) -> tuple[list[tuple[int, ...]], list[int | None]]:
        """The BFS (shortest) path from the initial state to state ``index``."""
        states, cmds = [], []
        while index >= 0:
            pred, cmd = self.parent[index]
            states.append(self.states[index])
            cmds.append(cmd if cmd >= 0 else None)
            index = pred
        return states[::-1], cmds[::-1]

    def terminal(self) -> list[int]:
        """States with no successor at all."""
        has_out = [False] * len(self.states)
        for src, _, _ in self.edges:
            has_out[src] = True
        return [i for i, h in enumerate(has_out) if not h]


def explore(
    system: gcl.System,
    progress: Callable[[SearchProgress], None] | None = None,
    *,
    successors: Successors | None = None,
    every: int = PROGRESS_EVERY,
    max_states: int | None = None,
) -> StateSpace:
    """Breadth-first search of every state reachable from ``system.init``.

    ``successors``: another compilation of the same commands (e.g. a
    mutant's derived from the original's, ``model.family``). ``progress``
    is called every ``every`` new states (it may raise ``SearchLimit``
    itself, e.g. for a memory limit); storing more than ``max_states``
    states raises ``SearchLimit``.
    """
    t0 = time.perf_counter()
    successors = successors or compile_successors(system)
    index = {system.init: 0}
    states = [system.init]
    parent = [(-1, -1)]
    edges: list[tuple[int, int, int]] = []
    queue = deque([0])
    # One comparison per new state: the next state number at which to
    # report progress or stop at the limit (never, when neither is asked for).
    stop = max_states if max_states is not None else float("inf")
    check_at = min(every if progress else float("inf"), stop)
    while queue:
        src = queue.popleft()
        for cmd, nxt in successors(states[src]):
            dst = index.get(nxt)
            if dst is None:
                dst = len(states)
                if dst >= check_at:
                    if dst >= stop:
                        raise SearchLimit("states", int(stop), len(states), len(edges), time.perf_counter() - t0)
                    if progress:
                        progress(SearchProgress(dst, len(edges), len(queue), time.perf_counter() - t0))
                        check_at = min(dst + every, stop)
                index[nxt] = dst
                states.append(nxt)
                parent.append((src, cmd))
                queue.append(dst)
            edges.append((src, dst, cmd))
    return StateSpace(system, states, parent, edges, time.perf_counter() - t0)


def deadlock_note(space: StateSpace, index: int) -> str:
    """Why no good state is reachable from state ``index``, in words."""
    system = space.system
    state = space.states[index]
    full = [ch for ch, view in system.views.items() if len(view.show(state)) == system.options.get("bound")]
    stuck = not any(src == index for src, _, _ in space.edges)
    head = (
        "deadlock: the last state has no successor"
        if stuck
        else ("from the last state no state satisfying it is reachable")
    )
    if full:
        head += f" ({' and '.join(full)} full: a bounded-buffer effect; try a larger --bound)"
    return head


def _first_enabled(space: StateSpace, steps: list[gcl.Expr]) -> int | None:
    """The first state (in BFS order) where some command is enabled whose
    condition in ``steps`` holds: where ``not X.can(c)`` is first violated
    (``temporal.forbidden_steps``). Reads the recorded edges: a command is
    enabled in a state exactly when the state has an edge by it."""
    sources = space.sources()
    best: int | None = None
    for cmd, condition in enumerate(steps):
        where = sources[cmd]
        if condition == gcl.FALSE or not where or (best is not None and where[0] >= best):
            continue
        if condition == gcl.TRUE:
            best = where[0]
            continue
        holds = _predicate(condition)
        for src in where:
            if best is not None and src >= best:
                break
            if holds(space.states[src]):
                best = src
                break
    return best


# Compiled step conditions, shared by the checks of a family of systems (the
# mutants of a spec share most of theirs); cleared when full.
_PREDICATES: dict[gcl.Expr, Callable[[tuple[int, ...]], bool]] = {}


def _predicate(expr: gcl.Expr) -> Callable[[tuple[int, ...]], bool]:
    fn = _PREDICATES.get(expr)
    if fn is None:
        if len(_PREDICATES) > 50_000:
            _PREDICATES.clear()
        fn = _PREDICATES[expr] = compile_predicate(expr)
    return fn


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
    verdict = Verdict(
        prop.name,
        prop.kind,
        prop.expected(system.options),
        "holds",
        "explicit",
        method="exhaustive BFS",
        extra={"states": len(space.states)},
    )
    if prop.kind == "invariant":
        forbidden = [forbidden_steps(system, prop.tree, aliases) for _, aliases in prop.roles()]
        if all(f is not None for f in forbidden):
            for (label, _), steps in zip(prop.roles(), forbidden, strict=True):
                assert steps is not None
                first = _first_enabled(space, steps)
                if first is not None:
                    verdict.verdict, verdict.instance = "violated", label
                    verdict.counterexample = trace(system, *space.path_to(first))
                    break
            verdict.seconds = time.perf_counter() - t0
            return verdict
    for label, expr, source in prop.instances_from(system):
        expr = gcl.simplify(expr)
        pred = compile_predicate(expr)
        bad: int | None = None
        if prop.kind == "invariant" and expr == gcl.TRUE:
            pass  # e.g. "not X.can(c)" where no command's step satisfies c: nothing to search
        elif prop.kind == "invariant":
            bad = next((i for i, s in enumerate(space.states) if not pred(s)), None)
        elif prop.kind == "reachable":
            hit = next((i for i, s in enumerate(space.states) if pred(s)), None)
            if hit is None:
                verdict.verdict, verdict.instance = "violated", label
                verdict.note = f"no reachable state satisfies it ({len(space.states)} states searched)"
                break
            if verdict.witness is None:
                verdict.witness = trace(system, *space.path_to(hit))
            continue
        else:  # recoverable: AG EF p, by reverse reachability from the p-states
            good = [False] * len(space.states)
            queue = deque(i for i, s in enumerate(space.states) if pred(s))
            for i in queue:
                good[i] = True
            preds = space.predecessors()
            while queue:
                for p in preds[queue.popleft()]:
                    if not good[p]:
                        good[p] = True
                        queue.append(p)
            start = compile_predicate(source)
            bad = next((i for i, g in enumerate(good) if not g and start(space.states[i])), None)
            if bad is not None:
                verdict.note = deadlock_note(space, bad)
        if bad is not None:
            verdict.verdict, verdict.instance = "violated", label
            verdict.counterexample = trace(system, *space.path_to(bad))
            break
    verdict.seconds = time.perf_counter() - t0
    return verdict
