"""The mirror symmetry of a two-endpoint system, found from its structure.

Two endpoints that run the same machine over a pair of channels make a
system in which swapping them (A's variables with B's, channel AB with
channel BA) maps every behaviour onto another one. ``find_mirror`` derives
that swap from ``system.endpoints`` (same field names, same domains) and
``system.channels`` (a channel's image is the one whose name has the two
endpoint names exchanged) and ``system.monitors`` (the past-time monitor
about A pairs with the one about B whose name is its image), and accepts it
only if it is an automorphism of the system: the initial state is its own
image, and the image of every command (guard and assignments renamed) is a
command of the system. It reads no variable names beyond those three tables.

The explicit engine then stores one state per pair {s, mirror(s)} (the
smaller packed value). That is exact for the verdicts it reports:

* invariants and reachability: a state is reachable iff its image is, so the
  reachable states are the stored ones and their images; each property is
  evaluated on both;
* recoverable properties (AG (from -> EF p)): decided on the double cover
  of the reduced graph (a stored state in each of its two orientations; an
  edge records whether it leads to a stored state or to its image), which is
  exact for any ``p`` and ``from``; when both are their own images
  (``symmetric``) one orientation suffices.

So no property rules the reduction out: only a system that is not its own
mirror image does.

Nothing here knows about TCP.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tcpcheck.model import gcl


def normalise(e: gcl.Expr) -> gcl.Expr:
    """A canonical form: And/Or flattened, deduplicated and sorted, sums sorted, == and != sides sorted."""
    if isinstance(e, gcl.And | gcl.Or):
        kind = type(e)
        flat: list[gcl.Expr] = []
        for a in e.args:
            n = normalise(a)
            flat.extend(n.args if isinstance(n, kind) else (n,))
        args = tuple(sorted(set(flat), key=repr))
        return args[0] if len(args) == 1 else kind(args)
    if isinstance(e, gcl.Add):
        return gcl.Add(tuple(sorted((normalise(a) for a in e.args), key=repr)))
    if isinstance(e, gcl.Not):
        return gcl.Not(normalise(e.arg))
    if isinstance(e, gcl.Ite):
        return gcl.Ite(normalise(e.cond), normalise(e.then), normalise(e.other))
    if isinstance(e, gcl.Cmp):
        left, right = normalise(e.left), normalise(e.right)
        if e.op in ("==", "!=") and repr(right) < repr(left):
            left, right = right, left
        return gcl.Cmp(e.op, left, right)
    return e


def rename(e: gcl.Expr, perm: Sequence[int]) -> gcl.Expr:
    """``e`` with every variable ``v`` replaced by ``perm[v]``."""
    if isinstance(e, gcl.Ref):
        return gcl.Ref(perm[e.var])
    if isinstance(e, gcl.Const):
        return e
    if isinstance(e, gcl.Not):
        return gcl.Not(rename(e.arg, perm))
    if isinstance(e, gcl.And | gcl.Or | gcl.Add):
        return type(e)(tuple(rename(a, perm) for a in e.args))
    if isinstance(e, gcl.Ite):
        return gcl.Ite(rename(e.cond, perm), rename(e.then, perm), rename(e.other, perm))
    return gcl.Cmp(e.op, rename(e.left, perm), rename(e.right, perm))


def _command_key(guard: gcl.Expr, updates: Sequence[tuple[int, gcl.Expr]]) -> tuple[Any, ...]:
    return (normalise(guard), tuple(sorted(((v, normalise(e)) for v, e in updates), key=repr)))


@dataclass(frozen=True)
class Mirror:
    """A swap of the two endpoints that maps the system onto itself."""

    perm: tuple[int, ...]  # variable -> its image
    commands: tuple[int, ...]  # command -> its image
    endpoints: tuple[str, str]
    channels: tuple[tuple[str, str], ...]  # channel pairs (each once)

    def state(self, s: Sequence[int]) -> tuple[int, ...]:
        """The image of one state."""
        out = [0] * len(s)
        for v, value in enumerate(s):
            out[self.perm[v]] = value
        return tuple(out)

    def expr(self, e: gcl.Expr) -> gcl.Expr:
        return rename(e, self.perm)

    def symmetric(self, e: gcl.Expr) -> bool:
        """Whether ``e`` is its own image (syntactically, up to ``normalise``: sound, maybe incomplete)."""
        return normalise(self.expr(e)) == normalise(e)

    def describe(self) -> str:
        a, b = self.endpoints
        chans = ", ".join(f"{x}<->{y}" for x, y in self.channels)
        return f"{a}<->{b}" + (f", {chans}" if chans else "")


def find_mirror(system: gcl.System) -> tuple[Mirror | None, str]:
    """The endpoint swap of ``system`` if it is an automorphism; else None and why not."""
    names = list(system.endpoints)
    if len(names) != 2:
        return None, f"{len(names)} endpoints: the mirror swaps exactly two"
    a, b = names
    fa, fb = system.endpoints[a], system.endpoints[b]
    if set(fa) != set(fb):
        return None, f"{a} and {b} have different variables"
    perm = list(range(len(system.vars)))

    def pair(x: int, y: int, what: str) -> str | None:
        if system.vars[x].values != system.vars[y].values:
            return f"{what}: different domains"
        perm[x], perm[y] = y, x
        return None

    for field in sorted(fa):
        if (err := pair(fa[field], fb[field], f"{a}.{field} and {b}.{field}")) is not None:
            return None, err
    swap = {a: b, b: a}
    pattern = re.compile("|".join(re.escape(n) for n in sorted(names, key=len, reverse=True)))
    channel_pairs: list[tuple[str, str]] = []
    for ch, vars_ in system.channels.items():
        image = pattern.sub(lambda m: swap[m.group()], ch)
        if image not in system.channels:
            return None, f"channel {ch} has no mirror image {image}"
        other = system.channels[image]
        if len(other) != len(vars_):
            return None, f"channels {ch} and {image} differ in size"
        if ch < image:
            channel_pairs.append((ch, image))
        for x, y in zip(vars_, other, strict=True):
            if (err := pair(x, y, f"channel {ch}")) is not None:
                return None, err
    # past-time monitors (model/temporal.py) are named by their expression: a monitor
    # about A ("A.did(...)") pairs with the one about B whose name is its image
    endpoint = re.compile(r"(?<![\w.])(" + "|".join(re.escape(n) for n in names) + r")(?=\.)")
    for key, var in system.monitors.items():
        image = endpoint.sub(lambda m: swap[m.group()], key)
        if image != key and image in system.monitors:
            if (err := pair(var, system.monitors[image], f"monitor {key}")) is not None:
                return None, err
    if any(perm[perm[v]] != v for v in range(len(perm))):
        return None, "the swap is not an involution (a variable is shared oddly)"
    if any(system.init[perm[v]] != system.init[v] for v in range(len(perm))):
        return None, "the initial state is not symmetric"
    keys: dict[tuple[Any, ...], list[int]] = {}
    for i, c in enumerate(system.commands):
        keys.setdefault(_command_key(c.guard, c.updates), []).append(i)
    images = [0] * len(system.commands)
    for group in keys.values():
        c = system.commands[group[0]]
        mirrored = _command_key(rename(c.guard, perm), [(perm[v], rename(e, perm)) for v, e in c.updates])
        found = keys.get(mirrored)
        if found is None or len(found) != len(group):
            return None, f"command {c.name} has no mirror image"
        # commands with the same guard and assignments are interchangeable: pair them in order
        for i, j in zip(group, found, strict=True):
            images[i] = j
    return Mirror(tuple(perm), tuple(images), (a, b), tuple(channel_pairs)), ""
