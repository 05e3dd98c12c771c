"""Both endpoints of one connection, run as the spec's machine by a passive
observer of its segments.

A segment seen going from X to Y is X's send when it is seen; Y receives it
later, at the latest before Y sends a segment whose acknowledgment covers
it. So segments wait in an in-flight queue per direction, and before Y's
next send the shortest prefix of its queue that explains that send (and
that holds every segment the send acknowledges) is delivered to Y. This is
what lets crossing FINs (simultaneous close) or a FIN,ACK that carries a
delayed ACK be explained.

Each endpoint is a set of possible configurations (state, passive open,
opened, segments it still owes, an inferred FIN position), each with the
cheapest path that explains it: steps nobody saw (a user call that sends
nothing, a timer, a segment missing from the capture) cost one. A send
that no configuration explains is flagged with the RFC section that
governs the states it could have been in. What is known about TCP comes
from the spec (transitions, segments, retransmissions, which states may
send data) and the chosen profile (options, documented deviations).
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from tcpcheck.model.compose import Wire, _Dispatch, wire_alphabet
from tcpcheck.model.expr import HISTORY_VARS
from tcpcheck.model.spec import Spec, Transition
from tcpcheck.tools.check.capture import ACK, FIN, RST, SYN, Segment
from tcpcheck.tools.runner.profile import Profile

MASK32 = 0xFFFFFFFF
CONTROL = (("SYN", SYN), ("ACK", ACK), ("FIN", FIN), ("RST", RST))
ENDPOINTS = ("A", "B")


def seq_geq(a: int, b: int) -> bool:
    """``a`` is at or after ``b`` in 32-bit sequence space (RFC 9293 §3.4)."""
    return (a - b) & MASK32 < 0x80000000


class Config(NamedTuple):
    """One possible situation of an endpoint."""

    state: str
    passive: bool  # reached SYN_RCVD through LISTEN (RFC 9293 Figure 5 Note 1)
    opened: bool  # has left the initial state (the model runs one connection per endpoint)
    owed: tuple[str, ...]  # control segments its transitions send that are not seen yet
    fin_at: int | None  # sequence number of a FIN of its the capture lost (inferred)


@dataclass(frozen=True)
class Step:
    """One step of an endpoint's inferred path."""

    packet: int | None  # the packet that shows it; None: inferred, nobody saw it
    text: str
    source: str
    target: str
    transitions: tuple[str, ...] = ()
    deviation: str = ""

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        out: dict[str, Any] = {"packet": self.packet, "from": self.source, "to": self.target, "what": self.text}
        if self.transitions:
            out["transitions"] = list(self.transitions)
        if self.deviation:
            out["deviation"] = self.deviation
        return out


class _Path(NamedTuple):
    cost: int  # unseen steps and deviations: the cheapest explanation wins
    steps: tuple[tuple[int | None, Step], ...]  # (packet that shows it, the step without its packet)


# Templates of steps a rule produces: (shown by the packet at hand?, step).
_Templates = tuple[tuple[bool, Step], ...]
# Explanations keep only the configurations this close to the cheapest.
PRUNE = 3


@dataclass
class Flag:
    """The first segment the spec cannot explain."""

    packet: int
    sender: str
    segment: str
    states: tuple[str, ...]
    allowed: tuple[str, ...]
    rfc: tuple[str, ...]
    message: str
    less_likely: tuple[str, ...] = ()  # states only dearer explanations reach

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return dict(self.__dict__)


@dataclass
class _Side:
    """What the capture shows of one endpoint (numbers, not states)."""

    address: str
    port: int
    iss: int | None = None
    fin_seq: int | None = None
    nxt: int | None = None  # the highest sequence number seen sent, plus its length
    sent: int = 0
    configs: dict[Config, _Path] = field(default_factory=dict)
    inflight: deque[tuple[Segment, int]] = field(default_factory=deque)  # segments towards this side, with end


class Observer:
    """Checks one connection, segment by segment (``feed``), then ``finish``."""

    def __init__(self, rules: Rules, a: tuple[str, int], b: tuple[str, int], opens: bool) -> None:
        spec = self.spec = rules.spec
        self.rules = rules
        self.sides = {"A": _Side(*a), "B": _Side(*b)}
        self.notes: list[str] = []
        self.flag: Flag | None = None
        self.packets = 0
        self.first = self.last = 0
        self.start = "handshake" if opens else "mid-connection"
        if opens:
            initial = Config(spec.initial, False, False, (), None)
            for side in self.sides.values():
                side.configs = {initial: _Path(0, ())}
        else:
            # The capture began after the connection did: any state is possible.
            unknown = {Config(s, p, s != spec.initial, (), None): _Path(0, ())
                       for s in spec.state_names for p in (False, True)}
            for side in self.sides.values():
                side.configs = dict(unknown)
            self.notes.append("the capture starts mid-connection: the states before its first segment are unknown,"
                              " and each endpoint's is inferred from what it sends and acknowledges")
        self._assumed_isn: set[str] = set()

    # -- one segment -------------------------------------------------------------

    def feed(self, seg: Segment, sender: str) -> None:
        """Take the segment ``seg`` sent by endpoint ``sender`` ("A" or "B")."""
        self.packets += 1
        self.first = self.first or seg.number
        self.last = seg.number
        if self.flag is not None:
            return
        me = self.sides[sender]
        peer = self.sides["B" if sender == "A" else "A"]
        flags = seg.flags
        end = (seg.seq + seg.length + (1 if flags & SYN else 0) + (1 if flags & FIN else 0)) & MASK32
        if flags & ACK and peer.nxt is not None and not seq_geq(peer.nxt, seg.ack):
            self._gap(sender, me, peer, seg)
        consumes = seg.length + (flags & (SYN | FIN)) > 0
        retransmitted = me.nxt is not None and consumes and seq_geq(me.nxt, end)
        if self.start == "mid-connection" and me.sent == 0 and consumes:
            retransmitted = True  # its first copy may be older than the capture
        new_data = seg.length > 0 and (me.nxt is None or not seq_geq(me.nxt, (seg.seq + seg.length) & MASK32))
        if flags & SYN and me.iss is None:
            me.iss = seg.seq
        if flags & FIN and me.fin_seq is None:
            me.fin_seq = (seg.seq + seg.length) & MASK32
        name = _control_name(flags)
        explained = self._send(sender, me, peer, seg, name, new_data, retransmitted)
        if not explained:
            self._flag(sender, me, seg, name, new_data)
            return
        me.configs = explained
        me.sent += 1
        if me.nxt is None or seq_geq(end, me.nxt):
            me.nxt = end
        peer.inflight.append((seg, end))

    def _send(self, sender: str, me: _Side, peer: _Side, seg: Segment, name: str, new_data: bool,
              retransmitted: bool) -> dict[Config, _Path]:
        """The configurations that explain ``me`` sending ``seg``, after the
        shortest prefix of what is in flight towards ``me`` is delivered."""
        queue = me.inflight
        must = 0  # segments the send acknowledges: delivered for sure
        if seg.flags & ACK:
            for i, (item, item_end) in enumerate(queue):
                if _consumes(item) and seq_geq(seg.ack, item_end):
                    must = i + 1
        # Segments that take no sequence space (ACKs, RSTs) just after those
        # are taken as delivered too when that explains the send: what the
        # capture shows first, arrived first, unless it cannot have.
        eager = must
        while eager < len(queue) and not _consumes(queue[eager][0]):
            eager += 1
        if eager > must:
            configs = me.configs
            for item, _ in list(queue)[:eager]:
                configs = self._receive(configs, item, me, peer)
            explained = self._explain(configs, seg, name, new_data, retransmitted, me)
            if explained:
                for _ in range(eager):
                    queue.popleft()
                return explained
        for skip in (None, *range(min(len(queue), 32))):
            # Every prefix of the queue; then the same with one segment lost
            # after the capture point (it never reached ``me``).
            configs = me.configs
            for k in range(len(queue) + 1):
                if k >= must or (skip is not None and k == must - 1 == skip):
                    explained = self._explain(configs, seg, name, new_data, retransmitted, me)
                    if explained and (skip is None or skip < k):
                        if skip is not None:
                            lost = queue[skip][0]
                            self.notes.append(f"packet {lost.number} is taken as lost before it reached"
                                              f" {_ep(me)}: only then does packet {seg.number} fit the spec")
                            explained = {c: p._replace(cost=p.cost + 1) for c, p in explained.items()}
                        for _ in range(k):
                            queue.popleft()
                        return explained
                if k < len(queue) and k != skip:
                    configs = self._receive(configs, queue[k][0], me, peer)
        return {}

    def _receive(self, configs: dict[Config, _Path], seg: Segment, me: _Side, peer: _Side) -> dict[Config, _Path]:
        if len(configs) == 1:  # the common case (data and ACKs in ESTABLISHED): often nothing changes
            config = next(iter(configs))
            found = self.rules.receive(config, self._wire(seg, me, peer, config))
            if len(found) == 1 and found[0][0] == config and not found[0][1] and not found[0][2]:
                return configs
        out: dict[Config, _Path] = {}
        for config, path in configs.items():
            wire = self._wire(seg, me, peer, config)
            for new, step_cost, steps in self.rules.receive(config, wire):
                _keep(out, new, path, step_cost, steps, seg.number)
        return _pruned(out)

    def _wire(self, seg: Segment, receiver: _Side, sender: _Side, config: Config) -> Wire:
        flags = seg.flags
        # The RST that answers a segment without ACK carries SEQ=0 (RFC 9293
        # §3.10.7.1), outside a synchronized receiver's window unless the
        # sender's own numbers are near zero (then it is taken as in window).
        seq_zero = False
        if flags & RST and seg.seq == 0 and sender.iss is not None:
            top = ((sender.nxt if sender.nxt is not None else sender.iss) + 1) & MASK32
            seq_zero = not (seq_geq(0, sender.iss) and seq_geq(top, 0))
        acks_syn = acks_fin = False
        if flags & ACK:
            if receiver.iss is not None:
                acks_syn = seq_geq(seg.ack, (receiver.iss + 1) & MASK32)
            else:
                acks_syn = True
                if receiver.address not in self._assumed_isn:
                    self._assumed_isn.add(receiver.address)
                    self.notes.append(f"{_ep(receiver)} never sent a SYN in the capture: its SYN is taken as"
                                      " acknowledged by every ACK")
            fin = receiver.fin_seq if receiver.fin_seq is not None else config.fin_at
            acks_fin = fin is not None and seq_geq(seg.ack, (fin + 1) & MASK32)
        return self.rules.wire(flags, acks_syn, acks_fin, seq_zero)

    def _explain(self, configs: dict[Config, _Path], seg: Segment, name: str, new_data: bool, retransmitted: bool,
                 me: _Side) -> dict[Config, _Path]:
        control_seq = seg.seq if seg.flags & SYN else (seg.seq + seg.length) & MASK32
        if len(configs) == 1:
            config = next(iter(configs))
            found = self.rules.send(config, name, new_data, retransmitted or (
                seg.flags & FIN > 0 and config.fin_at == control_seq))
            if len(found) == 1 and found[0][0] == config and not found[0][1] and not found[0][2]:
                return configs
        out: dict[Config, _Path] = {}
        for config, path in configs.items():
            is_retransmission = retransmitted or (seg.flags & FIN > 0 and config.fin_at == control_seq)
            for new, step_cost, steps in self.rules.send(config, name, new_data, is_retransmission):
                _keep(out, new, path, step_cost, steps, seg.number)
        return _pruned(out) if out else out

    def _gap(self, sender: str, me: _Side, peer: _Side, seg: Segment) -> None:
        """``me`` acknowledges more of ``peer`` than the capture shows
        ``peer`` sending: segments are missing from the capture. They may
        have carried a FIN: keep that possibility, marked inferred."""
        assert peer.nxt is not None
        missing = (seg.ack - peer.nxt) & MASK32
        self.notes.append(f"packet {seg.number}: {_ep(me)} acknowledges {missing} sequence number(s) of {_ep(peer)}"
                          " that the capture does not show: segments are missing (data, or a FIN: cannot tell)")
        if peer.fin_seq is None:
            # Missing data costs one unseen step at each end, as a missing FIN does.
            fin_at = (seg.ack - 1) & MASK32
            widened = {c: p._replace(cost=p.cost + 1) for c, p in peer.configs.items()}
            for config, path in peer.configs.items():
                for new, cost, steps in self.rules.unseen_fin(config, fin_at):
                    _keep(widened, new, path, cost, steps, None)
            peer.configs = widened
            wire = self.rules.wire(FIN | ACK, True, False)
            heard = {c: p._replace(cost=p.cost + 1) for c, p in me.configs.items()}
            for config, path in me.configs.items():
                for new, cost, steps in self.rules.receive(config, wire):
                    _keep(heard, new, path, cost + 1, steps, None)
            me.configs = heard
        peer.nxt = seg.ack

    def _flag(self, sender: str, me: _Side, seg: Segment, name: str, new_data: bool) -> None:
        low = min((p.cost for p in me.configs.values()), default=0)
        order = self.spec.state_names.index
        states = tuple(sorted({c.state for c, p in me.configs.items() if p.cost == low}, key=order))
        others = tuple(sorted({c.state for c in me.configs} - set(states), key=order))
        allowed = tuple(sorted({a for c, p in me.configs.items() if p.cost == low for a in self.rules.could_send(c)}))
        rfc = tuple(dict.fromkeys(self.spec.state(s).arrival for s in states if self.spec.state(s).arrival))
        what = name + (" with new data" if new_data else "")
        owed = sorted({o for c in me.configs for o in c.owed})
        message = (f"{_ep(me)} ({sender}) sent {what}, which no transition of the spec sends from "
                   + " or ".join(states) + (f" (nor from {', '.join(others)}, less likely)" if others else "")
                   + ("" if not allowed else f"; the spec allows: {', '.join(allowed)}")
                   + (f"; it owed {', '.join(owed)}" if owed else ""))
        if new_data and not any(self.spec.state(s).sends_data for s in states):
            message += "; new data may be sent only in " + ", ".join(
                s.name for s in self.spec.states if s.sends_data) + " (RFC 9293 §3.10.2)"
        self.flag = Flag(seg.number, sender, what, states, allowed, rfc, message, others)

    # -- the end -----------------------------------------------------------------

    def finish(self) -> None:
        """Deliver what is still in flight (assumed received) and note what
        the capture leaves open."""
        if self.flag is not None:
            return
        for name, side in self.sides.items():
            if not side.inflight:
                continue
            peer = self.sides["B" if name == "A" else "A"]
            before = {c.state for c in side.configs}
            configs = side.configs
            for seg, _ in side.inflight:
                configs = self._receive(configs, seg, side, peer)
            side.inflight.clear()
            side.configs = configs
            after = {c.state for c in configs}
            if after != before:
                self.notes.append(f"no packet from {name} follows its last received segment: it is assumed to have"
                                  f" arrived ({'/'.join(sorted(before))} -> {'/'.join(sorted(after))})")
        for name in self.sides:
            owed = {o for c in self.best(name) for o in c.owed}
            if owed:
                self.notes.append(f"{name} still owes {', '.join(sorted(owed))} at the end of the capture"
                                  " (sent after it, or lost before the capture point)")

    def best(self, name: str) -> list[Config]:
        """The cheapest configurations of endpoint ``name`` (one that still
        owes a segment at the end counts as one unseen step dearer)."""
        configs = self.sides[name].configs
        if not configs:
            return []
        low = min(_final_cost(c, p) for c, p in configs.items())
        return [c for c, p in configs.items() if _final_cost(c, p) == low]

    def path(self, name: str) -> tuple[Step, ...]:
        """The cheapest explanation of endpoint ``name``'s history."""
        configs = self.sides[name].configs
        if not configs:
            return ()
        steps = min(configs.items(), key=lambda cp: (_final_cost(*cp), len(cp[1].steps)))[1].steps
        return tuple(dataclasses.replace(step, packet=packet) for packet, step in steps)


def _final_cost(config: Config, path: _Path) -> int:
    return path.cost + (1 if config.owed else 0)


def _ep(side: _Side) -> str:
    return f"[{side.address}]:{side.port}" if ":" in side.address else f"{side.address}:{side.port}"


def _consumes(seg: Segment) -> bool:
    return seg.length > 0 or seg.flags & (SYN | FIN) > 0


_NAMES: dict[int, str] = {}


def _control_name(flags: int) -> str:
    """``SYN,ACK``: the control flags the spec knows, in a fixed order."""
    flags &= SYN | ACK | FIN | RST
    found = _NAMES.get(flags)
    if found is None:
        found = _NAMES[flags] = ",".join(n for n, bit in CONTROL if flags & bit) or "(no flags)"
    return found


def _keep(out: dict[Config, _Path], config: Config, path: _Path, cost: int, steps: _Templates,
          packet: int | None) -> None:
    new = _Path(path.cost + cost, path.steps + tuple((packet if seen else None, step) for seen, step in steps)
                if steps else path.steps)
    old = out.get(config)
    if old is None or new.cost < old.cost:
        out[config] = new


def _pruned(configs: dict[Config, _Path]) -> dict[Config, _Path]:
    """Drop explanations far dearer than the cheapest, and those that a
    cheaper one with the same state, debts and FIN matches (they differ only
    in how the connection was opened, e.g. an unseen LISTEN before a SEND)."""
    if len(configs) < 2:
        return configs
    low = min(p.cost for p in configs.values()) + PRUNE
    best: dict[tuple[str, tuple[str, ...], int | None], tuple[Config, _Path]] = {}
    for c, p in configs.items():
        if p.cost > low:
            continue
        key = (c.state, c.owed, c.fin_at)
        if key not in best or p.cost < best[key][1].cost:
            best[key] = (c, p)
    return dict(best.values())


def outstanding(spec: Spec, transitions: Iterable[Transition]) -> set[tuple[str, str]]:
    """(state, segment): ``segment`` of the spec's ``[[retransmit]]`` may be
    sent and still unacknowledged in ``state``, so retransmitted there.

    What the composition keeps as a retransmission queue (model/compose.py),
    as states: a queued segment enters with the transition that sends it and
    stays along transitions that neither acknowledge it (an ACK-bearing,
    non-RST segment whose ACK covers it) nor delete the
    connection (an abort, a new connection, a non-synchronized target).
    """
    queued = {r.segment for r in spec.retransmits}
    ts = list(transitions)
    pairs = {(t.target, s) for t in ts for s in t.sends if s in queued}
    todo = list(pairs)
    while todo:
        state, seg = todo.pop()
        bit = "syn" if "SYN" in spec.segments[seg].flags else "fin"
        for t in ts:
            if t.source != state or t.new_connection or t.event == "abort":
                continue
            ev = spec.events[t.event]
            # ACKs are cumulative, and a synchronized peer's every ACK covers our SYN.
            covers = ev.acks == bit or bit == "syn" and (ev.acks == "fin" or spec.state(state).synchronized)
            if ev.kind == "rcv" and "ACK" in ev.flags and "RST" not in ev.flags and covers:
                continue
            if not spec.state(t.target).synchronized and not any("SYN" in spec.segments[x].flags for x in t.sends):
                continue
            if bit == "syn" and "SYN" in ev.flags:
                # its ACK field is today's: a SYN goes out again as SYN,ACK once the peer's SYN is in
                carried = next((q for q in queued if spec.segments[q].flags == spec.segments[seg].flags | {"ACK"}), seg)
            else:
                carried = seg
            if (t.target, carried) not in pairs:
                pairs.add((t.target, carried))
                todo.append((t.target, carried))
    return pairs


class Rules:
    """The spec's machine as the observer needs it, with memoized answers
    (make one per capture with ``rules_for``: every connection shares it)."""

    def __init__(self, spec: Spec, transitions: tuple[Transition, ...], deviations: dict[int, str]) -> None:
        self.spec = spec
        self.deviations = deviations  # variant transition index -> profile deviation id
        self.dispatch = _Dispatch(spec, transitions)
        self.guard_vars = {v: False for v in HISTORY_VARS}
        self.calls = [t for t in transitions if spec.events[t.event].kind != "rcv"]
        self.silent = [t for t in self.calls if not t.sends]
        self.retransmits = outstanding(spec, transitions)
        self.segments = spec.segments
        self.synchronized = {s.name: s.synchronized for s in spec.states}
        self.sends_data = {s.name: s.sends_data for s in spec.states}
        alphabet = wire_alphabet(spec)
        self._names = {(w.flags, w.acks_syn, w.acks_fin): w.name for w in alphabet.values()}
        self._wires: dict[tuple[int, bool, bool, bool], Wire] = {}
        self._receive: dict[tuple[Config, Wire], list[tuple[Config, int, _Templates]]] = {}
        self._send: dict[tuple[Config, str, bool, bool], list[tuple[Config, int, _Templates]]] = {}
        self._closure: dict[Config, list[tuple[Config, tuple[Transition, ...]]]] = {}

    def wire(self, flags: int, acks_syn: bool, acks_fin: bool, seq_zero: bool = False) -> Wire:
        """The model's segment for a captured one (flags, what its ACK covers, SEQ=0 or not)."""
        key = (flags & (SYN | ACK | FIN | RST), acks_syn and flags & ACK > 0, acks_fin and flags & ACK > 0, seq_zero)
        found = self._wires.get(key)
        if found is None:
            names = frozenset(n for n, bit in CONTROL if flags & bit)
            name = self._names.get((names, key[1], key[2])) or _control_name(flags)
            found = self._wires[key] = Wire(name, names, key[1], key[2], seq_zero)
        return found

    # -- unseen steps: user calls and timers that send nothing -------------------

    def closure(self, config: Config) -> list[tuple[Config, tuple[Transition, ...]]]:
        """Where silent calls and timers can take ``config`` (itself first)."""
        found = self._closure.get(config)
        if found is not None:
            return found
        out: list[tuple[Config, tuple[Transition, ...]]] = [(config, ())]
        seen = {config}
        todo = deque(out)
        while todo:
            here, walk = todo.popleft()
            for t in self.silent:
                if t.source != here.state or (here.opened and t.source == self.spec.initial):
                    continue
                new = self._after_call(here, t)
                if new not in seen:
                    seen.add(new)
                    out.append((new, (*walk, t)))
                    todo.append((new, (*walk, t)))
        self._closure[config] = out
        return out

    def _after_call(self, config: Config, t: Transition) -> Config:
        return Config(t.target, config.passive or t.event == "listen",
                      config.opened or t.target != self.spec.initial, config.owed, config.fin_at)

    def _steps(self, walk: Iterable[Transition]) -> _Templates:
        """Unseen calls and timers as step templates."""
        return tuple((False, Step(None, self._text(t), t.source, t.target, (t.id,), self.deviations.get(t.index, "")))
                     for t in walk)

    def _text(self, t: Transition) -> str:
        event = self.spec.events[t.event]
        what = {"call": f"{event.rfc_call or t.event} call", "timer": f"timer {t.event}"}.get(event.kind, "")
        if not what:
            what = f"rcv {t.event}"
        return what + (f", sends {'+'.join(t.sends)}" if t.sends else "")

    # -- receiving ------------------------------------------------------------------

    def receive(self, config: Config, wire: Wire) -> list[tuple[Config, int, _Templates]]:
        """(configuration, cost, steps) after ``config`` receives ``wire``;
        unseen calls and timers may come first."""
        key = (config, wire)
        cached = self._receive.get(key)
        if cached is not None:
            return cached
        cached = []
        for start, walk in self.closure(config):
            history = dict(self.guard_vars, passive=start.passive)
            chains = self.dispatch.dispatch(start.state, wire, history)
            if not chains:
                cached.append((start, len(walk), self._steps(walk)))  # no transition: ignored
                continue
            for chain in chains:
                owed = start.owed + tuple(s for t in chain for s in t.sends if self.segments[s].flags != {"ACK"})
                new = Config(chain[-1].target, start.passive, True, owed, start.fin_at)
                deviation = next((self.deviations[t.index] for t in chain if t.index in self.deviations), "")
                sends = "".join(f", sends {'+'.join(t.sends)}" for t in chain if t.sends)
                text = f"rcv {'+'.join(t.event for t in chain)}{sends}"
                step = Step(None, text, chain[0].source, chain[-1].target, tuple(t.id for t in chain), deviation)
                cached.append((new, len(walk) + (1 if deviation else 0), self._steps(walk) + ((True, step),)))
        self._receive[key] = cached
        return cached

    # -- sending ----------------------------------------------------------------------

    def send(self, config: Config, name: str, new_data: bool, retransmission: bool) -> list[tuple[Config, int,
                                                                                                   _Templates]]:
        """(configuration, cost, steps) that explain ``config`` sending a
        segment with control flags ``name``."""
        key = (config, name, new_data, retransmission)
        cached = self._send.get(key)
        if cached is None:
            cached = self._send[key] = self._explain_send(config, name, new_data, retransmission)
        return cached

    def _matches(self, segment: str, name: str) -> bool:
        flags = frozenset(name.split(","))
        seg = self.segments[segment].flags
        # A RST may carry an ACK (RFC 9293 §3.10.7.1 sends <CTL=RST,ACK>; Linux always sets it).
        return seg == flags or (seg == {"RST"} and flags == {"RST", "ACK"})

    def _explain_send(self, config: Config, name: str, new_data: bool,
                      retransmission: bool) -> list[tuple[Config, int, _Templates]]:
        out: list[tuple[Config, int, _Templates]] = []
        if config.owed:
            # A transition's segment is sent before anything else (a pure ACK may ride along).
            if self._matches(config.owed[0], name):
                new = config._replace(owed=config.owed[1:])
                out.append((new, 0, ()))
            return out
        state = config.state
        if name == "ACK" and self.synchronized[state] and (not new_data or self.sends_data[state]):
            out.append((config, 0, ()))
        if retransmission:
            for st, seg in self.retransmits:
                if st == state and self._matches(seg, name):
                    out.append((config, 0, ((True, Step(None, f"retransmits {seg}", state, state)),)))
        if out:
            return out
        for start, walk in self.closure(config):
            for t in self.calls:
                if t.source != start.state or not t.sends or not self._matches(t.sends[0], name):
                    continue
                if start.opened and t.source == self.spec.initial:
                    continue
                if new_data and not (self.sends_data[start.state] or self.sends_data[t.target]):
                    continue  # data goes out before a FIN only where SEND is allowed
                new = self._after_call(start, t)._replace(owed=tuple(
                    s for s in t.sends[1:] if self.segments[s].flags != {"ACK"}))
                deviation = self.deviations.get(t.index, "")
                steps = self._steps(walk) + ((True, Step(None, self._text(t), t.source, t.target, (t.id,), deviation)),)
                out.append((new, len(walk) + (1 if deviation else 0), steps))
        return out

    def unseen_fin(self, config: Config, fin_at: int) -> list[tuple[Config, int, _Templates]]:
        """``config`` sent a FIN the capture does not show (at ``fin_at``)."""
        out = []
        for start, walk in self.closure(config):
            for t in self.calls:
                if t.source == start.state and t.sends and "FIN" in self.segments[t.sends[0]].flags:
                    new = self._after_call(start, t)._replace(fin_at=fin_at)
                    steps = self._steps(walk) + ((False, Step(None, self._text(t) + " (not in the capture)",
                                                              t.source, t.target, (t.id,))),)
                    out.append((new, len(walk) + 1, steps))
        return out

    def could_send(self, config: Config) -> list[str]:
        """What ``config`` could send next, in the spec's segment names."""
        if config.owed:
            return [config.owed[0]]
        out = []
        if self.synchronized[config.state]:
            out.append("ACK" + (" with data" if self.sends_data[config.state] else ""))
        out += [seg for st, seg in self.retransmits if st == config.state]
        for start, _ in self.closure(config):
            out += [t.sends[0] for t in self.calls if t.source == start.state and t.sends
                    and not (start.opened and t.source == self.spec.initial)]
        return sorted(set(out))


def rules_for(spec: Spec, profile: Profile | None) -> Rules:
    """The transitions under the profile's options, plus a variant of each
    transition for each documented deviation that changes what it sends or
    where it goes."""
    options = {**spec.options, **(profile.options if profile else {})}
    transitions = list(spec.enabled(options))
    deviations: dict[int, str] = {}
    if profile is not None:
        by_id = {t.id: t for t in transitions}
        next_index = max(t.index for t in spec.transitions) + 1
        for d in profile.deviations:
            base = by_id.get(d.transition)
            if d.kind != "differs" or base is None:
                continue
            if d.observed.startswith("state "):
                variant = dataclasses.replace(base, target=d.observed.split(" ", 1)[1], index=next_index)
            elif d.observed == "NONE":
                variant = dataclasses.replace(base, sends=(), index=next_index)
            elif d.observed in spec.segments:
                variant = dataclasses.replace(base, sends=(d.observed,), index=next_index)
            else:
                continue
            deviations[next_index] = d.id
            transitions.append(variant)
            next_index += 1
    return Rules(spec, tuple(transitions), deviations)
