"""From what Linux shows to each endpoint's RFC state path. Pure: no I/O.

The tracepoint sees every state change of a full socket, exactly; three
things it does not see, sock_diag does (``specs/profiles/linux.toml``
documents each, by the id given here):

* a passive open's request socket (``passive_syn_rcvd_is_a_request_socket``
  and ``passive_syn_rcvd_observed_by_sock_diag``): SYN_RCVD starts when
  sock_diag first shows NEW_SYN_RECV; the child's LISTEN -> SYN_RECV,
  traced when the handshake completes, is the same SYN_RCVD. A request
  socket whose listener was closed is an orphan that answers the peer's
  ACK with a RST: the endpoint is CLOSED (``orphaned_request_socket``);
* TIME_WAIT and an orphaned FIN_WAIT_2 (``timewait_minisocket``): the full
  socket reports -> CLOSE when it hands over to an inet_timewait_sock, so
  a traced -> CLOSE is read together with sock_diag after it; the mini
  socket's own changes (FIN_WAIT_2 -> TIME_WAIT, expiry) come from
  sock_diag alone;
* an endpoint that has only a listener is the listener; once a connection
  exists, the endpoint is the connection (the listener's later close is a
  note, not the endpoint's transition).

Without tracing, sock_diag after every step is the only view (``sample``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tcpcheck.tools.runner.loopback.observed import Event
from tcpcheck.tools.runner.sockdiag import KERNEL_STATES, DiagSocket
from tcpcheck.tools.runner.tracer import TraceEvent

SYN_RECV_NO, CLOSE, NEW_SYN_RECV = 3, 7, 12
# What Linux changes without a tracepoint, so that only sock_diag sees it.
UNTRACED = {
    ("LISTEN", "SYN_RCVD"): "passive_syn_rcvd_is_a_request_socket",
    ("SYN_RCVD", "LISTEN"): "passive_syn_rcvd_is_a_request_socket",
    ("SYN_RCVD", "CLOSED"): "orphaned_request_socket",
    ("FIN_WAIT_2", "TIME_WAIT"): "timewait_minisocket",
    ("FIN_WAIT_2", "CLOSED"): "timewait_minisocket",
    ("TIME_WAIT", "CLOSED"): "timewait_minisocket",
}
SYNCHRONIZED_BEYOND_SYN_RCVD = {"ESTABLISHED", "FIN_WAIT_1", "FIN_WAIT_2", "CLOSE_WAIT", "CLOSING", "LAST_ACK",
                                "TIME_WAIT"}


@dataclass
class SideView:
    """What is known of one endpoint so far."""

    side: str
    local: tuple[str, int]
    remote: tuple[str, int]
    state: str = "CLOSED"
    listener_open: bool = False
    connection: bool = False  # a connection socket exists or existed
    synchronized: bool = False  # has been beyond SYN_RCVD
    notes: list[str] = field(default_factory=list)

    def move(self, ns: int, new: str, source: str, detail: str = "") -> Event | None:
        """The state event for a change to ``new`` (None when no change)."""
        if new == self.state:
            return None
        event = Event(ns, "state", self.side, old=self.state, new=new, source=source, detail=detail)
        self.state = new
        if new in SYNCHRONIZED_BEYOND_SYN_RCVD:
            self.synchronized = True
        return event


def _rfc(number: int) -> str:
    return KERNEL_STATES.get(number, f"state {number}")


def diag_state(view: SideView, conn: DiagSocket | None, listening: bool) -> str:
    """The endpoint's state as sock_diag shows it: ``conn`` is the socket
    holding its 4-tuple (an exact lookup finds a timewait or request socket
    as well as a full one), ``listening`` whether its listener is open."""
    if conn is not None:
        view.connection = True
        # inet_diag reports a request socket as SYN_RECV with no inode.
        request = conn.state == NEW_SYN_RECV or conn.state == SYN_RECV_NO and conn.inode == 0
        if request and not listening:
            return "CLOSED"
        return _rfc(conn.state)
    if view.connection:
        # A request socket reset before the handshake completed: back to
        # LISTEN (RFC 9293 Figure 5 Note 1), which the listener shows.
        if not view.synchronized and listening and view.state == "SYN_RCVD":
            return "LISTEN"
        return "CLOSED"
    return "LISTEN" if listening else "CLOSED"


class Reconciler:
    """Turns one step's trace events and the sock_diag dump after it into
    state events for both sides (see the module docstring)."""

    def __init__(self, views: dict[str, SideView], tracing: bool) -> None:
        self.views = views
        self.tracing = tracing

    def step(self, trace: list[tuple[int, TraceEvent]], conns: dict[str, DiagSocket | None],
             listening: dict[str, bool] | None, diag_ns: int) -> list[Event]:
        """State events for one step: ``trace`` holds (ns, event) pairs on
        the run's clock; ``conns`` the sock_diag lookup of each side's
        4-tuple taken at ``diag_ns``; ``listening`` whether each side's
        listener is open when untraced (traced, the trace says it)."""
        out: list[Event] = []
        closing: dict[str, tuple[int, str]] = {}
        for ns, e in trace:
            if e.event != "inet_sock_set_state":
                continue
            view = next((v for v in self.views.values() if e.local == v.local), None)
            if view is None:
                continue
            old, new = _rfc(e.old), _rfc(e.new)
            if e.remote[1] == 0:  # the listener
                if new == "LISTEN":
                    view.listener_open = True
                    if not view.connection:
                        self._add(out, view.move(ns, "LISTEN", "trace"))
                elif new == "CLOSED":
                    view.listener_open = False
                    if not view.connection and view.state == "LISTEN":
                        self._add(out, view.move(ns, "CLOSED", "trace"))
                    else:
                        view.notes.append(f"{view.side}: listener closed ({old} -> {new}) while the endpoint is "
                                          f"the connection")
                continue
            if e.remote != view.remote:
                continue
            view.connection = True
            if old == "LISTEN" and new == "SYN_RCVD" and view.state == "SYN_RCVD":
                continue  # the child of the request socket sock_diag already showed
            if new == "CLOSED":
                closing[view.side] = (ns, old)  # a reset, or a hand-over: sock_diag decides
                continue
            if old != view.state:
                view.notes.append(f"{view.side}: the trace shows {old} -> {new} while the path is in {view.state}")
            self._add(out, view.move(ns, new, "trace"))
        for view in self.views.values():
            open_ = view.listener_open if listening is None else listening.get(view.side, False)
            seen = diag_state(view, conns.get(view.side), open_)
            if view.side in closing:
                ns, old = closing[view.side]
                if seen in ("TIME_WAIT", "FIN_WAIT_2"):
                    self._add(out, view.move(ns, seen, "trace", f"{old} -> CLOSE hands over to a timewait socket "
                                                                f"(sock_diag: {seen}): timewait_minisocket"))
                else:
                    self._add(out, view.move(ns, "CLOSED", "trace"))
                continue
            if seen == view.state:
                continue
            if not self.tracing:
                self._add(out, view.move(diag_ns, seen, "sample"))
            elif (view.state, seen) in UNTRACED:
                self._add(out, view.move(diag_ns, seen, "sock_diag", UNTRACED[(view.state, seen)]))
            else:
                view.notes.append(f"{view.side}: sock_diag shows {seen} while the trace says {view.state}")
        return out

    @staticmethod
    def _add(out: list[Event], event: Event | None) -> None:
        if event is not None:
            out.append(event)
