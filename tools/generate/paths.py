"""Scenario construction: walks of the model from CLOSED, realised as steps.

Every scenario starts from the initial state (CLOSED) on a fresh 4-tuple;
the tester plays the peer; each edge is taken by its trigger, followed by
the segments the stack must send and an ``expect_state`` of the target.

The walks live in the *product* of the model's states and the drive
context (``drivable.Context``: guard history, what the application holds),
so that every walk the generator emits can be taken through the sockets
API. ``Explorer`` builds that product once and answers shortest-walk
questions on it (fewest steps, ties broken by spec order: deterministic).
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from tcpcheck.tools.generate.drivable import Context, DriveModel, Edge, Realised
from tcpcheck.tools.scenario import Scenario, Step

Node = tuple[str, Context]


@dataclass(frozen=True)
class Hop:
    """One edge taken in one context."""

    src: Node
    edge: Edge
    realised: Realised
    dst: Node

    @property
    def cost(self) -> int:
        """Steps this hop adds to a scenario."""
        return len(self.realised.steps)

    @property
    def id(self) -> str:
        """The spec transition id."""
        return self.edge.id


class Explorer:
    """The reachable product of states and drive contexts."""

    def __init__(self, model: DriveModel) -> None:
        self.model = model
        self.start: Node = (model.spec.initial, model.initial_context())
        self.succ: dict[Node, list[Hop]] = {}
        self.reasons: dict[str, list[str]] = {}
        self._explore()
        self.dist, self.back = self._dijkstra()

    def _explore(self) -> None:
        todo = [self.start]
        seen = {self.start}
        while todo:
            node = todo.pop(0)
            state, ctx = node
            hops: list[Hop] = []
            for edge in self.model.out_edges(state):
                ways, why = self.model.realise(edge, ctx)
                if not ways:
                    self.reasons.setdefault(edge.id, [])
                    if why and why not in self.reasons[edge.id]:
                        self.reasons[edge.id].append(why)
                for r in ways:
                    dst = (edge.transition.target, r.after)
                    hops.append(Hop(node, edge, r, dst))
                    # A walk ends at CLOSED or after a terminal edge: the
                    # next test starts afresh, so nothing beyond is explored.
                    if not self.ends_walk(hops[-1]) and dst not in seen:
                        seen.add(dst)
                        todo.append(dst)
            self.succ[node] = hops

    def ends_walk(self, hop: Hop) -> bool:
        """After ``hop`` the scenario must end (back in CLOSED, or terminal)."""
        return hop.realised.terminal or hop.dst[0] == self.model.spec.initial

    def _dijkstra(self) -> tuple[dict[Node, int], dict[Node, Hop | None]]:
        dist: dict[Node, int] = {self.start: 0}
        back: dict[Node, Hop | None] = {self.start: None}
        order = itertools.count()
        heap: list[tuple[int, int, Node]] = [(0, next(order), self.start)]
        done: set[Node] = set()
        while heap:
            d, _, node = heapq.heappop(heap)
            if node in done:
                continue
            done.add(node)
            for hop in self.succ.get(node, []):
                if self.ends_walk(hop):
                    continue
                nd = d + hop.cost
                if hop.dst not in dist or nd < dist[hop.dst]:
                    dist[hop.dst] = nd
                    back[hop.dst] = hop
                    heapq.heappush(heap, (nd, next(order), hop.dst))
        return dist, back

    def hops(self) -> Iterable[Hop]:
        """Every hop from a reachable node, in exploration order."""
        for node in self.dist:
            yield from self.succ.get(node, [])

    def prefix(self, node: Node) -> list[Hop]:
        """The shortest walk from the start to ``node``."""
        out: list[Hop] = []
        hop = self.back[node]
        while hop is not None:
            out.append(hop)
            hop = self.back[hop.src]
        out.reverse()
        return out

    def drivable_ids(self) -> set[str]:
        """Transitions some reachable context can take."""
        return {h.id for h in self.hops()}

    def not_drivable(self) -> dict[str, str]:
        """Every enabled transition no walk can take, with the reasons
        (profile entries first, then what the contexts said)."""
        out = dict(self.model.not_drivable)
        reachable = self.drivable_ids()
        for e in self.model.edges:
            if e.id not in reachable:
                why = self.reasons.get(e.id) or ["its source state is not reachable by a drivable walk"]
                out[e.id] = "; ".join(why)
        return dict(sorted(out.items(), key=lambda kv: self._index(kv[0])))

    def _index(self, tid: str) -> int:
        return next((t.index for t in self.model.spec.transitions if t.id == tid), 10**6)


def scenario_of(model: DriveModel, name: str, walk: Sequence[Hop], description: str = "") -> Scenario:
    """The scenario that takes ``walk`` from a fresh CLOSED connection."""
    steps: list[Step] = []
    sysctls: dict[str, str] = {}
    ids: list[str] = []
    for hop in walk:
        steps.extend(hop.realised.steps)
        sysctls.update(hop.edge.sysctls)
        if hop.id not in ids:
            ids.append(hop.id)
    by_id = {t.id: t for t in model.spec.transitions}
    rfc = tuple(dict.fromkeys(by_id[t].rfc for t in ids))
    return Scenario(
        name=name,
        steps=tuple(steps),
        transitions=tuple(ids),
        rfc=rfc,
        description=description,
        sysctls=dict(sorted(sysctls.items())),
        slow=any(h.edge.slow for h in walk),
        walk=tuple(h.id for h in walk),
    )


def walk_states(walk: Sequence[Hop]) -> list[str]:
    """The states a walk visits, the start included."""
    if not walk:
        return []
    return [walk[0].src[0], *(h.dst[0] for h in walk)]


def slug(text: str) -> str:
    """A Python-identifier-safe, readable name part."""
    out = []
    for ch in text.lower():
        out.append(ch if ch.isalnum() else "_")
    s = "".join(out)
    while "__" in s:
        s = s.replace("__", "_")
    return s.strip("_")


def transition_slug(tid: str) -> str:
    """``ESTABLISHED--close-->FIN_WAIT_1`` -> ``established_close_fin_wait_1``."""
    return slug(tid.replace("[not self.", "[not_").replace("[self.", "["))
