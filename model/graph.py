"""The endpoint machine as a networkx MultiDiGraph."""

from __future__ import annotations

import networkx as nx

from tcpcheck.model.spec import Spec


def endpoint_graph(spec: Spec, options: dict[str, bool] | None = None) -> nx.MultiDiGraph:
    """Nodes are the states; one edge per transition enabled under ``options``.

    Node attributes: ``meaning``, ``synchronized``, ``rfc``. Edge key: the
    transition id (``FROM--event-->TO``); edge attributes: ``event``,
    ``kind`` (call, rcv, timer), ``sends`` (tuple of segment names), ``path``
    (client, server, simultaneous, error, implementation), ``rfc``,
    ``when``, ``option``, ``unless``, ``note``, ``index`` (position in the
    spec), ``transition`` (the Transition itself). ``options`` defaults to
    the spec's defaults; pass ``{"note3": True, "implementation": True, ...}``
    to include optional transitions.
    """
    opts = {**spec.options, **(options or {})}
    g = nx.MultiDiGraph(name=spec.name, reference=spec.reference, initial=spec.initial)
    for s in spec.states:
        g.add_node(s.name, meaning=s.meaning, synchronized=s.synchronized, rfc=s.rfc)
    for t in spec.enabled(opts):
        g.add_edge(
            t.source,
            t.target,
            key=t.id,
            event=t.event,
            kind=spec.events[t.event].kind,
            sends=t.sends,
            path=t.path,
            rfc=t.rfc,
            when=t.when,
            option=t.option,
            unless=t.unless,
            note=t.note,
            index=t.index,
            transition=t,
        )
    return g


def label(data: dict[str, object]) -> str:
    """The textbook edge label: ``event / sends`` (e.g. ``rcv FIN / snd ACK``)."""
    event = str(data["event"])
    kind = data["kind"]
    head = {"call": event, "rcv": f"rcv {event}", "timer": event}[str(kind)]
    sends = data.get("sends") or ()
    return f"{head} / snd {','.join(sends)}" if sends else head  # type: ignore[arg-type]
