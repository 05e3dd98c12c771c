"""Compiling a family of similar systems: each command compiled once.

The mutants of a spec compose into systems that share almost all their
guarded commands. The explicit engine compiles a whole system into one
function (fast to run, ~0.1 s to compile); for hundreds of mutants that
compile dominates. Here each command becomes a small function, kept in a
process-wide cache keyed by its guard and updates, so a mutant's system
compiles only the commands its edit changed: ``derived_successors`` runs
the original system's compiled function and adds those commands, a
successor function for ``explicit.explore(system, successors=...)`` with
the semantics of ``explicit.compile_successors`` (tests compare the state
spaces). The endpoint machine (``model.endpoint``) steps with the same
compiled commands. ``derived_vector_successors`` does the same over packed
states, from the original's vectorized function: numpy pays off on the
larger spaces, the one-state function on the small ones.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np

from tcpcheck.model import gcl
from tcpcheck.model.packed import Layout
from tcpcheck.model.vectorized import VectorSuccessors, compile_vector_successors

Step = Callable[[tuple[int, ...]], "tuple[int, ...] | None"]
_COMPILED: dict[object, Step] = {}


def compiled(command: gcl.Command, width: int) -> Step:
    """``s -> s'`` for ``command`` over ``width`` variables, None when its
    guard fails; from the shared cache."""
    key = (command.guard, command.updates, width)
    fn = _COMPILED.get(key)
    if fn is None:
        new = dict(command.updates)
        values = "".join((gcl.to_python(new[v]) if v in new else f"s[{v}]") + ", " for v in range(width))
        source = f"lambda s: ({values}) if {gcl.to_python(command.guard)} else None"
        fn = _COMPILED[key] = eval(source)  # noqa: S307 (generated from the model's own expressions)
    return fn


def required_value(guard: gcl.Expr, var: int) -> int | None:
    """The value of ``var`` an ``var == value`` conjunct of ``guard`` requires, if any."""
    atoms = guard.args if isinstance(guard, gcl.And) else (guard,)
    for atom in atoms:
        if isinstance(atom, gcl.Cmp) and atom.op == "==" and atom.left == gcl.Ref(var) \
                and isinstance(atom.right, gcl.Const):
            return atom.right.value
    return None


def _product(choices: list[range | tuple[int]]) -> list[tuple[int, ...]]:
    combos: list[tuple[int, ...]] = [()]
    for options in choices:
        combos = [(*c, v) for c in combos for v in options]
    return combos


def _kept(original: gcl.System, system: gcl.System) -> list[int | None] | None:
    """Per command of ``original``: the index of the same command (same
    name, equal) in ``system``, or None when ``system`` changed or dropped
    it. None when the two do not line up (other variables, duplicate names)."""
    if original.vars != system.vars or original.init != system.init:
        return None
    mine = {c.name: j for j, c in enumerate(system.commands)}
    if len(mine) != len(system.commands) or len({c.name for c in original.commands}) != len(original.commands):
        return None
    return [mine.get(c.name) if mine.get(c.name) is not None and system.commands[mine[c.name]] == c else None
            for c in original.commands]


def derived_vector_successors(
    original: gcl.System,
    original_successors: VectorSuccessors,
    system: gcl.System,
    layout: Layout,
) -> VectorSuccessors | None:
    """The vectorized counterpart of ``derived_successors``: the original's
    compiled function over packed states (``explicit.explore`` of the
    original compiled it; the layouts agree because the variables do), its
    results for commands ``system`` dropped or changed filtered out, plus
    ``system``'s new or changed commands compiled on their own. For
    ``explore(system, vector_successors=...)``; None when the two systems
    do not line up."""
    kept = _kept(original, system)
    if kept is None:
        return None
    index = np.array([-1 if j is None else j for j in kept], dtype=np.int64)
    unchanged = {j for j in kept if j is not None}
    fresh = [j for j in range(len(system.commands)) if j not in unchanged]
    extra = None
    if fresh:
        subsystem = dataclasses.replace(system, commands=tuple(system.commands[j] for j in fresh))
        extra = compile_vector_successors(subsystem, layout)[0]
    renumber = np.array(fresh, dtype=np.int64)

    def successors(words: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
        rows, cmds, new = original_successors(words)
        mapped = index[cmds]
        keep = mapped >= 0
        rows, cmds, new = rows[keep], mapped[keep], [w[keep] for w in new]
        if extra is not None:
            r2, c2, n2 = extra(words)
            if r2.size:
                rows = np.concatenate((rows, r2))
                cmds = np.concatenate((cmds, renumber[c2]))
                new = [np.concatenate((a, b)) for a, b in zip(new, n2, strict=True)]
        return rows, cmds, new

    return successors


def derived_successors(
    original: gcl.System,
    original_successors: Callable[[tuple[int, ...]], list[tuple[int, tuple[int, ...]]]],
    system: gcl.System,
) -> Callable[[tuple[int, ...]], list[tuple[int, tuple[int, ...]]]] | None:
    """Successors of ``system`` (a mutant of ``original``, the same
    variables) from the original's compiled function: its commands that
    ``system`` has unchanged (matched by name), plus ``system``'s new or
    changed ones compiled on their own. None when the two do not line up.
    A single edit of a spec changes a few dozen of several hundred commands.
    """
    kept = _kept(original, system)
    if kept is None:
        return None
    unchanged = {j for j in kept if j is not None}
    width = len(system.vars)
    keys = [f["state"] for f in system.endpoints.values()]
    sizes = [system.vars[k].size for k in keys]
    fresh: dict[tuple[int, ...], list[tuple[int, Step]]] = {}
    for j, c in enumerate(system.commands):
        if j in unchanged:
            continue
        wanted = [required_value(c.guard, k) for k in keys]
        for combo in _product([range(n) if w is None else (w,) for w, n in zip(wanted, sizes, strict=True)]):
            fresh.setdefault(combo, []).append((j, compiled(c, width)))

    def successors(s: tuple[int, ...]) -> list[tuple[int, tuple[int, ...]]]:
        out = [(j, t) for i, t in original_successors(s) if (j := kept[i]) is not None]
        for j, fn in fresh.get(tuple(s[k] for k in keys), ()):
            nxt = fn(s)
            if nxt is not None:
                out.append((j, nxt))
        return out

    return successors
