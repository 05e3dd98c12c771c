"""Two endpoints running the spec's machine, joined by two bounded channels.

The composition is written once, here, as guarded commands (model/gcl.py);
both engines read the result. Its rules, each a choice of the model:

* An endpoint runs one connection: after it has left CLOSED and come back,
  it stays CLOSED (no new OPEN), so the state space is finite and segments
  of one incarnation are never confused with another's (the model has no
  sequence numbers).
* A segment is what its flags say, plus which of the receiver's own control
  bits (SYN, FIN) its ACK covers; the sender knows that from its history.
* Segment processing follows RFC 9293 §3.10.7. In CLOSED, LISTEN and
  SYN_SENT the segment is classified whole. In a synchronized state a
  segment carrying SYN or FIN with an ACK takes a combined event the figure
  draws (Note 2) if the state has one; otherwise its ACK is processed
  first, then its FIN, the latter only if the ACK left the connection
  synchronized (RFC 9293: "enter the CLOSED state, delete the TCB, and
  return"). A segment no state handles whole is handled as its ACK, a
  RST,ACK as its RST (only SYN-SENT reads a RST's ACK). A segment with no
  transition is consumed and ignored.
* Sequence numbers are not modelled, with one exception the machine cannot
  do without: the RST that answers a segment without ACK carries SEQ=0
  (RFC 9293 §3.10.7.1; a segment declared ``seq = "zero"``). A
  synchronized state (the states of §3.10.7.4, which check sequence numbers
  first) drops it, since a window at zero needs the peer's ISN to be
  2^32 - 1, unless the spec gives it a transition on an event declared
  ``seq = "any"`` (a machine that judges a RST by its ACK alone, as SYN-SENT
  does); CLOSED, LISTEN and SYN-SENT have no window and take it by its
  flags and ACK as any other segment. Without this,
  the RST a closed endpoint sends to a simultaneous open's SYN would reset
  the peer's SYN-RECEIVED or FIN-WAIT-1, which no stack does.
* Channels hold at most K segments (FIFO, or any order with ``reorder``).
  A send into a full channel waits: the command is not enabled until there
  is room. With K = 1 this makes simultaneous open and close deadlock (each
  side's reply queues behind its own SYN or FIN), which the checker
  reports; the default K = 3 is the smallest bound at which the fault-free
  model has no such deadlock (without loss or duplication the channels never
  hold more than 5 segments, so K >= 5 is exact for unbounded channels).
* ``loss`` drops any queued segment. With loss or reordering (a segment
  that arrives before the state that accepts it is dropped) each endpoint
  keeps a retransmission queue: the segments of the spec's ``[[retransmit]]``
  (SYN, SYN,ACK, FIN) it actually sent and that are not yet acknowledged,
  flushed with the connection (RFC 9293 §3.8.1, §3.10.8). It retransmits
  exactly those, front of the queue first, and a retransmission is a send
  for the history; a state's name never makes an endpoint send what it did
  not send. A retransmission happens only when no copy of the segment is in
  flight: the copy that matters is the one sent after the loss, and extra
  copies are what ``duplicate`` models (it copies a queued segment to the tail).
* History is per connection. A transition marked ``new_connection`` (with
  the implementation option: a SYN reopening TIME_WAIT) starts a new
  incarnation on the same endpoint: its history and retransmission queue
  start afresh, and so do the past-time monitors about it (model/temporal.py).
* Each command's action records what the property language's steps read:
  the segment received and sent, the spec events, the signal the user is
  told (a transition's ``signal``).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tcpcheck.model import expr as exprlang
from tcpcheck.model import gcl
from tcpcheck.model.errors import InputError, where
from tcpcheck.model.spec import Segment, Spec, Transition
from tcpcheck.model.temporal import add_monitors, property_env

__all__ = ["DEFAULT_BOUND", "ENDPOINTS", "MAX_BOUND", "ModelOptions", "Vocabulary", "Wire", "build_system",
           "property_env", "wire_alphabet", "wire_for"]

EMPTY = "-"
ENDPOINTS = ("A", "B")
MAX_BOUND = 6
DEFAULT_BOUND = 3


@dataclass(frozen=True)
class Wire:
    """A segment as it travels: flags and what its ACK covers."""

    name: str
    flags: frozenset[str]
    acks_syn: bool
    acks_fin: bool
    # SEQ=0 (RFC 9293 §3.10.7.1): a synchronized state drops it (see the
    # module docstring)
    seq_zero: bool = False


@dataclass(frozen=True)
class ModelOptions:
    """How the two endpoints and the network are composed."""

    bound: int = DEFAULT_BOUND
    reorder: bool = False
    loss: bool = False
    duplicate: bool = False
    # spec options (note3, rfc1337, implementation); missing ones take the
    # spec's defaults
    spec_options: dict[str, bool] = field(default_factory=dict)

    def resolved(self, spec: Spec) -> dict[str, bool]:
        """Spec option values: the spec's defaults overridden by ours."""
        unknown = set(self.spec_options) - set(spec.options)
        if unknown:
            raise InputError(
                spec.path,
                f"unknown model option {sorted(unknown)[0]!r}; the spec declares: " + ", ".join(sorted(spec.options)),
            )
        return {**spec.options, **self.spec_options}

    def as_dict(self, spec: Spec) -> dict[str, object]:
        """Every option with its value, for reports."""
        return {
            "bound": self.bound,
            "reorder": self.reorder,
            "loss": self.loss,
            "duplicate": self.duplicate,
            **self.resolved(spec),
        }


def wire_alphabet(spec: Spec) -> dict[str, Wire]:
    """Every distinct segment that can be on a channel, by name.

    A segment whose ACK depends on the sender's history comes in two
    variants: acking the receiver's SYN only (``FIN``), or its FIN too
    (``FIN_ACK_OF_FIN``), named after the event the receiver sees.
    """
    out: dict[str, Wire] = {}
    for seg in spec.segments.values():
        if seg.acks == "history":
            out[seg.name] = Wire(seg.name, seg.flags, True, False)
            name = "ACK_OF_FIN" if seg.flags == {"ACK"} else f"{seg.name}_ACK_OF_FIN"
            out[name] = Wire(name, seg.flags, True, True)
        else:
            out[seg.name] = Wire(seg.name, seg.flags, seg.acks == "syn", seg.acks == "fin", seg.seq_zero)
    return out


def wire_for(seg: Segment, rcvd_fin: bool, alphabet: dict[str, Wire]) -> str:
    """The wire variant an endpoint puts on the channel when sending ``seg``."""
    if seg.acks == "history" and rcvd_fin:
        return "ACK_OF_FIN" if seg.flags == {"ACK"} else f"{seg.name}_ACK_OF_FIN"
    return seg.name


class _Dispatch:
    """Which transitions a received segment triggers (RFC 9293 §3.10.7)."""

    def __init__(self, spec: Spec, enabled: tuple[Transition, ...]) -> None:
        self.spec = spec
        self.by_state_event: dict[tuple[str, str], list[Transition]] = {}
        for t in enabled:
            self.by_state_event.setdefault((t.source, t.event), []).append(t)
        self.guards = {t.index: exprlang.parse(t.when) for t in enabled if t.when}

    def candidates(self, w: Wire, state: str) -> list[str]:
        """Receive events matching ``w`` exactly in ``state``, most specific first."""
        rank = {"fin": 2, "syn": 1, "none": 0}
        found = []
        windowed = self.spec.state(state).synchronized
        for e in self.spec.events.values():
            if e.kind != "rcv" or e.flags != w.flags:
                continue
            if w.seq_zero and windowed and not e.any_seq:
                continue
            if e.acks == "syn" and not w.acks_syn or e.acks == "fin" and not w.acks_fin:
                continue
            found.append((rank[e.acks], e.name))
        return [name for _, name in sorted(found, reverse=True)]

    def enabled_at(self, state: str, event: str, history: dict[str, bool]) -> list[Transition]:
        out = []
        for t in self.by_state_event.get((state, event), []):
            if t.index in self.guards and not _holds(self.guards[t.index], history):
                continue
            out.append(t)
        return out

    def whole(self, state: str, w: Wire, history: dict[str, bool]) -> list[list[Transition]]:
        for event in self.candidates(w, state):
            ts = self.enabled_at(state, event, history)
            if ts:
                return [[t] for t in ts]
        # An ACK-bearing segment nobody handles as a whole is handled as its
        # ACK (LISTEN: "any acknowledgment is bad"); a RST,ACK as its RST
        # (RFC 9293 §3.10.7.4 second: "If the RST bit is set", whatever the
        # ACK; only SYN-SENT looks at a RST's ACK, §3.10.7.3).
        if "RST" in w.flags and len(w.flags) > 1:
            return self.whole(state, Wire(w.name, frozenset({"RST"}), False, False, w.seq_zero), history)
        if "ACK" in w.flags and len(w.flags) > 1:
            return self.whole(state, _ack_part(w), history)
        return []

    def dispatch(self, state: str, w: Wire, history: dict[str, bool]) -> list[list[Transition]]:
        synchronized = self.spec.state(state).synchronized
        if not synchronized or "ACK" not in w.flags or not w.flags & {"SYN", "FIN"}:
            return self.whole(state, w, history)
        for event in self.candidates(w, state):
            if self.spec.events[event].acks != "none":
                ts = self.enabled_at(state, event, history)
                if ts:
                    return [[t] for t in ts]
        chains = self.whole(state, _ack_part(w), history) or [[]]
        if "FIN" not in w.flags:
            return [c for c in chains if c]
        out: list[list[Transition]] = []
        for chain in chains:
            here = chain[-1].target if chain else state
            fin_events = [e for e in self.candidates(w, here) if self.spec.events[e].acks == "none"]
            fins: list[Transition] = []
            if self.spec.state(here).synchronized:
                for event in fin_events:
                    fins = self.enabled_at(here, event, history)
                    if fins:
                        break
            if fins:
                out.extend(chain + [f] for f in fins)
            elif chain:
                out.append(chain)
        return out


def _ack_part(w: Wire) -> Wire:
    return Wire(w.name, frozenset({"ACK"}), w.acks_syn, w.acks_fin)


def _holds(tree: exprlang.Node, history: dict[str, bool]) -> bool:
    names: dict[str, exprlang.Typed] = {f"self.{k}": (gcl.Const(int(v)), "bool") for k, v in history.items()}
    env = exprlang.Env(names, {})
    return bool(gcl.evaluate(exprlang.typecheck(tree, env), ()))


Updates = list[tuple[int, gcl.Expr]]


def _acknowledged(spec: Spec, f: dict[str, int], source: str, chain: list[Transition], w: Wire) -> Updates:
    """Segments of ours that the ACK of a received segment takes off the retransmission queue.

    In a synchronized state every acceptable ACK is processed (RFC 9293
    §3.10.7.4, fifth), whatever the state then does with the segment;
    before that, only the ACK of a SYN that completes the handshake is
    (§3.10.7.3, fourth). A RST acknowledges nothing: it refuses or resets.
    """
    if "ACK" not in w.flags or "RST" in w.flags:
        return []
    completes = bool(chain) and "SYN" in w.flags and spec.state(chain[-1].target).synchronized
    ups: Updates = []
    if w.acks_syn and (spec.state(source).synchronized or completes):
        ups.append((f["rtx_syn"], gcl.FALSE))
    if w.acks_fin and spec.state(source).synchronized:
        ups.append((f["rtx_fin"], gcl.FALSE))
    return ups


def sending_effects(spec: Spec, f: dict[str, int], sends: list[str], rcvd_fin: bool,
                    queued: frozenset[str] | None) -> Updates:
    """History updates of sending ``sends`` (a retransmission is a send too).

    ``queued`` is the set of segments kept for retransmission, or None when
    the system keeps no retransmission queue (no loss, no reordering; the
    timed model, which retransmits on its own timers).
    """
    ups: Updates = []
    for s in sends:
        flags = spec.segments[s].flags
        if "SYN" in flags:
            ups.append((f["sent_syn"], gcl.TRUE))
            if queued is not None and s in queued:
                ups.append((f["rtx_syn"], gcl.TRUE))
        if "FIN" in flags:
            ups.append((f["sent_fin"], gcl.TRUE))
            if not rcvd_fin:
                ups.append((f["fin_first"], gcl.TRUE))
            if queued is not None and s in queued:
                ups.append((f["rtx_fin"], gcl.TRUE))
        if "RST" in flags:
            ups.append((f["sent_rst"], gcl.TRUE))
    return ups


def transition_effects(
    spec: Spec,
    fields: dict[str, int],
    chain: list[Transition],
    received: bool,
    rcvd_fin: bool,
    alphabet: dict[str, Wire],
    *,
    source: str = "",
    wire: Wire | None = None,
    queued: frozenset[str] | None = None,
) -> tuple[Updates, list[str]]:
    """State and history updates of one endpoint taking ``chain`` (empty: ignoring ``wire``), and the wires sent.

    ``fields`` maps ``state`` and each history variable to its variable
    number; the timed composition (model/timed.py) calls this too. With
    ``queued`` (see sending_effects) the retransmission queue variables are
    kept too: ``wire`` (the segment received) and ``source`` (the state it
    was received in) say what it acknowledges.
    """
    f = fields
    ups: Updates = []
    if any(t.new_connection for t in chain):
        # A new incarnation on this endpoint: what happened in the old
        # connection is not its history (the queue goes with the old TCB).
        # It answers a peer's SYN, as a listener's connection does.
        kept = (*exprlang.HISTORY_VARS, *(exprlang.QUEUE_VARS if queued is not None else ()))
        ups += [(f[h], gcl.FALSE) for h in kept if h not in ("opened", "reopened")]
        ups += [(f["passive"], gcl.TRUE), (f["reopened"], gcl.TRUE)]
        rcvd_fin = False
    elif queued is not None and wire is not None:
        ups += _acknowledged(spec, f, source, chain, wire)
    if received:
        if any("FIN" in spec.events[t.event].flags for t in chain):
            rcvd_fin = True
            ups.append((f["rcvd_fin"], gcl.TRUE))
        if any("SYN" in spec.events[t.event].flags for t in chain):
            ups.append((f["rcvd_syn"], gcl.TRUE))
    sends = [s for t in chain for s in t.sends]
    sent = [wire_for(spec.segments[s], rcvd_fin, alphabet) for s in sends]
    if chain:
        ups.append((f["state"], gcl.Const(spec.state_names.index(chain[-1].target))))
        if chain[0].source == spec.initial and chain[-1].target != spec.initial:
            ups.append((f["opened"], gcl.TRUE))
        if chain[0].event == "listen":
            ups.append((f["passive"], gcl.TRUE))
        if chain[0].event == "abort":
            ups.append((f["aborted"], gcl.TRUE))
    ups += sending_effects(spec, f, sends, rcvd_fin, queued)
    if queued is not None and chain:
        # The queue is flushed with the connection: an abort (RFC 9293
        # §3.10.5), or a step that leaves no connection to retransmit for
        # (CLOSED, or back to LISTEN, §3.10.7.4).
        target = chain[-1].target
        no_syn = not any("SYN" in spec.segments[s].flags for s in sends)
        if chain[0].event == "abort" or not spec.state(target).synchronized and no_syn:
            ups += [(f["rtx_syn"], gcl.FALSE), (f["rtx_fin"], gcl.FALSE)]
    return ups, sent


class _Fifo:
    """A FIFO channel as K slots, head first; empty slots (0) at the tail."""

    def __init__(self, slots: tuple[int, ...], wires: tuple[str, ...]) -> None:
        self.vars, self.wires, self.K = slots, wires, len(slots)

    def _length_is(self, n: int) -> gcl.Expr:
        parts: list[gcl.Expr] = []
        if n > 0:
            parts.append(gcl.ne(self.vars[n - 1], 0))
        if n < self.K:
            parts.append(gcl.eq(self.vars[n], 0))
        return gcl.conj(*parts)

    def _pop(self, pos: int) -> Updates:
        ups: Updates = [(self.vars[j], gcl.Ref(self.vars[j + 1])) for j in range(pos, self.K - 1)]
        ups.append((self.vars[self.K - 1], gcl.Const(0)))
        return ups

    def takes(self, wire: str, anywhere: bool) -> list[tuple[str, gcl.Expr, Updates]]:
        """Ways to remove ``wire``: (tag, guard, updates); the head only unless ``anywhere``."""
        code = self.wires.index(wire) + 1
        return [
            (f"p{pos}", gcl.eq(self.vars[pos], code), self._pop(pos))
            for pos in (range(self.K) if anywhere else range(1))
        ]

    def puts(self, wires: list[str]) -> list[tuple[str, gcl.Expr, Updates]]:
        """Ways to append ``wires`` (one per current length that leaves room)."""
        if not wires:
            return [("", gcl.TRUE, [])]
        return [
            (
                f"n{n}",
                self._length_is(n),
                [(self.vars[n + j], gcl.Const(self.wires.index(w) + 1)) for j, w in enumerate(wires)],
            )
            for n in range(self.K - len(wires) + 1)
        ]

    def empty(self) -> gcl.Expr:
        return gcl.eq(self.vars[0], 0)

    def absent(self, wire: str) -> gcl.Expr:
        """No copy of ``wire`` is queued."""
        return gcl.conj(*(gcl.ne(v, self.wires.index(wire) + 1) for v in self.vars))

    def length(self) -> gcl.Expr:
        return gcl.Add(tuple(gcl.ne(v, 0) for v in self.vars))

    def show(self, state: tuple[int, ...]) -> list[str]:
        return [self.wires[state[v] - 1] for v in self.vars if state[v]]


class _Bag:
    """A reordering channel as one counter per segment kind (a multiset).

    Counters make states that differ only in queue order one state, and
    give the Z3 engine a representation without positions.
    """

    def __init__(self, counters: tuple[int, ...], wires: tuple[str, ...], bound: int) -> None:
        self.vars, self.wires, self.K = counters, wires, bound

    def _count(self, wire: str) -> int:
        return self.vars[self.wires.index(wire)]

    def takes(self, wire: str, anywhere: bool) -> list[tuple[str, gcl.Expr, Updates]]:
        v = self._count(wire)
        return [("any", gcl.Cmp(">=", gcl.Ref(v), gcl.Const(1)), [(v, gcl.Add((gcl.Ref(v), gcl.Const(-1))))])]

    def puts(self, wires: list[str]) -> list[tuple[str, gcl.Expr, Updates]]:
        if not wires:
            return [("", gcl.TRUE, [])]
        room = gcl.Cmp("<=", self.length(), gcl.Const(self.K - len(wires)))
        ups: Updates = []
        for w in sorted(set(wires)):
            v = self._count(w)
            ups.append((v, gcl.Add((gcl.Ref(v), gcl.Const(wires.count(w))))))
        return [("room", room, ups)]

    def empty(self) -> gcl.Expr:
        return gcl.conj(*(gcl.eq(v, 0) for v in self.vars))

    def absent(self, wire: str) -> gcl.Expr:
        """No copy of ``wire`` is queued."""
        return gcl.eq(self._count(wire), 0)

    def length(self) -> gcl.Expr:
        return gcl.Add(tuple(gcl.Ref(v) for v in self.vars))

    def show(self, state: tuple[int, ...]) -> list[str]:
        return [w for w, v in zip(self.wires, self.vars, strict=True) for _ in range(state[v])]


@dataclass(frozen=True)
class Vocabulary:
    """What the property language may say about a step (model/temporal.py):
    the segments on the wire, the states, the signals and the events."""

    wires: dict[str, Wire]
    states: tuple[str, ...]
    signals: tuple[str, ...]
    events: tuple[str, ...]


def _check_property_options(spec: Spec, properties: Sequence[Any]) -> None:
    """A property's ``unless``, ``only`` and ``expect_with`` must name options of the
    model (its faults, or the spec's options): a misspelt one would
    silently never apply."""
    known_options = set(ModelOptions().as_dict(spec)) - {"bound"}
    for p in properties:
        named = [*getattr(p, "unless", ()), *getattr(p, "only", ()), *(o for o, _, _ in getattr(p, "expect_with", ()))]
        for option in named:
            if option not in known_options:
                known = ", ".join(sorted(known_options))
                raise InputError(where(p.path, p.line), f"property {p.name!r}: unknown option {option!r} (neither "
                                 f"the model nor the spec {spec.path} has it); use one of: {known}")


# Commands already composed, by block: the systems of a spec's mutants
# share all but the few blocks their edit touches (tools/mutate builds
# thousands). A context is everything of the spec and options a block reads
# besides its own key; the key of a block names the transitions it reads.
# Contexts pin the spec's tables they are keyed by (by identity: a mutant
# shares them with its spec), so an id is never reused while its entry
# lives. Bounded: a context is emptied when full, the whole memo when too
# many contexts are live. ``BLOCK_MEMO = False`` turns it off (tests compare).
BLOCK_MEMO = True
_BLOCKS: dict[tuple[Any, ...], tuple[tuple[Any, ...], dict[tuple[Any, ...], list[gcl.Command]]]] = {}
_BLOCKS_PER_CONTEXT = 1_000
_CONTEXTS = 16


def _blocks(spec: Spec, opts: ModelOptions, guard_vars: list[str]) -> dict[tuple[Any, ...], list[gcl.Command]] | None:
    """The memo of composed blocks for this spec's tables and these options, or None when off."""
    if not BLOCK_MEMO:
        return None
    pins = (spec.events, spec.segments, spec.states, spec.retransmits)
    ctx = (*(id(x) for x in pins), spec.initial, opts.bound, opts.reorder, opts.loss, opts.duplicate,
           tuple(guard_vars))
    entry = _BLOCKS.get(ctx)
    if entry is None:
        if len(_BLOCKS) >= _CONTEXTS:
            _BLOCKS.clear()
        entry = _BLOCKS[ctx] = (pins, {})
    if len(entry[1]) >= _BLOCKS_PER_CONTEXT:
        entry[1].clear()
    return entry[1]


def build_system(spec: Spec, options: ModelOptions | None = None, properties: Sequence[Any] = ()) -> gcl.System:
    """Compose two endpoints of ``spec`` over bounded channels.

    ``properties`` are the properties to be checked: the past-time monitors
    their expressions use (``once``, ``since``, ``did``) become variables of
    the system (model/temporal.py).
    """
    opts = options or ModelOptions()
    _check_property_options(spec, properties)
    if not 1 <= opts.bound <= MAX_BOUND:
        raise InputError("--bound", f"the channel bound must be between 1 and {MAX_BOUND}, not {opts.bound}")
    spec_opts = opts.resolved(spec)
    enabled = spec.enabled(spec_opts)
    alphabet = wire_alphabet(spec)
    wires = tuple(alphabet)
    K = opts.bound
    # Retransmission exists only where a segment can go missing: lost by the
    # network, or dropped by a receiver it reached too early (reordering).
    retransmitting = opts.loss or opts.reorder

    vars_: list[gcl.Var] = []
    endpoints: dict[str, dict[str, int]] = {}
    for ep in ENDPOINTS:
        fields = {"state": len(vars_)}
        vars_.append(gcl.Var(f"{ep}.state", spec.state_names))
        for h in (*exprlang.HISTORY_VARS, *exprlang.QUEUE_VARS):
            fields[h] = len(vars_)
            vars_.append(gcl.Var(f"{ep}.{h}", ("false", "true")))
        endpoints[ep] = fields
    chans: dict[str, _Fifo | _Bag] = {}
    for ch in ("AB", "BA"):
        first = len(vars_)
        if opts.reorder:
            counts = tuple(str(n) for n in range(K + 1))
            vars_.extend(gcl.Var(f"{ch}.{w}", counts) for w in wires)
            chans[ch] = _Bag(tuple(range(first, len(vars_))), wires, K)
        else:
            vars_.extend(gcl.Var(f"{ch}.{i}", (EMPTY, *wires)) for i in range(K))
            chans[ch] = _Fifo(tuple(range(first, len(vars_))), wires)

    init = [0] * len(vars_)
    for ep in ENDPOINTS:
        init[endpoints[ep]["state"]] = spec.state_names.index(spec.initial)

    st_index = {name: i for i, name in enumerate(spec.state_names)}
    commands: list[gcl.Command] = []
    dispatcher = _Dispatch(spec, enabled)
    guard_vars = sorted({n.split(".", 1)[1] for tree in dispatcher.guards.values() for n in tree.names()})
    queued = frozenset(r.segment for r in spec.retransmits)

    def emit(name: str, guard: gcl.Expr, ups: Updates, action: gcl.Action) -> None:
        merged = dict(ups)
        # An assignment of a variable to itself changes nothing: drop it.
        updates = tuple(sorted((v, e) for v, e in merged.items() if e != gcl.Ref(v)))
        commands.append(gcl.Command(name, guard, updates, action))

    keeps = queued if retransmitting else None
    memo = _blocks(spec, opts, guard_vars)

    def cached(key: tuple[Any, ...]) -> bool:
        """Append the memo's block for ``key`` and say so; False: the caller emits it."""
        block = memo.get(key) if memo is not None else None
        if block is None:
            return False
        commands.extend(block)
        return True

    def remember(key: tuple[Any, ...], start: int) -> None:
        if memo is not None:
            memo[key] = commands[start:]

    def effects(
        ep: str, chain: list[Transition], source: str, w: Wire | None, rcvd_fin: bool
    ) -> tuple[Updates, list[str]]:
        """State and history updates of taking ``chain`` (empty: ignoring ``w``), and the wires sent."""
        return transition_effects(spec, endpoints[ep], chain, w is not None, rcvd_fin, alphabet,
                                  source=source, wire=w, queued=keeps)

    def fin_split(f: dict[str, int], sends: list[str]) -> list[tuple[bool, list[gcl.Expr]]]:
        """What an ACK or FIN covers depends on rcvd_fin: split on it when sending one."""
        if not any(spec.segments[s].acks == "history" for s in sends):
            return [(False, [])]
        return [(v, [gcl.eq(f["rcvd_fin"], int(v))]) for v in (False, True)]

    def action(ep: str, kind: str, chain: list[Transition], received: str, sent: list[str]) -> gcl.Action:
        signals = [t.signal for t in chain if t.signal]
        return gcl.Action(
            ep,
            kind,
            "+".join(t.event for t in chain) if kind == "rcv" else chain[0].event if chain else "",
            received,
            tuple(sent),
            tuple(t.id for t in chain),
            signal=signals[-1] if signals else "",
            new_connection=any(t.new_connection for t in chain),
        )

    for ep in ENDPOINTS:
        peer = "B" if ep == "A" else "A"
        f = endpoints[ep]
        out_ch, in_ch = chans[ep + peer], chans[peer + ep]

        # User calls and timers.
        for t in enabled:
            kind = spec.events[t.event].kind
            if kind == "rcv" or cached(call_key := ("call", ep, t)):
                continue
            start = len(commands)
            base = [gcl.eq(f["state"], st_index[t.source])]
            if t.source == spec.initial and t.target != spec.initial:
                base.append(gcl.eq(f["opened"], 0))
            guard = dispatcher.guards.get(t.index)
            hist_options = [h for h in _valuations(guard_vars) if _holds(guard, h)] if guard else [{}]
            for hist in hist_options:
                hist_guard = [gcl.eq(f[h], int(v)) for h, v in hist.items()]
                for rcvd_fin, fin_guard in fin_split(f, list(t.sends)):
                    ups, sent = effects(ep, [t], t.source, None, rcvd_fin)
                    for tag, room, push in out_ch.puts(sent):
                        emit(
                            f"{ep}:{t.id}:{''.join(str(int(v)) for v in hist.values())}f{int(rcvd_fin)}:{tag}",
                            gcl.conj(*base, *hist_guard, *fin_guard, room),
                            ups + push,
                            action(ep, kind, [t], "", sent),
                        )
            remember(call_key, start)

        # Retransmission (RFC 9293 §3.8.1, §3.10.8) of what this endpoint
        # sent and is still unacknowledged, front of the queue first (the
        # SYN before the FIN); its ACK field is today's: a SYN goes out as
        # SYN,ACK once the peer's SYN has been received. Only when no copy is
        # in flight: the copy that matters is the one sent after the loss,
        # and extra copies are what ``duplicate`` models.
        if retransmitting:
            for slot, flag in (("rtx_syn", "SYN"), ("rtx_fin", "FIN")):
                segs = [r.segment for r in spec.retransmits if flag in spec.segments[r.segment].flags]
                for seg in segs:
                    variant: list[gcl.Expr] = []
                    if flag == "SYN" and len(segs) > 1:
                        variant = [gcl.eq(f["rcvd_syn"], int("ACK" in spec.segments[seg].flags))]
                    if flag == "FIN":
                        variant = [gcl.eq(f["rtx_syn"], 0)]
                    for rcvd_fin, fin_guard in fin_split(f, [seg]):
                        wire = wire_for(spec.segments[seg], rcvd_fin, alphabet)
                        for tag, room, push in out_ch.puts([wire]):
                            emit(
                                f"{ep}:retransmit:{seg}:f{int(rcvd_fin)}:{tag}",
                                gcl.conj(gcl.eq(f[slot], 1), *variant, *fin_guard, out_ch.absent(wire), room),
                                sending_effects(spec, endpoints[ep], [seg], rcvd_fin, keeps) + push,
                                gcl.Action(ep, "retransmit", "", "", (wire,)),
                            )

        # Receiving: one command per state, segment, history and position.
        for state in spec.state_names:
            # what dispatch reads: the transitions from the state, and (a FIN
            # after the ACK) from where those lead
            near = {state} | {t.target for t in enabled if t.source == state}
            if cached(rcv_key := ("rcv", ep, state, tuple(t for t in enabled if t.source in near))):
                continue
            start = len(commands)
            for wname, w in alphabet.items():
                outcomes = [(h, dispatcher.dispatch(state, w, h)) for h in _valuations(guard_vars)]
                if all(_same(outcomes[0][1], chains) for _, chains in outcomes):
                    outcomes = [({}, outcomes[0][1])]
                for hist, chains in outcomes:
                    hist_guard = [gcl.eq(f[h], int(v)) for h, v in hist.items()]
                    hist_tag = "".join(str(int(v)) for v in hist.values())
                    for tag, at, popped in in_ch.takes(wname, opts.reorder):
                        here: list[gcl.Expr] = [gcl.eq(f["state"], st_index[state]), at, *hist_guard]
                        if not chains:
                            ups, _ = effects(ep, [], state, w, False)
                            emit(
                                f"{ep}:ignore:{state}:{wname}:{hist_tag}:{tag}",
                                gcl.conj(*here),
                                popped + ups,
                                gcl.Action(ep, "ignore", "", wname),
                            )
                            continue
                        for ci, chain in enumerate(chains):
                            for rcvd_fin, fin_guard in fin_split(f, [s for t in chain for s in t.sends]):
                                ups, sent = effects(ep, chain, state, w, rcvd_fin)
                                for ptag, room, push in out_ch.puts(sent):
                                    emit(
                                        f"{ep}:rcv:{state}:{wname}:{hist_tag}c{ci}f{int(rcvd_fin)}:{tag}:{ptag}",
                                        gcl.conj(*here, *fin_guard, room),
                                        popped + ups + push,
                                        action(ep, "rcv", chain, wname, sent),
                                    )
            remember(rcv_key, start)

    # The network: loss and duplication.
    for ch, chan in chans.items():
        for wname in wires:
            for tag, at, popped in chan.takes(wname, True):
                if opts.loss:
                    emit(f"net:lose:{ch}:{wname}:{tag}", at, popped, gcl.Action("net", "lose", "", wname, (), (), ch))
                # FIFO duplication copies the head only: enough, since copies
                # of later segments arise once they reach the head.
                if opts.duplicate and tag in ("p0", "any"):
                    for ptag, room, push in chan.puts([wname]):
                        emit(
                            f"net:duplicate:{ch}:{wname}:{ptag}",
                            gcl.conj(at, room),
                            push,
                            gcl.Action("net", "duplicate", "", wname, (), (), ch),
                        )

    system = gcl.System(
        vars=tuple(vars_),
        init=tuple(init),
        commands=tuple(commands),
        endpoints=endpoints,
        channels={ch: c.vars for ch, c in chans.items()},
        options=opts.as_dict(spec),
        views={ch: c for ch, c in chans.items()},
        vocabulary=Vocabulary(
            alphabet, spec.state_names, tuple(spec.signals), tuple(e for e in spec.events)
        ),
    )
    return add_monitors(system, properties) if properties else system


def _valuations(names: list[str]) -> list[dict[str, bool]]:
    return [dict(zip(names, bits, strict=True)) for bits in itertools.product((False, True), repeat=len(names))]


def _same(a: list[list[Transition]], b: list[list[Transition]]) -> bool:
    return [[t.index for t in c] for c in a] == [[t.index for t in c] for c in b]
