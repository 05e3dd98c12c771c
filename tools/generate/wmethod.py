"""Complete suites for up to m extra implementation states: W and Wp methods.

The machine tested is the endpoint machine as the tester drives it, a
Mealy machine: a node per reachable (state, drive context) pair (the
context says what the application holds, so that every sequence the
machine defines can be driven), inputs what the tester does (a socket
call, an injected segment, a timer), and the output of a step what the
tester observes: the segments the stack sends and the state it is in
afterwards. An edge that ends a scenario leads to a sink.

* W method (Chow 1978): P . Sigma^<=m . W, with P the transition cover and
  W a characterisation set.
* Wp method (Fujiwara et al. 1991): Q . Sigma^<=m . W for the state cover
  Q, then (P \\ Q) . Sigma^<=m ending in node s followed by W_s only (the
  sequences of W that tell s from the others).

Either suite finds every implementation with at most n + m states (n the
machine's) that differs from the machine on the inputs the machine
defines (checked against mutant machines in tests/generator).
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tcpcheck.model.errors import InputError
from tcpcheck.tools.generate.drivable import Context, DriveModel
from tcpcheck.tools.generate.paths import Explorer, Hop, scenario_of, slug
from tcpcheck.tools.generate.suite import Suite
from tcpcheck.tools.scenario import Scenario

Output = tuple[tuple[str, ...], str]  # segments sent, state observed after


@dataclass
class Mealy:
    """A deterministic, possibly partial Mealy machine with state labels."""

    initial: Hashable
    label: dict[Hashable, str]  # the state an observer sees in each node
    delta: dict[tuple[Hashable, str], tuple[Output, Hashable]] = field(default_factory=dict)
    edge_of: dict[tuple[Hashable, str], str] = field(default_factory=dict)  # -> spec transition id
    hop_of: dict[tuple[Hashable, str], Any] = field(default_factory=dict)  # -> the drivable hop

    @property
    def states(self) -> list[Hashable]:
        """Every node, initial first, then in a stable order."""
        rest = sorted((s for s in self.label if s != self.initial), key=repr)
        return [self.initial, *rest]

    def inputs(self, s: Hashable) -> list[str]:
        """The inputs defined in ``s``, sorted."""
        return sorted(i for (q, i) in self.delta if q == s)

    def run(self, seq: Sequence[str], start: Hashable | None = None) -> list[Output | None]:
        """Outputs of ``seq`` from ``start``; None once an input is undefined."""
        s = self.initial if start is None else start
        out: list[Output | None] = []
        for i in seq:
            if (s, i) not in self.delta:
                return out + [None] * (len(seq) - len(out))
            o, s = self.delta[(s, i)]
            out.append(o)
        return out

    def defined_prefix(self, seq: Sequence[str], start: Hashable | None = None) -> tuple[str, ...]:
        """The longest prefix of ``seq`` the machine can take."""
        s = self.initial if start is None else start
        for n, i in enumerate(seq):
            if (s, i) not in self.delta:
                return tuple(seq[:n])
            s = self.delta[(s, i)][1]
        return tuple(seq)

    def after(self, seq: Sequence[str]) -> Hashable:
        """The node reached by ``seq`` (which must be defined)."""
        s = self.initial
        for i in seq:
            s = self.delta[(s, i)][1]
        return s


def node_name(n: tuple[str, Context]) -> str:
    """A readable, stable name for a product node: ``FIN_WAIT_1/conn``,
    ``SYN_RCVD/listener+passive``."""
    state, ctx = n
    extra = "+".join(sorted(ctx.history))
    return f"{state}/{ctx.fd}" + ("+listening" if ctx.listener else "") + (f"+{extra}" if extra else "")


def input_name(hop: Hop) -> str:
    """The input the tester applies to take ``hop``: its first step
    (``call close``, ``inject FIN``, ``elapse timeout_syn``)."""
    return hop.realised.steps[0].text()


def machine(model: DriveModel, ex: Explorer) -> Mealy:
    """The endpoint machine as the tester drives it (see the module docstring).

    Nodes are the reachable (state, drive context) pairs, so every input
    sequence the machine defines is drivable; inputs are what the tester
    does (a socket call, an injected segment, a timer).
    """
    initial = node_name(ex.start)
    m = Mealy(initial, {initial: ex.start[0]})
    for hop in ex.hops():
        src = node_name(hop.src)
        dst = f"END:{hop.dst[0]}" if ex.ends_walk(hop) else node_name(hop.dst)
        out: Output = (tuple(hop.edge.expects), hop.dst[0])
        key = (src, input_name(hop))
        if key in m.delta and (m.delta[key] != (out, dst) or m.edge_of[key] != hop.id):
            raise InputError(
                model.spec.path,
                f"the W and Wp methods need a deterministic machine, but {key[1]!r} in {src} takes both "
                f"{m.edge_of[key]} and {hop.id}; turn the option that adds one off (e.g. --profile linux)",
            )
        m.delta[key] = (out, dst)
        m.edge_of[key] = hop.id
        m.hop_of[key] = hop
        m.label.setdefault(src, hop.src[0])
        m.label.setdefault(dst, hop.dst[0])
    return m


def access_sequences(m: Mealy) -> dict[Hashable, tuple[str, ...]]:
    """A shortest input sequence reaching each node (the state cover)."""
    acc: dict[Hashable, tuple[str, ...]] = {m.initial: ()}
    todo = deque([m.initial])
    while todo:
        s = todo.popleft()
        for i in m.inputs(s):
            _, t = m.delta[(s, i)]
            if t not in acc:
                acc[t] = (*acc[s], i)
                todo.append(t)
    return acc


def separating_sequence(m: Mealy, s: Hashable, t: Hashable) -> tuple[str, ...] | None:
    """A shortest input sequence on which ``s`` and ``t`` give different
    observations (the empty one when their labels differ), or None."""
    if m.label[s] != m.label[t]:
        return ()
    seen = {(s, t)}
    todo: deque[tuple[Hashable, Hashable, tuple[str, ...]]] = deque([(s, t, ())])
    while todo:
        a, b, seq = todo.popleft()
        ia, ib = set(m.inputs(a)), set(m.inputs(b))
        if ia != ib:
            # One defines an input the other does not: applying it tells them apart.
            return (*seq, sorted(ia ^ ib)[0])
        for i in sorted(ia):
            (oa, na), (ob, nb) = m.delta[(a, i)], m.delta[(b, i)]
            if oa != ob:
                return (*seq, i)
            if (na, nb) not in seen:
                seen.add((na, nb))
                todo.append((na, nb, (*seq, i)))
    return None


def characterisation(m: Mealy) -> tuple[tuple[tuple[str, ...], ...], dict[Hashable, set[tuple[str, ...]]]]:
    """W (the union of pairwise separating sequences) and, per node, W_s."""
    per: dict[Hashable, set[tuple[str, ...]]] = {s: set() for s in m.states}
    # A sink (the scenario has ended) takes no input: nothing to identify.
    live = [s for s in m.states if m.inputs(s) or s == m.initial]
    for s, t in itertools.combinations(live, 2):
        seq = separating_sequence(m, s, t)
        if seq is None:
            continue  # equivalent nodes: nothing to tell apart
        per[s].add(seq)
        per[t].add(seq)
    union: set[tuple[str, ...]] = set()
    for seqs in per.values():
        union |= seqs
    w: list[tuple[str, ...]] = sorted(union, key=lambda q: (len(q), q))
    return tuple(w), per


def _middles(m: Mealy, start: Hashable, extra: int) -> list[tuple[str, ...]]:
    """Every defined input sequence of length <= ``extra`` from ``start``."""
    out: list[tuple[str, ...]] = [()]
    frontier: list[tuple[tuple[str, ...], Hashable]] = [((), start)]
    for _ in range(extra):
        nxt = []
        for seq, s in frontier:
            for i in m.inputs(s):
                t = m.delta[(s, i)][1]
                nxt.append(((*seq, i), t))
                out.append((*seq, i))
        frontier = nxt
    return out


def suite_sequences(m: Mealy, extra_states: int, partial: bool) -> list[tuple[str, ...]]:
    """The W (``partial=False``) or Wp suite as input sequences, each cut
    where the model leaves an input undefined; no sequence is a prefix of
    another (observing every step makes a prefix redundant)."""
    acc = access_sequences(m)
    w, per = characterisation(m)
    cover = {acc[s] for s in acc}
    transitions = {(*acc[s], i) for s in acc for i in m.inputs(s)}
    raw: set[tuple[str, ...]] = set()

    for p in sorted(cover | transitions):
        for mid in _middles(m, m.after(p), extra_states):
            end = m.after((*p, *mid))
            # W: every sequence of W after every prefix. Wp: the state cover
            # gets W (it identifies the states); the other prefixes only
            # W_end, which confirms the state they should have reached.
            tails: list[tuple[str, ...]] = list(w) if not partial or p in cover else sorted(per.get(end, set()))
            for tail in tails or [()]:
                raw.add(m.defined_prefix((*p, *mid, *tail)))
    return _maximal(raw)


def _maximal(seqs: set[tuple[str, ...]]) -> list[tuple[str, ...]]:
    ordered = sorted(seqs, key=lambda q: (-len(q), q))
    kept: list[tuple[str, ...]] = []
    prefixes: set[tuple[str, ...]] = set()
    for q in ordered:
        if q in prefixes:
            continue
        kept.append(q)
        prefixes.update(q[:n] for n in range(len(q) + 1))
    return sorted(kept)


def realise(m: Mealy, seq: Sequence[str]) -> list[Hop]:
    """The walk that takes ``seq`` (defined in ``m``, hence drivable)."""
    walk = []
    node = m.initial
    for i in seq:
        walk.append(m.hop_of[(node, i)])
        node = m.delta[(node, i)][1]
    return walk


def w_suite(model: DriveModel, explorer: Explorer | None = None, extra_states: int = 0,
            partial: bool = False) -> Suite:
    """The W (or Wp) suite for ``extra_states`` extra implementation states."""
    if extra_states < 0:
        raise InputError("--extra-states", f"must be 0 or more, not {extra_states}")
    ex = explorer or Explorer(model)
    m = machine(model, ex)
    seqs = suite_sequences(m, extra_states, partial)
    name = "wp" if partial else "w"
    scenarios: list[Scenario] = []
    not_drivable: dict[str, str] = dict(ex.not_drivable())
    covered: list[str] = []
    goals: list[str] = []
    for seq in seqs:
        gid = " ".join(seq) or "(empty)"
        goals.append(gid)
        walk = realise(m, seq)
        covered.append(gid)
        n = len(scenarios) + 1
        last = walk[-1].dst[0] if walk else model.spec.initial
        scenarios.append(scenario_of(model, f"{name}{n:03d}_{slug(last)}", walk, f"events: {gid}"))
    w, _ = characterisation(m)
    extra = {"extra_states": extra_states, "machine_states": len(m.states),
             "characterisation_set": [" ".join(q) or "(empty)" for q in w]}
    return Suite(name, model.profile_name, tuple(scenarios), tuple(goals), tuple(covered), not_drivable,
                 dict(model.disabled), (), extra)
