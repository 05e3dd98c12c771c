"""The census explained: sockets grouped by state, listener and peer, and a
finding for each pattern the troubleshooting articles describe.

Pure: reads a ``Snapshot`` and the spec, does no I/O. The reasons come from
the spec (``model.explain``: what a state means, what it waits for, which
closer can be in it) and the stack profile (what Linux does beyond the
RFC); this module adds only the thresholds, the grouping, and the advice.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tcpcheck.model import explain
from tcpcheck.model.spec import Spec
from tcpcheck.tools.census.collect import Process, Snapshot
from tcpcheck.tools.runner.profile import Profile
from tcpcheck.tools.runner.sockdiag import DiagSocket

SAMPLE = 5  # sockets listed per finding


@dataclass(frozen=True)
class Thresholds:
    """When a pattern is worth a finding."""

    pile: int = 10  # this many sockets in the state
    age_s: float = 60.0  # or one of them this old (seconds since the peer was last heard)
    port_share: float = 0.5  # TIME_WAIT towards one destination over this share of the ephemeral range


@dataclass
class Finding:
    """One pattern found, in plain words."""

    id: str
    state: str
    severity: str  # "warning" or "info"
    summary: str
    count: int
    details: list[str] = field(default_factory=list)
    reason: list[str] = field(default_factory=list)  # from the spec and the profile
    advice: list[str] = field(default_factory=list)
    processes: list[Process] = field(default_factory=list)
    sockets: list[str] = field(default_factory=list)  # a sample, "local -> remote"
    evidence: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        out = dict(self.__dict__)
        out["processes"] = [{"pid": p.pid, "comm": p.comm, "cmdline": p.cmdline} for p in self.processes]
        return out


@dataclass
class Listener:
    """A listening socket and the connections it serves."""

    address: str
    backlog: int  # the listen() backlog in force (idiag_wqueue)
    accept_queue: int  # established, not yet accepted (idiag_rqueue)
    owners: tuple[Process, ...]
    states: Counter[str] = field(default_factory=Counter)


@dataclass
class Census:
    """The whole explained census."""

    target: str
    taken_at: float
    seconds: float
    total: int
    by_state: dict[str, int]
    listeners: list[Listener]
    peers: list[tuple[str, Counter[str]]]  # remote endpoints of outgoing connections
    findings: list[Finding]
    counters: dict[str, int]
    sysctls: dict[str, str]

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "target": self.target,
            "taken_at": round(self.taken_at, 3),
            "seconds": round(self.seconds, 6),
            "total": self.total,
            "by_state": self.by_state,
            "listeners": [{"address": ls.address, "backlog": ls.backlog, "accept_queue": ls.accept_queue,
                           "owners": [p.text() for p in ls.owners], "states": dict(ls.states)}
                          for ls in self.listeners],
            "peers": [{"remote": remote, "states": dict(states)} for remote, states in self.peers],
            "findings": [f.to_json() for f in self.findings],
            "counters": {k: v for k, v in self.counters.items() if k in COUNTERS},
            "sysctls": self.sysctls,
        }


# The kernel counters the findings quote (/proc/net/netstat, snmp).
COUNTERS = (
    "TcpExt.ListenOverflows", "TcpExt.ListenDrops", "TcpExt.TCPReqQFullDrop", "TcpExt.TCPReqQFullDoCookies",
    "TcpExt.SyncookiesSent", "TcpExt.SyncookiesRecv", "TcpExt.SyncookiesFailed", "TcpExt.TCPTimeWaitOverflow",
    "TcpExt.TW", "TcpExt.TCPAbortOnClose", "TcpExt.TCPAbortOnTimeout", "Tcp.CurrEstab",
)


def endpoint(address: str, port: int) -> str:
    """``198.18.0.1:80``, ``[::1]:80``."""
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def _flow(s: DiagSocket) -> str:
    return f"{endpoint(s.src, s.sport)} -> {endpoint(s.dst, s.dport)}"


def _age_s(s: DiagSocket) -> float:
    """Seconds since the peer was last heard from (tcp_info), or -1."""
    return s.last_ack_recv_ms / 1000 if s.last_ack_recv_ms >= 0 else -1.0


class _Explainer:
    """Spec sentences about a state, computed once per census."""

    def __init__(self, spec: Spec, profile: Profile | None) -> None:
        self.spec = spec
        self.profile = profile
        self.options = dict(profile.options) if profile else {}

    def reason(self, state: str) -> list[str]:
        st = explain.story(self.spec, state, self.options)
        lines = [f"{state}: {st.meaning} ({st.rfc})."]
        if st.role_text():
            lines.append(f"In the spec, {st.role_text()}.")
        if st.waits_for:
            ways = "; or ".join(explain.transition_text(self.spec, t) + f" ({t.rfc})" for t in st.waits_for)
            lines.append(f"It is left only by: {ways}.")
        return lines

    def profile_note(self, deviation_id: str) -> str:
        if self.profile is None:
            return ""
        for d in self.profile.deviations:
            if d.id == deviation_id:
                return f"{self.profile.name} profile, {d.id}: {d.note or d.reference}"
        return ""


def _holders(sockets: Iterable[DiagSocket], owners: dict[int, tuple[Process, ...]]) -> Counter[Process | None]:
    held: Counter[Process | None] = Counter()
    for s in sockets:
        procs = owners.get(s.inode, ()) if s.inode else ()
        if not procs:
            held[None] += 1
        for p in procs:
            held[p] += 1
    return held


def _holder_lines(held: Counter[Process | None], what: str) -> list[str]:
    lines = []
    for proc, n in held.most_common():
        if proc is None:
            lines.append(f"{n} {what} held by no process (closed by the application; the kernel keeps them)")
        else:
            lines.append(f"{proc.text()} holds {n} {what}" + (f": {proc.cmdline}" if proc.cmdline else ""))
    return lines


def _ports(sysctls: dict[str, str]) -> tuple[int, int] | None:
    try:
        low, high = (int(x) for x in sysctls["net/ipv4/ip_local_port_range"].split())
    except (KeyError, ValueError):
        return None
    return low, high


def analyse(snapshot: Snapshot, spec: Spec, profile: Profile | None = None,
            thresholds: Thresholds | None = None) -> Census:
    """Group the snapshot's sockets and find the patterns."""
    limits = thresholds or Thresholds()
    by_state_sockets: dict[str, list[DiagSocket]] = defaultdict(list)
    for s in snapshot.sockets:
        by_state_sockets[s.rfc_state].append(s)
    order = {name: i for i, name in enumerate(spec.state_names)}
    by_state = {k: len(v) for k, v in sorted(by_state_sockets.items(), key=lambda kv: order.get(kv[0], 99))}

    listeners: dict[tuple[str, int], Listener] = {}
    for s in by_state_sockets.get("LISTEN", []):
        listeners[(s.src, s.sport)] = Listener(endpoint(s.src, s.sport), s.wqueue, s.rqueue,
                                               snapshot.owners.get(s.inode, ()))
    listening_ports = {port for _, port in listeners}
    peers: dict[str, Counter[str]] = defaultdict(Counter)
    for s in snapshot.sockets:
        if s.rfc_state == "LISTEN":
            continue
        served = _served_by(s, listeners)
        if served is not None:
            served.states[s.rfc_state] += 1
        else:
            peers[endpoint(s.dst, s.dport)][s.rfc_state] += 1

    why = _Explainer(spec, profile)
    findings: list[Finding] = []
    for check in (_close_wait, _syn_rcvd, _time_wait, _fin_wait_2, _last_ack):
        found = check(snapshot, by_state_sockets, listeners, listening_ports, limits, why)
        if found is not None:
            findings.append(found)
    top_peers = sorted(peers.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))
    return Census(snapshot.target.label, snapshot.taken_at, snapshot.seconds, len(snapshot.sockets), by_state,
                  sorted(listeners.values(), key=lambda ls: ls.address), top_peers, findings,
                  snapshot.counters, snapshot.sysctls)


def _served_by(s: DiagSocket, listeners: dict[tuple[str, int], Listener]) -> Listener | None:
    found = listeners.get((s.src, s.sport))
    if found is None:
        wildcard = "0.0.0.0" if ":" not in s.src or s.src.startswith("::ffff:") else "::"
        found = listeners.get((wildcard, s.sport)) or listeners.get(("::", s.sport))
    return found


def _oldest(sockets: Sequence[DiagSocket]) -> float:
    return max((_age_s(s) for s in sockets), default=-1.0)


def _fires(sockets: Sequence[DiagSocket], limits: Thresholds) -> bool:
    return len(sockets) >= limits.pile or _oldest(sockets) >= limits.age_s


def _close_wait(snap: Snapshot, states: dict[str, list[DiagSocket]], listeners: dict[tuple[str, int], Listener],
                listening_ports: set[int], limits: Thresholds, why: _Explainer) -> Finding | None:
    sockets = states.get("CLOSE_WAIT", [])
    if not sockets or not _fires(sockets, limits):
        return None
    held = _holders(sockets, snap.owners)
    oldest = _oldest(sockets)
    peers = Counter(endpoint(s.dst, s.dport) for s in sockets)
    procs = [p for p in held if p is not None]
    who = ", ".join(p.text() for p in procs) or "no process"
    details = _holder_lines(held, "CLOSE_WAIT sockets")
    if oldest >= 0:
        details.append(f"the oldest has waited at least {oldest:.1f} s since the peer's last segment (its FIN)")
    details.append("peers that closed: " + ", ".join(f"{p} ({n})" for p, n in peers.most_common(SAMPLE)))
    return Finding(
        "close_wait_pile", "CLOSE_WAIT", "warning",
        f"{len(sockets)} sockets in CLOSE_WAIT: the peers closed, {who} never called close()",
        len(sockets), details, why.reason("CLOSE_WAIT"),
        [f"In {who}: when a read returns 0 (end of stream) the connection must be closed; look for a code path"
         " (an error, an early return, a pool that forgets a connection) that drops the socket without close().",
         "Restarting the process frees them; nothing in the kernel times CLOSE_WAIT out."],
        procs, [_flow(s) for s in sockets[:SAMPLE]], {"oldest_s": round(oldest, 3)},
    )


def _syn_rcvd(snap: Snapshot, states: dict[str, list[DiagSocket]], listeners: dict[tuple[str, int], Listener],
              listening_ports: set[int], limits: Thresholds, why: _Explainer) -> Finding | None:
    sockets = states.get("SYN_RCVD", [])
    counters = {k: snap.counters.get(k, 0) for k in COUNTERS[:7]}
    overflowed = any(counters.values())
    if len(sockets) < limits.pile and not (sockets and overflowed):
        return None
    per_listener: Counter[str] = Counter()
    owners: list[Process] = []
    details = []
    for s in sockets:
        served = _served_by(s, listeners)
        per_listener[served.address if served else endpoint(s.src, s.sport)] += 1
    for address, n in per_listener.most_common():
        ls = next((x for x in listeners.values() if x.address == address), None)
        if ls is None:
            details.append(f"{n} half-open connections to {address} (no listener seen)")
            continue
        owners.extend(p for p in ls.owners if p not in owners)
        held = ", ".join(p.text() for p in ls.owners) or "no process"
        full = " (full)" if n >= ls.backlog else ""
        details.append(f"listener {address} of {held}: {n} half-open requests{full}; listen backlog {ls.backlog};"
                       f" accept queue {ls.accept_queue}/{ls.backlog}")
    sources = {s.dst for s in sockets}
    unanswered = sum(1 for s in sockets if s.retrans > 0)
    details.append(f"{len(sources)} distinct source addresses, {len({(s.dst, s.dport) for s in sockets})} source"
                   f" ports; {unanswered} of {len(sockets)} had their SYN,ACK retransmitted (no ACK came back)")
    cookies = snap.sysctls.get("net/ipv4/tcp_syncookies", "?")
    details.append(f"tcp_syncookies = {cookies}; counters since boot of the namespace: "
                   + ", ".join(f"{k.split('.', 1)[1]} {v}" for k, v in counters.items()))
    flood = unanswered * 2 >= len(sockets)
    advice = []
    if flood:
        advice.append("The clients never complete the handshake: this looks like a SYN flood (or replies that"
                      " cannot reach the clients). Filter the sources upstream if they are not real clients.")
    if any(ls.accept_queue >= ls.backlog > 0 for ls in listeners.values()):
        advice.append("An accept queue is full: the application accepts too slowly or its backlog is small;"
                      " raise the listen() backlog (capped by net.core.somaxconn) or accept faster.")
    if cookies == "0":
        advice.append("SYN cookies are off: once a listener's request queue is full, new SYNs are dropped"
                      f" (TCPReqQFullDrop = {counters['TcpExt.TCPReqQFullDrop']}); net.ipv4.tcp_syncookies=1"
                      " lets legitimate clients in during a flood.")
    elif counters["TcpExt.SyncookiesSent"]:
        advice.append(f"SYN cookies are on and were used ({counters['TcpExt.SyncookiesSent']} sent): the request"
                      " queue overflowed and the kernel answered statelessly; clients that complete the"
                      " handshake still get in.")
    advice.append("A bigger queue for half-open connections: the listen() backlog, net.core.somaxconn and"
                  " net.ipv4.tcp_max_syn_backlog.")
    reason = why.reason("SYN_RCVD")
    note = why.profile_note("passive_syn_rcvd_is_a_request_socket")
    if note:
        reason.append(note)
    return Finding(
        "syn_rcvd_pile", "SYN_RCVD", "warning",
        f"{len(sockets)} connection requests in SYN_RCVD: " + ("SYN flood or unreachable clients" if flood
                                                                else "handshakes not completing"),
        len(sockets), details, reason, advice, owners, [_flow(s) for s in sockets[:SAMPLE]],
        {"syncookies": cookies, "counters": counters, "distinct_sources": len(sources),
         "synack_retransmitted": unanswered, "per_listener": dict(per_listener)},
    )


def _time_wait(snap: Snapshot, states: dict[str, list[DiagSocket]], listeners: dict[tuple[str, int], Listener],
               listening_ports: set[int], limits: Thresholds, why: _Explainer) -> Finding | None:
    sockets = states.get("TIME_WAIT", [])
    if len(sockets) < limits.pile:
        return None
    server_side = [s for s in sockets if s.sport in listening_ports]
    client_side = [s for s in sockets if s.sport not in listening_ports]
    ports = _ports(snap.sysctls)
    span = ports[1] - ports[0] + 1 if ports else 0
    details: list[str] = []
    at_risk: dict[str, float] = {}
    # An outgoing connection needs a local port not in use towards the same
    # destination: TIME_WAIT sockets hold theirs until they expire.
    per_destination = Counter((s.src, endpoint(s.dst, s.dport)) for s in client_side)
    for (src, dest), n in per_destination.most_common(SAMPLE):
        share = n / span if span else 0.0
        line = f"{n} towards {dest} from {src}"
        if ports:
            line += f": {share:.0%} of the {span} ephemeral ports ({ports[0]}-{ports[1]})"
        details.append(line)
        if share >= limits.port_share:
            at_risk[dest] = round(share, 3)
    if server_side:
        per_listener = Counter(endpoint(s.src, s.sport) for s in server_side)
        details.append("on this host's listening ports (the server closed first): "
                       + ", ".join(f"{k} ({n})" for k, n in per_listener.most_common(SAMPLE)))
    longest = max((s.expires_ms for s in sockets), default=0) / 1000
    details.append(f"the last of them expires in {longest:.1f} s")
    reason = why.reason("TIME_WAIT")
    reason.append("So this host is the active closer of these connections: it called close() first.")
    note = why.profile_note("syn_reopens_time_wait")
    if note:
        reason.append(note)
    advice = []
    if client_side:
        advice.append("Reuse connections (HTTP keep-alive, a connection pool) so this host opens and closes"
                      " fewer; or let the server close first.")
        advice.append("More room: widen net.ipv4.ip_local_port_range; net.ipv4.tcp_tw_reuse=1 lets new outgoing"
                      f" connections take a TIME_WAIT port (needs TCP timestamps); now tcp_tw_reuse ="
                      f" {snap.sysctls.get('net/ipv4/tcp_tw_reuse', '?')}.")
    if server_side:
        advice.append("The server closes first: let clients close (keep-alive timeouts longer on the server"
                      " than on the clients) so their hosts hold TIME_WAIT instead.")
    severity = "warning" if at_risk else "info"
    summary = f"{len(sockets)} sockets in TIME_WAIT: this host closed first"
    if at_risk:
        summary += "; ephemeral ports at risk towards " + ", ".join(sorted(at_risk))
    return Finding(
        "time_wait_pile", "TIME_WAIT", severity, summary, len(sockets), details, reason, advice, [],
        [_flow(s) for s in sockets[:SAMPLE]],
        {"client_side": len(client_side), "server_side": len(server_side), "port_range": list(ports or ()),
         "ports_at_risk": at_risk},
    )


def _fin_wait_2(snap: Snapshot, states: dict[str, list[DiagSocket]], listeners: dict[tuple[str, int], Listener],
                listening_ports: set[int], limits: Thresholds, why: _Explainer) -> Finding | None:
    sockets = states.get("FIN_WAIT_2", [])
    held = [s for s in sockets if s.inode]
    orphans = [s for s in sockets if not s.inode]
    if not (held and _fires(held, limits)) and len(orphans) < limits.pile:
        return None
    holders = _holders(held, snap.owners)
    procs = [p for p in holders if p is not None]
    details = _holder_lines(holders, "half-closed sockets (shutdown, descriptor kept)") if held else []
    oldest = _oldest(held)
    if oldest >= 0:
        details.append(f"the oldest has waited {oldest:.1f} s since the peer acknowledged our FIN")
    if orphans:
        longest = max(s.expires_ms for s in orphans) / 1000
        details.append(f"{len(orphans)} orphans (closed by the application); the last expires in {longest:.1f} s"
                       f" (tcp_fin_timeout = {snap.sysctls.get('net/ipv4/tcp_fin_timeout', '?')})")
    # When the peer is in this namespace too, name who holds its end.
    by_flow = {(s.src, s.sport, s.dst, s.dport): s for s in snap.sockets}
    local_peers: Counter[str] = Counter()
    for s in sockets:
        other = by_flow.get((s.dst, s.dport, s.src, s.sport))
        if other is not None:
            holders_of_other = snap.owners.get(other.inode, ()) if other.inode else ()
            name = ", ".join(p.text() for p in holders_of_other) or "no process"
            local_peers[f"{other.rfc_state} held by {name}"] += 1
    for text, n in local_peers.most_common():
        details.append(f"the peer of {n} is on this host: {text}")
    remote = Counter(endpoint(s.dst, s.dport) for s in sockets)
    details.append("peers that have not closed: " + ", ".join(f"{p} ({n})" for p, n in remote.most_common(SAMPLE)))
    reason = why.reason("FIN_WAIT_2")
    note = why.profile_note("fin_wait_2_orphan_timeout")
    if note:
        reason.append(note)
    who = ", ".join(p.text() for p in procs) or "the kernel (orphans)"
    return Finding(
        "fin_wait_2_stuck", "FIN_WAIT_2", "warning",
        f"{len(sockets)} sockets in FIN_WAIT_2 ({who}): this side closed, the peers never sent their FIN",
        len(sockets), details, reason,
        ["The peer application never closes its end: fix it to close() when it has read end of stream.",
         "This side can stop waiting: close() the descriptor (an orphan then times out after tcp_fin_timeout)"
         " or set TCP_LINGER2."],
        procs, [_flow(s) for s in sockets[:SAMPLE]],
        {"held": len(held), "orphans": len(orphans), "oldest_s": round(oldest, 3)},
    )


def _last_ack(snap: Snapshot, states: dict[str, list[DiagSocket]], listeners: dict[tuple[str, int], Listener],
              listening_ports: set[int], limits: Thresholds, why: _Explainer) -> Finding | None:
    sockets = states.get("LAST_ACK", [])
    retrying = [s for s in sockets if s.retrans > 0 or s.retransmits > 0]
    if not retrying and len(sockets) < limits.pile:
        return None
    holders = _holders(sockets, snap.owners)
    procs = [p for p in holders if p is not None]
    details = _holder_lines(holders, "LAST_ACK sockets")
    most = max((max(s.retrans, s.retransmits) for s in sockets), default=0)
    details.append(f"{len(retrying)} of {len(sockets)} have retransmitted their FIN (up to {most} times) without"
                   " an acknowledgment")
    peers = Counter(endpoint(s.dst, s.dport) for s in sockets)
    details.append("silent peers: " + ", ".join(f"{p} ({n})" for p, n in peers.most_common(SAMPLE)))
    return Finding(
        "last_ack_stuck", "LAST_ACK", "warning",
        f"{len(sockets)} sockets in LAST_ACK: the final ACK of our FIN has not arrived",
        len(sockets), details, why.reason("LAST_ACK"),
        ["The peers' final ACKs are lost, or the peers vanished after sending their FIN (a crash, a firewall or"
         " NAT that dropped the flow): check the path for drops of packets towards this host.",
         "The kernel retransmits the FIN and gives up after its retries (tcp_orphan_retries for closed sockets)."],
        procs, [_flow(s) for s in sockets[:SAMPLE]], {"retransmitting": len(retrying), "max_retransmissions": most},
    )
