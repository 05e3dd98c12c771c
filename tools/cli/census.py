"""``tcpcheck census``: the live TCP sockets of the host or of one network
namespace, grouped, with the patterns of the troubleshooting articles
explained by the spec."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

import click

from tcpcheck.tools.cli.kit import one_line_errors, table

if TYPE_CHECKING:
    from tcpcheck.tools.census.findings import Census


@click.command()
@click.option("--netns", metavar="NAME", help="A named network namespace (as 'ip netns list' shows).")
@click.option("--pid", type=int, metavar="PID", help="The network namespace of this process.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object (with --watch: one per line).")
@click.option("--watch", type=click.FloatRange(min=0.1), metavar="SECONDS",
              help="Take a census every SECONDS and show what changed.")
@click.option("--count", type=click.IntRange(min=1), metavar="N", help="With --watch: stop after N censuses.")
@click.option("--threshold", type=click.IntRange(min=1), default=10, show_default=True,
              help="A pile: this many sockets in one state make a finding.")
@click.option("--age", type=click.FloatRange(min=0), default=60.0, show_default=True, metavar="SECONDS",
              help="Or one socket waiting this long (since the peer was last heard).")
@click.option("--profile", "profile_name", default="linux", show_default=True, metavar="NAME|FILE",
              help="Stack profile for what the kernel adds to the RFC (rfc: none).")
@one_line_errors
def census(netns: str | None, pid: int | None, as_json: bool, watch: float | None, count: int | None,
           threshold: int, age: float, profile_name: str) -> None:
    """Explain the live TCP sockets of this host (or of one namespace).

    Reads every TCP socket through sock_diag, including TIME_WAIT and
    half-open request sockets, finds the process holding each, and groups
    them by state, listener and peer. A pile in CLOSE_WAIT, SYN_RCVD,
    TIME_WAIT, FIN_WAIT_2 or LAST_ACK gets a finding: what it means in the
    spec (RFC 9293), who is responsible, and what to do. Needs root to see
    other processes and namespaces. Exit status 1 when a finding is a
    warning, 0 otherwise.
    """
    from tcpcheck.model.spec import load_spec
    from tcpcheck.tools.census.collect import take_snapshot, target_for
    from tcpcheck.tools.census.findings import Thresholds, analyse
    from tcpcheck.tools.runner.profile import choose_profile

    spec = load_spec()
    profile = choose_profile(profile_name, {t.id for t in spec.transitions})
    target = target_for(netns, pid)
    limits = Thresholds(pile=threshold, age_s=age)
    previous: Census | None = None
    rounds = 0
    try:
        while True:
            result = analyse(take_snapshot(target), spec, profile, limits)
            if watch is None:
                click.echo(json.dumps(result.to_json(), indent=2) if as_json else render(result))
            elif as_json:
                click.echo(json.dumps({**result.to_json(), "changes": changes(previous, result)}))
            else:
                click.echo(render(result) if previous is None else render_changes(previous, result))
            previous = result
            rounds += 1
            if watch is None or (count is not None and rounds >= count):
                break
            time.sleep(watch)  # the interval the user asked for between censuses
    except KeyboardInterrupt:
        pass
    raise SystemExit(1 if previous and any(f.severity == "warning" for f in previous.findings) else 0)


def render(result: Census) -> str:
    """The census as text: states, listeners, peers, findings."""
    lines = [f"census of the {result.target}: {result.total} TCP sockets, read in {result.seconds * 1000:.1f} ms", ""]
    lines.append(table(("state", "sockets"), list(result.by_state.items())))
    if result.listeners:
        lines += ["", "listeners"]
        rows = [(ls.address, f"{ls.accept_queue}/{ls.backlog}", ", ".join(p.text() for p in ls.owners) or "-",
                 ", ".join(f"{k} {v}" for k, v in sorted(ls.states.items())) or "-") for ls in result.listeners]
        lines.append(table(("address", "accept queue", "held by", "connections"), rows))
    if result.peers:
        lines += ["", "remote peers of this host's own connections (top 10)"]
        peers = [(remote, sum(states.values()), ", ".join(f"{k} {v}" for k, v in sorted(states.items())))
                 for remote, states in result.peers[:10]]
        lines.append(table(("peer", "sockets", "states"), peers))
    lines.append("")
    if not result.findings:
        lines.append("no findings: no pile in CLOSE_WAIT, SYN_RCVD, TIME_WAIT, FIN_WAIT_2 or LAST_ACK")
    for f in result.findings:
        lines.append(f"[{f.severity}] {f.id}: {f.summary}")
        lines += [f"    {d}" for d in f.details]
        lines.append("  why (the spec):")
        lines += [f"    {r}" for r in f.reason]
        lines.append("  what to do:")
        lines += [f"    {a}" for a in f.advice]
        lines.append("")
    return "\n".join(lines).rstrip()


def changes(before: Census | None, after: Census) -> dict[str, Any]:
    """What changed between two censuses: state counts and findings."""
    if before is None:
        return {}
    states = sorted(set(before.by_state) | set(after.by_state))
    delta = {s: after.by_state.get(s, 0) - before.by_state.get(s, 0) for s in states}
    old = {f.id for f in before.findings}
    new = {f.id for f in after.findings}
    return {
        "seconds": round(after.taken_at - before.taken_at, 3),
        "states": {s: d for s, d in delta.items() if d},
        "findings_new": sorted(new - old),
        "findings_gone": sorted(old - new),
    }


def render_changes(before: Census, after: Census) -> str:
    """One line of state changes, then findings that came or went."""
    diff = changes(before, after)
    stamp = time.strftime("%H:%M:%S", time.localtime(after.taken_at))
    moves = "  ".join(f"{s} {after.by_state.get(s, 0)} ({d:+d})" for s, d in diff["states"].items())
    lines = [f"{stamp}  {after.total} sockets  " + (moves or "no change")]
    lines += [f"  + {f.id}: {f.summary}" for f in after.findings if f.id in diff["findings_new"]]
    lines += [f"  - {f.id}: {f.summary}" for f in before.findings if f.id in diff["findings_gone"]]
    return "\n".join(lines)
