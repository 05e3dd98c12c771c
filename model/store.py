"""Visited-state stores for the explicit engine: exact, or bitstate (SPIN's supertrace).

``ExactStore`` keeps every state once, as its packed words (``model/packed.py``)
in arrays indexed by state number, with the number of the state it was first
reached from, and an open-addressing hash table (linear probing, at most
``MAX_LOAD`` full) of state numbers over them. Per state that is
``8 * words`` bytes of key, 4 of parent, and 4 / load of table: 20 to 28
bytes for a one-word state, against about 1.2 KB for a Python tuple in a
dict. Lookups and insertions take a whole batch at a time (numpy), one
probe round per step of the longest probe sequence in the batch.

``BitStore`` keeps only ``2**log2_bits`` bits: a state sets ``hashes`` bits
(Holzmann's bitstate hashing, a Bloom filter). A new state whose bits are
all set already is taken for a visited one and never explored, so a search
with it is not exhaustive; ``omission_probability`` says how likely that
was, from the same quantities SPIN prints (bits, hash functions, states).

Nothing here knows about TCP.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from tcpcheck.model.packed import U64

EMPTY = np.uint32(0xFFFFFFFF)
MAX_LOAD = 0.7
MAX_STATES = 0xFFFFFFFE  # state numbers are uint32; EMPTY marks a free slot

_M1 = U64(0xBF58476D1CE4E5B9)
_M2 = U64(0x94D049BB133111EB)
_GOLD = U64(0x9E3779B97F4A7C15)


def hash_words(words: Sequence[np.ndarray], seed: int = 0) -> np.ndarray:
    """A 64-bit hash (splitmix64's finaliser, chained over the words) of many packed states."""
    h = np.full(len(words[0]), U64((seed * 0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019) % (1 << 64)), dtype=U64)
    for w in words:
        x = h ^ w
        x += _GOLD
        x ^= x >> U64(30)
        x *= _M1
        x ^= x >> U64(27)
        x *= _M2
        x ^= x >> U64(31)
        h = x
    return h


def group_rows(words: Sequence[np.ndarray], tiebreak: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Sort a batch of packed states: (order, starts), ``starts[i]`` true where ``order[i]`` begins a
    run of equal states. Within a run rows are ordered by ``tiebreak`` (ascending) when given.

    (numpy's own ``unique`` is avoided: in numpy 2.4 it hashes, measured 30 times slower than a
    sort on these batches.)
    """
    keys = tuple(reversed(words))
    if tiebreak is not None:
        order = np.lexsort((tiebreak, *keys))
    elif len(words) == 1:
        order = np.argsort(words[0])
    else:
        order = np.lexsort(keys)
    n = order.size
    starts = np.ones(n, dtype=bool)
    if n > 1:
        ordered = [w[order] for w in words]
        starts[1:] = np.logical_or.reduce([w[1:] != w[:-1] for w in ordered])
    return order, starts


def sorted_distinct(values: np.ndarray) -> np.ndarray:
    """The distinct values of a 1-d array, sorted (a sort and a comparison; see ``group_rows``)."""
    s = np.sort(values)
    if s.size < 2:
        return s
    keep = np.empty(s.size, dtype=bool)
    keep[0] = True
    np.not_equal(s[1:], s[:-1], out=keep[1:])
    return s[keep]


def lexicographic_min(a: Sequence[np.ndarray], b: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Row by row, the smaller of two packed states (word 0 most significant)."""
    if len(a) == 1:
        return [np.minimum(a[0], b[0])]
    less = np.zeros(len(a[0]), dtype=bool)
    equal = np.ones(len(a[0]), dtype=bool)
    for x, y in zip(a, b, strict=True):
        less |= equal & (y < x)
        equal &= x == y
    return [np.where(less, y, x) for x, y in zip(a, b, strict=True)]


def _enlarged(a: np.ndarray, size: int, used: int) -> np.ndarray:
    """``a`` with room for ``size`` entries, its first ``used`` kept.

    In place where nothing else refers to ``a`` (``ndarray.resize`` refuses
    otherwise; the caller passes it with no other reference): realloc of a
    large block moves its pages (mremap) instead of
    copying them, so the store never holds the old and the new array at
    once, which at the last growth of a large search was the peak of the
    whole run (keys, parents: 2.5 times their final size).
    """
    try:
        a.resize(size, refcheck=True)
        return a
    except ValueError:  # a view of it is still held somewhere: copy
        grown = np.empty(size, dtype=a.dtype)
        grown[:used] = a[:used]
        return grown


class GrowingArray:
    """A 1-d array appended to chunk by chunk, grown in place (``_enlarged``).

    What the explicit engine records per state (its successor lists) used to
    be kept as one array per chunk and joined at the end. The chunks, a few
    MB each, sit in the C heap, which glibc does not give back when they are
    freed one by one: the join then held the edges twice in resident memory
    (measured at K = 4 with reordering and loss: 2.1 GB peak for 1.2 GB of
    store and edges).
    """

    def __init__(self, dtype: type, capacity: int = 1 << 16) -> None:
        self.data: np.ndarray = np.empty(capacity, dtype=dtype)
        self.n = 0

    def append(self, values: np.ndarray) -> None:
        need = self.n + values.size
        if need > self.data.size:
            size = max(need, int(self.data.size * 1.5))
            self.data = _enlarged(self._release(), size, self.n)
        self.data[self.n: need] = values
        self.n = need

    def _release(self) -> np.ndarray:
        data = self.data
        del self.data
        return data

    def finish(self) -> np.ndarray:
        """The values appended, as one array of exactly that length (the spare room given back)."""
        return _enlarged(self._release(), self.n, self.n)


class ExactStore:
    """Every state once: packed words and parent by state number, and a hash table of numbers."""

    exhaustive = True

    def __init__(self, words: int, expected: int = 1 << 12) -> None:
        self.nwords = words
        self.n = 0
        cap = max(1 << 10, expected)
        self.keys = [np.empty(cap, dtype=U64) for _ in range(words)]
        self.parent = np.empty(cap, dtype=np.uint32)
        size = 1 << max(10, math.ceil(math.log2(cap / MAX_LOAD)))
        self.table = np.full(size, EMPTY, dtype=np.uint32)
        self.probes = 0

    # ------------------------------------------------------------- memory --
    @property
    def nbytes(self) -> int:
        """Bytes held by the store (keys, parents, table), allocated capacity included."""
        return sum(k.nbytes for k in self.keys) + self.parent.nbytes + self.table.nbytes

    def words_of(self, ids: np.ndarray | slice) -> list[np.ndarray]:
        """The packed words of some states, by number."""
        return [k[: self.n][ids] for k in self.keys]

    # ------------------------------------------------------------ hashing --
    def _slots(self, words: Sequence[np.ndarray]) -> np.ndarray:
        shift = U64(64 - int(self.table.size).bit_length() + 1)
        return (hash_words(words) >> shift).astype(np.int64)

    def lookup(self, words: Sequence[np.ndarray]) -> np.ndarray:
        """The number of each state in the batch, or -1 where it is not stored."""
        m = len(words[0])
        out = np.full(m, -1, dtype=np.int64)
        mask = self.table.size - 1
        pending = np.arange(m)
        slot = self._slots(words)
        while pending.size:
            self.probes += 1
            ids = self.table[slot]
            full = ids != EMPTY
            pending, slot, ids = pending[full], slot[full], ids[full].astype(np.int64)
            same = np.ones(pending.size, dtype=bool)
            for k, w in zip(self.keys, words, strict=True):
                same &= k[ids] == w[pending]
            out[pending[same]] = ids[same]
            pending, slot = pending[~same], (slot[~same] + 1) & mask
        return out

    def _place(self, ids: np.ndarray, words: Sequence[np.ndarray]) -> None:
        """Put state numbers ``ids`` (whose words are ``words``, none stored yet) into the table."""
        mask = self.table.size - 1
        slot = self._slots(words)
        pending = np.arange(ids.size)
        while pending.size:
            free = self.table[slot] == EMPTY
            # Of several states wanting the same free slot, one takes it (numpy keeps one of
            # the writes to a repeated index); the others read back someone else's number.
            cand = np.flatnonzero(free)
            won = np.zeros(pending.size, dtype=bool)
            if cand.size:
                self.table[slot[cand]] = ids[pending[cand]]
                won[cand] = self.table[slot[cand]] == ids[pending[cand]]
            # the losers' slots are taken now, by a winner or before: probe on
            pending, slot = pending[~won], (slot[~won] + 1) & mask

    def _grow(self, need: int) -> None:
        cap = self.keys[0].size
        if need > cap:
            new_cap = max(need, int(cap * 1.5) + 1)
            # each array handed over with no other reference to it, so that it can be resized in place
            arrays: list[np.ndarray] = [self.parent, *reversed(self.keys)]
            del self.keys, self.parent
            grown: list[np.ndarray] = []
            while arrays:
                grown.append(_enlarged(arrays.pop(), new_cap, self.n))
            self.keys, self.parent = grown[:-1], grown[-1]
        if need > self.table.size * MAX_LOAD:
            size = self.table.size
            while need > size * MAX_LOAD:
                size *= 2
            # the table is rebuilt from the keys: drop the old one first rather than hold both
            self.table = np.empty(0, dtype=np.uint32)
            self.table = np.full(size, EMPTY, dtype=np.uint32)
            ids = np.arange(self.n, dtype=np.uint32)
            for lo in range(0, self.n, 1 << 20):
                hi = min(self.n, lo + (1 << 20))
                self._place(ids[lo:hi], [k[lo:hi] for k in self.keys])

    def add(self, words: Sequence[np.ndarray], parents: np.ndarray) -> np.ndarray:
        """Store states known to be new (distinct, none stored); return their numbers."""
        m = len(words[0])
        if self.n + m > MAX_STATES:
            raise OverflowError("more than 2**32 - 2 states: beyond what the exact store numbers")
        self._grow(self.n + m)
        ids = np.arange(self.n, self.n + m, dtype=np.uint32)
        for k, w in zip(self.keys, words, strict=True):
            k[self.n: self.n + m] = w
        self.parent[self.n: self.n + m] = parents
        self.n += m
        self._place(ids, words)
        return ids.astype(np.int64)


class BitStore:
    """Bitstate hashing: ``hashes`` bits per state in a table of ``2**log2_bits`` bits."""

    exhaustive = False

    def __init__(self, log2_bits: int = 30, hashes: int = 3) -> None:
        if not 10 <= log2_bits <= 40:
            raise ValueError("the bit table must have between 2**10 and 2**40 bits")
        if not 1 <= hashes <= 16:
            raise ValueError("between 1 and 16 hash functions")
        self.log2_bits = log2_bits
        self.hashes = hashes
        self.bits = np.zeros(1 << (log2_bits - 3), dtype=np.uint8)
        self.n = 0

    @property
    def nbytes(self) -> int:
        return self.bits.nbytes

    def _positions(self, words: Sequence[np.ndarray]) -> list[np.ndarray]:
        # Double hashing (Kirsch and Mitzenmacher): h1 + i * h2, as good as k independent hashes.
        h1 = hash_words(words, 1)
        h2 = hash_words(words, 2) | U64(1)
        shift = U64(64 - self.log2_bits)
        return [((h1 + U64(i) * h2) >> shift).astype(np.int64) for i in range(self.hashes)]

    def insert(self, words: Sequence[np.ndarray]) -> np.ndarray:
        """Which states of a batch of distinct states are new; sets their bits."""
        pos = self._positions(words)
        seen = np.ones(len(words[0]), dtype=bool)
        for p in pos:
            seen &= (self.bits[p >> 3] >> (p & 7).astype(np.uint8)) & 1 == 1
        new = ~seen
        for p in pos:
            q = p[new]
            np.bitwise_or.at(self.bits, q >> 3, (np.uint8(1) << (q & 7).astype(np.uint8)))
        self.n += int(new.sum())
        return new

    def omission_probability(self) -> float:
        """Probability that a new state was taken for a visited one when the last state was stored:
        ``(1 - exp(-k n / m)) ** k`` for ``n`` states, ``k`` hashes, ``m`` bits (a Bloom filter's
        false-positive rate)."""
        m = float(1 << self.log2_bits)
        return (1.0 - math.exp(-self.hashes * self.n / m)) ** self.hashes

    def expected_omissions(self) -> float:
        """Expected number of states missed over the whole search: the sum of the per-insertion
        false-positive rates, ``sum_i (1 - exp(-k i / m)) ** k`` for ``i < n`` (by the integral)."""
        m, k, n = float(1 << self.log2_bits), self.hashes, self.n
        if n == 0:
            return 0.0
        steps = 256
        total = 0.0
        for j in range(steps):
            i = (j + 0.5) * n / steps
            total += (1.0 - math.exp(-k * i / m)) ** k
        return total * n / steps

    def hash_factor(self) -> float:
        """Bits per stored state (SPIN's "hash factor"; SPIN advises more than 100)."""
        return float(1 << self.log2_bits) / max(1, self.n)
