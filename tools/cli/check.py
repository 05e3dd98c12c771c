"""``tcpcheck check``: a packet capture checked against the spec."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

from tcpcheck.tools.cli.kit import one_line_errors, table
from tcpcheck.tools.cli.live import StatusLine

if TYPE_CHECKING:
    from tcpcheck.tools.check.analyse import Connection
    from tcpcheck.tools.check.capture import Capture

TABLES = 20  # per-connection tables printed by default, at most


@click.command()
@click.argument("capture", type=click.Path(dir_okay=False))
@click.option("--profile", "profile_name", default="linux", show_default=True, metavar="NAME|FILE",
              help="Stack profile: its options and documented deviations explain segments too (rfc: none).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout.")
@click.option("--connection", "only", type=click.IntRange(min=1), metavar="N",
              help="Show only connection N (numbered in order of first packet).")
@click.option("--chart", "chart_path", type=click.Path(dir_okay=False), metavar="FILE.svg",
              help="Draw a connection as a sequence chart (--connection, else the first unexplained, else 1).")
@one_line_errors
def check(capture: str, profile_name: str, as_json: bool, only: int | None, chart_path: str | None) -> None:
    """Check a packet capture (pcap or pcapng) against the spec.

    The capture is split into connections. For each, both endpoints run the
    spec's machine as a passive observer: a segment seen leaving one end is
    its send, the other end receives it before it acknowledges it. The
    output is each endpoint's inferred state path, the first segment that
    no transition can explain (with the RFC section), and what the capture
    leaves open (a start mid-connection, segments missing). Exit status 0
    when every connection is explained, 1 otherwise, 2 for bad input.
    """
    from tcpcheck.model.errors import InputError
    from tcpcheck.model.spec import load_spec
    from tcpcheck.tools.check.analyse import check_capture
    from tcpcheck.tools.check.capture import read_capture
    from tcpcheck.tools.runner.profile import choose_profile

    spec = load_spec()
    profile = choose_profile(profile_name, {t.id for t in spec.transitions})
    with StatusLine() as status:
        status.say(f"tcpcheck check: reading {capture}")
        cap = read_capture(capture)
        total = len(cap.segments)

        def tick(n: int) -> None:
            status.say(f"tcpcheck check: {n}/{total} segments")

        wanted = only
        keep = (lambda n: n == wanted) if wanted else (lambda n: True) if chart_path else None
        connections = check_capture(cap, spec, profile, keep, tick)
    if only is not None and only > len(connections):
        raise InputError("--connection", f"the capture has {len(connections)} connection(s); pick 1 to"
                                         f" {len(connections)}")
    shown = [c for c in connections if only is None or c.number == only]
    if chart_path:
        _draw(chart_path, shown)
    if as_json:
        click.echo(json.dumps(to_json(cap, connections, shown, profile_name), indent=2))
    else:
        click.echo(render(cap, connections, shown, profile_name))
    raise SystemExit(1 if any(c.observer.flag for c in shown) else 0)


def _draw(path: str, shown: list[Connection]) -> None:
    from tcpcheck.tools.check.chart import chart_for
    from tcpcheck.tools.pictures.diagram import write_atomic
    from tcpcheck.tools.pictures.msc import render_svg

    target = next((c for c in shown if c.observer.flag), shown[0] if shown else None)
    if target is not None:
        write_atomic(path, render_svg(chart_for(target)))


def to_json(cap: Capture, connections: list[Connection], shown: list[Connection], profile: str) -> dict[str, Any]:
    """The whole check as one JSON-ready dict."""
    return {
        "capture": cap.path,
        "format": cap.format,
        "link": cap.linktype,
        "packets": cap.packets,
        "tcp_segments": len(cap.segments),
        "skipped": dict(cap.skipped),
        "profile": profile,
        "connections": len(connections),
        "explained": sum(1 for c in connections if not c.observer.flag),
        "unexplained": sum(1 for c in connections if c.observer.flag),
        "results": [c.to_json() for c in shown],
    }


def _states(conn: Connection, name: str) -> str:
    from tcpcheck.tools.check.analyse import state_walk

    walk = state_walk(conn.observer, name)
    others = [s for s in conn.final_states(name) if not walk or s != walk[-1]]
    return " > ".join(walk) + (f" (or ends in {', '.join(others)}: the capture cannot tell)" if others else "")


def render(cap: Capture, connections: list[Connection], shown: list[Connection], profile: str) -> str:
    """Text: a summary row per connection, then a table per connection."""
    from tcpcheck.tools.check.analyse import endpoint

    bad = sum(1 for c in connections if c.observer.flag)
    skipped = "".join(f", {n} {k}" for k, n in cap.skipped.items())
    lines = [f"{cap.path}: {cap.format}, {cap.linktype}, {cap.packets} packets, {len(cap.segments)} TCP segments"
             f"{skipped}; {len(connections)} connections, {len(connections) - bad} explained, {bad} not"
             f" (profile {profile})", ""]
    rows = [(c.number, f"{endpoint(*c.a)} > {endpoint(*c.b)}", c.observer.packets, c.observer.start, c.verdict,
             c.observer.flag.packet if c.observer.flag else "") for c in shown[:200]]
    lines.append(table(("#", "A > B", "packets", "start", "verdict", "at packet"), rows))
    if len(shown) > 200:
        lines.append(f"... and {len(shown) - 200} more (--json has them all)")
    detailed = shown if len(shown) <= TABLES else [c for c in shown if c.observer.flag][:TABLES]
    for c in detailed:
        lines += ["", f"connection {c.number}: A {endpoint(*c.a)}, B {endpoint(*c.b)}; packets"
                      f" {c.observer.first}-{c.observer.last}; {c.verdict}"]
        rows2 = [(s.packet if s.packet is not None else "(unseen)", who, f"{s.source} > {s.target}", s.text,
                  s.deviation) for _, who, s in _interleaved(c)]
        lines.append(table(("packet", "end", "state", "event", "deviation"), rows2))
        lines.append(f"  A: {_states(c, 'A')}")
        lines.append(f"  B: {_states(c, 'B')}")
        if c.observer.flag:
            flag = c.observer.flag
            lines.append(f"  UNEXPLAINED at packet {flag.packet}: {flag.message} [{'; '.join(flag.rfc)}]")
        lines += [f"  note: {n}" for n in c.observer.notes]
    if len(shown) > TABLES:
        lines += ["", f"(tables only for the first {TABLES} unexplained connections: --connection N shows any)"]
    return "\n".join(lines)


def _interleaved(conn: Connection) -> list[tuple[float, str, Any]]:
    """Both endpoints' steps merged into one order, each endpoint's own
    order kept: a step nobody saw goes just before that endpoint's next
    step a packet shows; a segment received later than a packet it had
    sent (crossing segments) stays after it."""
    out: list[tuple[float, str, Any]] = []
    for who in ("A", "B"):
        steps = conn.observer.path(who)
        keys: list[float] = []
        later = float("inf")
        for step in reversed(steps):
            later = step.packet if step.packet is not None else later - 0.5
            keys.append(later)
        keys.reverse()
        running = float("-inf")
        for key, step in zip(keys, steps, strict=True):
            running = max(running, key)
            out.append((running, who, step))
    return sorted(out, key=lambda e: e[0])
