"""Global states packed into 64-bit words, each variable in the room its domain needs.

A ``Layout`` places the variables of a ``gcl.System`` into *fields* of one or
more 64-bit words. A variable whose domain size is a power of two gets a
field of its own (read with a shift and a mask). Variables whose sizes are
not powers of two are grouped, in variable order, into fields of at most
``FIELD_BITS`` bits holding their values in mixed radix (``v0 + s0 * (v1 +
s1 * ...)``), read back through a small lookup table: eleven TCP states and
six FIFO slots of nine values take 4 + 6 * 4 = 28 bits one by one and
3.46 + 6 * 3.17 = 22.5 bits grouped. Numbers from this module's own
measurement (numpy, 1 M words): shift and mask 1.4 ms, table lookup about
3 ms, integer division 15 ms, which is why the grouped fields are read by
table rather than by division.

A state is then a tuple of ``words`` Python ints, or a list of ``words``
numpy ``uint64`` arrays for many states at once. Changing a variable from
``old`` to ``new`` adds ``(new - old) * unit(v)`` to its word (arithmetic
modulo 2**64, which is exact because the result stays in range): the
explicit engine's successors are computed that way without unpacking.

With a ``mirror`` (a permutation of the variables that is an automorphism
of the system, see ``model/symmetry.py``) the layout puts the variables
``v`` with ``v < mirror[v]`` first, their images next in the same shape, and
the fixed ones last, so that the mirror image of a packed state is two
bit ranges (or two word ranges) swapped.

Nothing here knows about TCP.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tcpcheck.model import gcl

WORD_BITS = 64
FIELD_BITS = 16  # a grouped field's lookup table has at most 2**16 entries per variable
U64 = np.uint64


@dataclass(frozen=True)
class Field:
    """Bits ``shift .. shift + bits`` of word ``word``: one variable, or several in mixed radix."""

    vars: tuple[int, ...]
    sizes: tuple[int, ...]
    word: int
    shift: int
    bits: int

    @property
    def single(self) -> bool:
        return len(self.vars) == 1

    def inner(self, position: int) -> int:
        """The mixed-radix weight of the ``position``-th variable inside the field."""
        out = 1
        for s in self.sizes[:position]:
            out *= s
        return out


def _bits_for(size: int) -> int:
    return max(1, (size - 1).bit_length())


def _is_pow2(size: int) -> bool:
    return size & (size - 1) == 0


def _fields(sizes: Sequence[tuple[int, int]]) -> list[tuple[tuple[int, ...], tuple[int, ...], int]]:
    """Group ``(var, size)`` pairs into fields: (vars, sizes, bits)."""
    out: list[tuple[tuple[int, ...], tuple[int, ...], int]] = []
    group: list[tuple[int, int]] = []
    product = 1

    def close() -> None:
        nonlocal group, product
        if group:
            out.append((tuple(v for v, _ in group), tuple(s for _, s in group), _bits_for(product)))
        group, product = [], 1

    for v, size in sizes:
        if _is_pow2(size):
            out.append(((v,), (size,), _bits_for(size)))
            continue
        if product * size > 1 << FIELD_BITS:
            close()
        group.append((v, size))
        product *= size
    close()
    return out


class Layout:
    """Where each variable of a system lives in the packed words."""

    def __init__(self, system: gcl.System, mirror: Sequence[int] | None = None) -> None:
        self.system = system
        self.mirror = tuple(mirror) if mirror is not None else None
        sizes = [v.size for v in system.vars]
        n = len(sizes)
        if self.mirror is None:
            blocks = [[(v, sizes[v]) for v in range(n)]]
        else:
            first = [v for v in range(n) if v < self.mirror[v]]
            blocks = [
                [(v, sizes[v]) for v in first],
                [(self.mirror[v], sizes[v]) for v in first],
                [(v, sizes[v]) for v in range(n) if self.mirror[v] == v],
            ]
        groups = [_fields(b) for b in blocks]
        side_bits = sum(b for _, _, b in groups[0])
        total = sum(b for g in groups for _, _, b in g)
        # With a mirror, the two sides either share one word (bits 0..h and h..2h) or take
        # the same number of words each, so that the mirror image is a swap of two ranges.
        self.fields: list[Field] = []
        if self.mirror is not None and total > WORD_BITS:
            words = 0
            for g in groups:
                words = self._place(g, words)
            self.side_words = self._words_of(groups[0], 0)
            self.side_bits = 0
        else:
            words = self._place([f for g in groups for f in g], 0)
            self.side_words = 0
            self.side_bits = side_bits if self.mirror is not None else 0
        self.words = words
        self.where: dict[int, tuple[Field, int]] = {}
        for f in self.fields:
            for pos, v in enumerate(f.vars):
                self.where[v] = (f, pos)
        # Lookup tables: field value -> each grouped variable's value.
        self.tables: dict[int, np.ndarray] = {}
        for f in self.fields:
            if f.single:
                continue
            values = np.arange(1 << f.bits, dtype=np.int64)
            for pos, size in enumerate(f.sizes):
                self.tables[f.vars[pos]] = (values // f.inner(pos)) % size
        self.bits = total

    @staticmethod
    def _words_of(group: list[tuple[tuple[int, ...], tuple[int, ...], int]], start: int) -> int:
        words, used = 1, 0
        for _, _, bits in group:
            if used + bits > WORD_BITS:
                words, used = words + 1, 0
            used += bits
        return words if group else 0

    def _place(self, group: list[tuple[tuple[int, ...], tuple[int, ...], int]], word: int) -> int:
        """Append fields from a fresh word on; return the number of words used so far."""
        used = 0
        if not group:
            return word
        for vars_, sizes, bits in group:
            if used + bits > WORD_BITS:
                word, used = word + 1, 0
            self.fields.append(Field(vars_, sizes, word, used, bits))
            used += bits
        return word + 1

    # ----------------------------------------------------------- one state --
    def unit(self, var: int) -> tuple[int, int]:
        """(word, weight): adding ``d * weight`` to that word adds ``d`` to ``var``."""
        f, pos = self.where[var]
        return f.word, f.inner(pos) << f.shift

    def encode(self, state: Sequence[int]) -> tuple[int, ...]:
        """The packed words of one state."""
        out = [0] * self.words
        for v, value in enumerate(state):
            w, weight = self.unit(v)
            out[w] += value * weight
        return tuple(out)

    def decode(self, words: Sequence[int]) -> tuple[int, ...]:
        """The state of some packed words."""
        out = [0] * len(self.system.vars)
        for f in self.fields:
            raw = (int(words[f.word]) >> f.shift) & ((1 << f.bits) - 1)
            for pos, (v, size) in enumerate(zip(f.vars, f.sizes, strict=True)):
                out[v] = (raw // f.inner(pos)) % size
        return tuple(out)

    # ---------------------------------------------------------- many states --
    def column(self, words: Sequence[np.ndarray], var: int) -> np.ndarray:
        """``var``'s value in each of many packed states (int64)."""
        f, _ = self.where[var]
        raw = words[f.word]
        if f.shift:
            raw = raw >> U64(f.shift)
        if f.single:
            if f.shift + f.bits < WORD_BITS:
                raw = raw & U64((1 << f.bits) - 1)
            return raw.view(np.int64)
        raw = raw & U64((1 << f.bits) - 1)
        return self.tables[var][raw.view(np.int64)]

    def pack(self, columns: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Packed words from one column per variable."""
        n = len(columns[0]) if columns else 0
        out = [np.zeros(n, dtype=U64) for _ in range(self.words)]
        for v, col in enumerate(columns):
            w, weight = self.unit(v)
            out[w] += col.astype(U64) * U64(weight)
        return out

    def decode_many(self, words: Sequence[np.ndarray]) -> list[tuple[int, ...]]:
        """Packed states as tuples (for printing and tests; slow for millions)."""
        cols = [self.column(words, v).tolist() for v in range(len(self.system.vars))]
        return list(zip(*cols, strict=True)) if cols else []

    def mirrored(self, words: Sequence[np.ndarray]) -> list[np.ndarray]:
        """The mirror image of many packed states (needs a layout built with a mirror)."""
        if self.mirror is None:
            raise ValueError("this layout has no mirror")
        if self.side_words:
            s = self.side_words
            return [*words[s: 2 * s], *words[:s], *words[2 * s:]]
        h = self.side_bits
        if h == 0:
            return list(words)
        w = words[0]
        low = U64((1 << h) - 1)
        rest = w & ~U64((1 << (2 * h)) - 1) if 2 * h < WORD_BITS else U64(0)
        swapped = ((w & low) << U64(h)) | ((w >> U64(h)) & low) | rest
        return [swapped, *words[1:]]
