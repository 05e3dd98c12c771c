"""The timed composition: incarnations, segment ages, a clock and timers.

``model/compose.py`` proves *who* reaches TIME_WAIT; it cannot say *why*
TIME_WAIT exists, since it has one connection per endpoint and no time. This
module composes the same machine (``specs/tcp.toml``) with what the two
reasons for TIME_WAIT need, as guarded commands (model/gcl.py) that both
engines read. Its durations, timers and roles are data (``specs/timed.toml``).
Each rule is a choice of the model:

* **Incarnations.** A is the client, B the server. Each ``connect`` of A is
  a new incarnation of the same 4-tuple, numbered 0, 1, ... up to
  ``incarnations - 1``; the connection B accepts in LISTEN takes the number
  of the SYN that opened it. An endpoint's history variables start afresh
  when it opens again (connect, listen). The number is a ghost: no endpoint
  reads it, only the properties do (``self.inc``).
* **Sequence numbers, abstracted.** A segment carries the incarnation that
  sent it. A receiver holding a connection (any state but those listed under
  ``[connection] none``) takes a segment of its own incarnation as the RFC
  says. A segment of another incarnation falls in its window or not: initial
  sequence numbers are taken as adversarial (RFC 9293 §3.4 only makes
  overlap unlikely, and what TIME_WAIT guards against is exactly the case
  where it happens), so both outcomes are possible: *acceptable*, and the
  receiver processes it as its own (``accepted_old`` records it when the
  segment is of an earlier incarnation), or *unacceptable*, and it is
  dropped. The ACK an unacceptable segment elicits (RFC 9293 §3.10.7.4,
  first check) is left out: it carries the receiver's own numbers, and the
  peer's connection, when it exists, takes it as a duplicate.
  Where there is no connection (CLOSED, LISTEN) a segment is processed
  whatever its incarnation; a reply from there (a RST) belongs to the
  incarnation of the segment it answers, whose numbers it copies. A RST
  sent with sequence number zero (model/compose.py) is dropped here too:
  its SEQ is not taken from any incarnation's numbers, so the adversarial
  choice has nothing to overlap.
* **Time.** A discrete clock. A tick ages every segment in flight by one;
  a segment is delivered or lost before its age reaches MSL, so a tick
  waits while a segment has age MSL - 1. Timers count down on ticks and
  fire at 0, before the next tick. The clock itself is not stored (only
  ages and what is left on the timers), so the state space stays finite.
  The TIME_WAIT timer drives ``timeout_2msl``; the retransmission timer
  resends an unacknowledged SYN or FIN every ``rto`` ticks (no backoff).
  Timer events no timer drives (SYN retries exhausted) fire at any time, as
  in the untimed model.
* **Channels** are multisets of (segment, incarnation, age), one counter
  each, holding at most ``bound`` segments: segments overtake one another
  (an old duplicate arrives late by nature). The network loses at most
  ``losses`` segments in a run.
* ABORT and SEND are not user calls here: an abort sends a RST on purpose,
  and this model asks which RSTs the protocol itself causes.
"""

from __future__ import annotations

import itertools
import re
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from tcpcheck.model import expr as exprlang
from tcpcheck.model import gcl
from tcpcheck.model.acceptability import case_name
from tcpcheck.model.compose import (
    ENDPOINTS,
    MAX_BOUND,
    Updates,
    Wire,
    _Dispatch,
    _holds,
    _same,
    _valuations,
    transition_effects,
    wire_alphabet,
    wire_for,
)
from tcpcheck.model.errors import InputError, locate, where
from tcpcheck.model.spec import NAME, Spec, Transition, read_toml

# Ghost history of the timed model, beside the untimed model's.
TIMED_HISTORY = ("accepted_old", "reset")
RETRANSMIT = "retransmit"
_DURATION = re.compile(r"^\s*(?:(\d+)\s*\*\s*)?(msl|rto)\s*$")


@dataclass(frozen=True)
class Timer:
    """A timer of ``specs/timed.toml``: what it drives and how long it runs."""

    name: str
    drives: str  # an event of the spec, or "retransmit"
    duration: str  # "2*msl", "rto", "3"
    restarted_by: tuple[str, ...] = ()
    rfc: str = ""

    def ticks(self, msl: int, rto: int) -> int:
        """The duration in ticks for the given MSL and RTO."""
        if self.duration.strip().isdigit():
            return int(self.duration)
        m = _DURATION.match(self.duration)
        assert m, self.duration  # validated on load
        return int(m.group(1) or 1) * (msl if m.group(2) == "msl" else rto)


@dataclass(frozen=True)
class TimedSpec:
    """``specs/timed.toml``: defaults of the clock, roles and timers."""

    path: str
    msl: int
    rto: int
    incarnations: int
    losses: int
    bound: int
    roles: dict[str, tuple[str, ...]]
    no_connection: tuple[str, ...]
    exact: tuple[str, ...]
    timers: tuple[Timer, ...]
    spec_options: dict[str, bool] = field(default_factory=dict)

    def timer(self, name: str) -> Timer:
        """The timer called ``name``."""
        for t in self.timers:
            if t.name == name:
                return t
        raise KeyError(name)


def default_timed_path() -> Path:
    """The embedded ``specs/timed.toml``."""
    return Path(str(resources.files("tcpcheck.specs").joinpath("timed.toml")))


def load_timed(spec: Spec, path: str | Path | None = None) -> TimedSpec:
    """Load and validate ``specs/timed.toml`` against ``spec``; errors name the file and line."""
    p = Path(path) if path is not None else default_timed_path()
    data, text = read_toml(p)
    allowed = {"time", "options", "roles", "connection", "timer"}
    for key in data:
        if key not in allowed:
            raise InputError(str(p), f"unknown top-level table '{key}'; expected {', '.join(sorted(allowed))}")

    def line_of(key: str) -> int | None:
        for number, line in enumerate(text.splitlines(), start=1):
            if line.split("=", 1)[0].strip() == key:
                return number
        return None

    def table(name: str, allowed: set[str] | tuple[str, ...]) -> dict[str, Any]:
        """``[name]`` (absent: empty), a table with no key outside ``allowed``."""
        *head, last = name.split(".")
        value: Any = data
        for step in (*head, last):
            value = value.get(step, {}) if isinstance(value, dict) else None
        if not isinstance(value, dict):
            raise InputError(str(p), f"[{name}] must be a table")
        for key in value:
            if key not in allowed:
                raise InputError(where(str(p), line_of(key)), f"[{name}]: unknown field {str(key)[:40]!r}; "
                                 f"allowed: {', '.join(sorted(allowed))}")
        return value

    limits = (("msl", 1, None), ("rto", 1, None), ("incarnations", 1, None), ("losses", 0, None),
              ("bound", 1, MAX_BOUND))
    time = table("time", tuple(k for k, _, _ in limits))
    values: dict[str, int] = {}
    for key, low, high in limits:
        v = time.get(key)
        if not isinstance(v, int) or isinstance(v, bool) or v < low or (high is not None and v > high):
            what = f"from {low} to {high}" if high is not None else f">= {low}"
            raise InputError(where(str(p), line_of(key)), f"[time] {key} must be an integer {what}, not {v!r}")
        values[key] = v
    roles: dict[str, tuple[str, ...]] = {}
    raw_roles = table("roles", ENDPOINTS)
    for ep in ENDPOINTS:
        table(f"roles.{ep}", ("calls",))
        calls = raw_roles.get(ep, {}).get("calls") if isinstance(raw_roles.get(ep), dict) else None
        if not isinstance(calls, list) or not all(isinstance(c, str) for c in calls):
            raise InputError(str(p), f"[roles.{ep}] needs calls = [...], the user calls {ep} makes")
        for c in calls:
            if c not in spec.events or spec.events[c].kind != "call":
                calls_known = sorted(e.name for e in spec.events.values() if e.kind == "call")
                raise InputError(where(str(p), line_of("calls")),
                                 f"[roles.{ep}] calls: {c!r} is not a call event of the spec; use: "
                                 + ", ".join(calls_known))
        roles[ep] = tuple(calls)
    conn = table("connection", ("none", "exact"))
    lists: dict[str, tuple[str, ...]] = {}
    for key, what in (("none", "that hold no connection"), ("exact", "that accept only an ACK of their SYN")):
        states = conn.get(key, []) if isinstance(conn, dict) else None
        if not isinstance(states, list) or not all(isinstance(s, str) and s in spec.state_names for s in states):
            raise InputError(where(str(p), line_of(key)),
                             f"[connection] {key} must list states of the spec (those {what})")
        lists[key] = tuple(states)
    timers: list[Timer] = []
    rows = data.get("timer", [])
    if not isinstance(rows, list):
        raise InputError(str(p), "'timer' must be an array of tables written [[timer]]")
    for i, row in enumerate(rows):

        def fail(key: str | None, message: str, i: int = i) -> InputError:
            line = locate(text, "timer", i, key)
            return InputError(where(str(p), line), f"[[timer]] #{i + 1}" + (f" field '{key}'" if key else "")
                              + f": {message}")

        if not isinstance(row, dict):
            raise fail(None, "must be a table")
        known = {"name", "drives", "duration", "restarted_by", "rfc"}
        for key in row:
            if key not in known:
                raise fail(key, f"unknown field; allowed: {', '.join(sorted(known))}")
        for key in ("name", "drives", "duration"):
            if not isinstance(row.get(key), str):
                raise fail(key if key in row else None, f"needs a string field '{key}'")
        if not NAME.match(row["name"]):
            raise fail("name", "a timer's name is an identifier: letters, digits and '_', at most 64")
        if not isinstance(row.get("rfc", ""), str):
            raise fail("rfc", "must be a string")
        drives = row["drives"]
        if drives != RETRANSMIT and (drives not in spec.events or spec.events[drives].kind != "timer"):
            timer_events = sorted(e.name for e in spec.events.values() if e.kind == "timer")
            raise fail("drives", f"{drives!r} is neither 'retransmit' nor a timer event of the spec "
                                 f"({', '.join(timer_events)})")
        duration = row["duration"]
        if not (duration.strip().isdigit() or _DURATION.match(duration)):
            raise fail("duration", f"{duration!r} is not ticks: write a number, 'msl', 'rto', or 'N*msl'")
        restarted = row.get("restarted_by", [])
        if not isinstance(restarted, list) or not all(isinstance(e, str) and e in spec.events for e in restarted):
            raise fail("restarted_by", "must list events of the spec")
        if any(t.name == row["name"] for t in timers):
            raise fail("name", f"timer {row['name']!r} is declared twice")
        timers.append(Timer(row["name"], drives, duration, tuple(restarted), row.get("rfc", "")))
    spec_options = data.get("options", {})
    if not isinstance(spec_options, dict) or not all(
            k in spec.options and isinstance(v, bool) for k, v in spec_options.items()):
        raise InputError(str(p), "[options] sets spec options to true or false; the spec declares: "
                         + ", ".join(sorted(spec.options)))
    return TimedSpec(str(p), values["msl"], values["rto"], values["incarnations"], values["losses"],
                     values["bound"], roles, lists["none"], lists["exact"], tuple(timers), dict(spec_options))


@dataclass(frozen=True)
class TimedOptions:
    """Overrides of ``specs/timed.toml`` (None: the file's value)."""

    msl: int | None = None
    rto: int | None = None
    incarnations: int | None = None
    losses: int | None = None
    bound: int | None = None
    durations: dict[str, int] = field(default_factory=dict)  # ticks per timer name
    spec_options: dict[str, bool] = field(default_factory=dict)

    def resolved(self, spec: Spec, tspec: TimedSpec) -> dict[str, Any]:
        """Every value the model is built with, validated: bad ones raise InputError naming the option."""
        out: dict[str, Any] = {}
        for key, low, flag in (("msl", 1, "--msl"), ("rto", 1, "--rto"), ("incarnations", 1, "--incarnations"),
                               ("losses", 0, "--losses"), ("bound", 1, "--bound")):
            v = getattr(self, key)
            v = getattr(tspec, key) if v is None else v
            if v < low:
                what = {"msl": "MSL is at least 1 tick (a segment lives at least one tick)",
                        "rto": "the retransmission timeout is at least 1 tick",
                        "incarnations": "at least 1 incarnation (one connection)",
                        "losses": "the number of losses cannot be negative",
                        "bound": "a channel holds at least 1 segment"}[key]
                raise InputError(flag, f"{what}, not {v}")
            out[key] = v
        if out["bound"] > MAX_BOUND:
            raise InputError("--bound", f"the channel bound must be between 1 and {MAX_BOUND}, not {out['bound']}")
        names = {t.name for t in tspec.timers}
        for name, ticks in self.durations.items():
            if name not in names:
                raise InputError("--timer", f"no timer {name!r}; {tspec.path} declares: {', '.join(sorted(names))}")
            if ticks < 0:
                raise InputError("--time-wait" if name == "time_wait" else "--timer",
                                 f"a timer lasts 0 ticks or more, not {ticks}")
        out["timers"] = {t.name: self.durations.get(t.name, t.ticks(out["msl"], out["rto"])) for t in tspec.timers}
        unknown = set(self.spec_options) - set(spec.options)
        if unknown:
            raise InputError(spec.path, f"unknown model option {sorted(unknown)[0]!r}; the spec declares: "
                             + ", ".join(sorted(spec.options)))
        out["spec_options"] = {**spec.options, **tspec.spec_options, **self.spec_options}
        return out


class _AgedBag:
    """A channel as one counter per (segment, incarnation, age): a multiset."""

    def __init__(self, counters: dict[tuple[str, int, int], int], bound: int) -> None:
        self.counters, self.K = counters, bound

    def length(self) -> gcl.Expr:
        return gcl.Add(tuple(gcl.Ref(v) for v in self.counters.values()))

    def empty(self) -> gcl.Expr:
        return gcl.conj(*(gcl.eq(v, 0) for v in self.counters.values()))

    def room(self, n: int) -> gcl.Expr:
        return gcl.TRUE if n == 0 else gcl.Cmp("<=", self.length(), gcl.Const(self.K - n))

    def put(self, wires: list[str], inc: int) -> Updates:
        ups: Updates = []
        for w in sorted(set(wires)):
            v = self.counters[(w, inc, 0)]
            ups.append((v, gcl.Add((gcl.Ref(v), gcl.Const(wires.count(w))))))
        return ups

    def show(self, state: tuple[int, ...]) -> list[str]:
        """Segments in flight as ``NAME#incarnation@age``."""
        return [f"{w}#{i}@{a}" for (w, i, a), v in self.counters.items() for _ in range(state[v])]


class TimedSystem(gcl.System):
    """A ``gcl.System`` whose endpoint states are shown with incarnation and timers."""

    def show(self, state: tuple[int, ...]) -> dict[str, object]:
        out = super().show(state)
        for ep, fields in self.endpoints.items():
            text = f"{out[ep]} #{state[fields['inc']]}"
            for key, var in fields.items():
                if key.endswith("_timer") and state[var]:
                    text += f" {key[:-len('_timer')]}={state[var]}"
            out[ep] = text
        return out


def parse_shown(text: str) -> tuple[str, int | None, dict[str, int]]:
    """Split an endpoint as ``TimedSystem.show`` writes it: state, incarnation, running timers."""
    parts = text.split()
    inc = int(parts[1][1:]) if len(parts) > 1 and parts[1].startswith("#") else None
    timers = {k: int(v) for k, _, v in (p.partition("=") for p in parts[2:])}
    return parts[0], inc, timers


def parse_segment(text: str) -> tuple[str, int, int]:
    """``NAME#inc@age`` -> (name, incarnation, age)."""
    name, _, rest = text.partition("#")
    inc, _, age = rest.partition("@")
    return name, int(inc), int(age)


TIME_WAIT_TIMER = "time_wait"


@dataclass
class Search:
    """What ``first_violations`` found: a shortest counterexample per violated invariant."""

    states: int
    transitions: int
    violated: dict[str, tuple[str, list[Any]]]  # property -> (instance, Steps)


def first_violations(system: gcl.System, props: list[Any]) -> Search:
    """Breadth-first search that stops once every invariant in ``props`` is violated.

    Each invariant is checked on every state as it is found, so a violation
    is known (with its shortest path) without exploring the whole space;
    only a property that holds costs the full search. The sweep runs this
    many times, mostly on configurations that fail.
    """
    from collections import deque

    from tcpcheck.model.explicit import compile_predicate, compile_successors
    from tcpcheck.model.results import trace

    checks = [(p.name, label, compile_predicate(expr)) for p in props if p.kind == "invariant"
              for label, expr in p.instances(system)]
    successors = compile_successors(system)
    index = {system.init: 0}
    states, parent = [system.init], [(-1, -1)]
    found: dict[str, tuple[str, list[Any]]] = {}

    def path(i: int) -> list[Any]:
        sts, cmds = [], []
        while i >= 0:
            sts.append(states[i])
            cmds.append(parent[i][1] if parent[i][1] >= 0 else None)
            i = parent[i][0]
        return trace(system, sts[::-1], cmds[::-1])

    def visit(i: int) -> None:
        for name, label, pred in checks:
            if name not in found and not pred(states[i]):
                found[name] = (label, path(i))

    visit(0)
    queue = deque([0])
    wanted = {name for name, _, _ in checks}
    transitions = 0
    while queue and set(found) != wanted:
        src = queue.popleft()
        for cmd, nxt in successors(states[src]):
            transitions += 1
            if nxt not in index:
                index[nxt] = len(states)
                states.append(nxt)
                parent.append((src, cmd))
                queue.append(len(states) - 1)
                visit(len(states) - 1)
    return Search(len(states), transitions, found)


def sweep_time_wait(spec: Spec, tspec: TimedSpec, base: TimedOptions, msls: list[int], props: list[Any],
                    progress: Any = None) -> list[dict[str, Any]]:
    """For each MSL, the smallest TIME_WAIT (in ticks) for which every property in ``props`` holds.

    TIME_WAIT is tried from 0 ticks upwards, up to 3 MSL + 2; each row
    lists the durations tried with the properties violated at each, and
    the size of each state space. The explicit engine decides each.
    """
    if TIME_WAIT_TIMER not in {t.name for t in tspec.timers}:
        raise InputError(tspec.path, f"no [[timer]] named {TIME_WAIT_TIMER!r} to sweep")
    rows = []
    for msl in msls:
        tried = []
        smallest = None
        for ticks in range(0, 3 * msl + 3):
            if progress:
                progress(f"MSL {msl}: TIME_WAIT {ticks} ticks...")
            opts = TimedOptions(msl, base.rto, base.incarnations, base.losses, base.bound,
                                {**base.durations, TIME_WAIT_TIMER: ticks}, base.spec_options)
            t0 = time.perf_counter()
            found = first_violations(build_timed_system(spec, tspec, opts), props)
            violated = sorted(found.violated)
            tried.append({"time_wait": ticks, "violated": violated, "states": found.states,
                          "exhaustive": not violated, "seconds": round(time.perf_counter() - t0, 3)})
            if not violated:
                smallest = ticks
                break
        rows.append({"msl": msl, "smallest_time_wait": smallest, "tried": tried})
    return rows


def build_timed_system(spec: Spec, tspec: TimedSpec, options: TimedOptions | None = None) -> TimedSystem:
    """Compose two endpoints of ``spec`` with the clock, timers and incarnations of ``tspec``."""
    opts = options or TimedOptions()
    cfg = opts.resolved(spec, tspec)
    msl, rto, N, L, K = cfg["msl"], cfg["rto"], cfg["incarnations"], cfg["losses"], cfg["bound"]
    enabled = spec.enabled(cfg["spec_options"])
    alphabet = wire_alphabet(spec)
    st = {name: i for i, name in enumerate(spec.state_names)}
    dispatcher = _Dispatch(spec, enabled)
    guard_vars = sorted({n.split(".", 1)[1] for tree in dispatcher.guards.values() for n in tree.names()})
    no_conn, exact = set(tspec.no_connection), set(tspec.exact)

    # Which states each timer runs in.
    retransmit_seg = retransmitted_in(spec, enabled)
    timer_states: dict[str, set[str]] = {}
    for tm in tspec.timers:
        if tm.drives == RETRANSMIT:
            timer_states[tm.name] = set(retransmit_seg)
        else:
            timer_states[tm.name] = {tr.source for tr in enabled if tr.event == tm.drives}
    driven = {tm.drives: tm for tm in tspec.timers if tm.drives != RETRANSMIT}
    retransmit_timer = next((tm for tm in tspec.timers if tm.drives == RETRANSMIT), None)

    reach, sendable = _reachable(spec, enabled, tspec, dispatcher, guard_vars, alphabet)

    vars_: list[gcl.Var] = []
    endpoints: dict[str, dict[str, int]] = {}
    booleans = ("false", "true")
    for ep in ENDPOINTS:
        f = {"state": len(vars_)}
        vars_.append(gcl.Var(f"{ep}.state", spec.state_names))
        for h in (*exprlang.HISTORY_VARS, *TIMED_HISTORY):
            f[h] = len(vars_)
            vars_.append(gcl.Var(f"{ep}.{h}", booleans))
        f["inc"] = len(vars_)
        vars_.append(gcl.Var(f"{ep}.inc", tuple(str(n) for n in range(N))))
        f["served"] = len(vars_)  # has taken an incarnation number from a SYN (never reset)
        vars_.append(gcl.Var(f"{ep}.served", booleans))
        for tm in tspec.timers:
            f[f"{tm.name}_timer"] = len(vars_)
            vars_.append(gcl.Var(f"{ep}.{tm.name}_timer", tuple(str(n) for n in range(cfg["timers"][tm.name] + 1))))
        endpoints[ep] = f
    chans: dict[str, _AgedBag] = {}
    counts = tuple(str(n) for n in range(K + 1))
    for ch in ("AB", "BA"):
        counters = {}
        for wn, i, a in itertools.product(sorted(sendable[ch[0]], key=list(alphabet).index), range(N), range(msl)):
            counters[(wn, i, a)] = len(vars_)
            vars_.append(gcl.Var(f"{ch}.{wn}#{i}@{a}", counts))
        chans[ch] = _AgedBag(counters, K)
    lost = None
    if L:
        lost = len(vars_)
        vars_.append(gcl.Var("net.lost", tuple(str(n) for n in range(L + 1))))
    init = [0] * len(vars_)
    for ep in ENDPOINTS:
        init[endpoints[ep]["state"]] = st[spec.initial]

    commands: list[gcl.Command] = []

    def emit(name: str, guard: gcl.Expr, ups: Updates, action: gcl.Action) -> None:
        merged = dict(ups)  # later updates win: a history reset, then the transition's own
        updates = tuple(sorted((v, e) for v, e in merged.items() if e != gcl.Ref(v)))
        commands.append(gcl.Command(name, guard, updates, action))

    def timer_updates(f: dict[str, int], chain: list[Transition]) -> Updates:
        """Start, restart or clear each timer as ``chain`` moves the endpoint."""
        ups: Updates = []
        src, dst = chain[0].source, chain[-1].target
        for tm in tspec.timers:
            var, states, ticks = f[f"{tm.name}_timer"], timer_states[tm.name], cfg["timers"][tm.name]
            if dst not in states:
                ups.append((var, gcl.Const(0)))
            elif src not in states or any(tr.event in tm.restarted_by for tr in chain) or (
                tm.drives == RETRANSMIT and any(retransmit_seg[dst] in tr.sends for tr in chain)
            ):
                ups.append((var, gcl.Const(ticks)))
        return ups

    def fresh_history(f: dict[str, int]) -> Updates:
        return [(f[h], gcl.FALSE) for h in (*exprlang.HISTORY_VARS, *TIMED_HISTORY)]

    def fin_split(f: dict[str, int], sends: list[str]) -> list[tuple[bool, list[gcl.Expr]]]:
        if not any(spec.segments[s].acks == "history" for s in sends):
            return [(False, [])]
        return [(v, [gcl.eq(f["rcvd_fin"], int(v))]) for v in (False, True)]

    def hist_options(guard: exprlang.Node | None) -> list[dict[str, bool]]:
        return [h for h in _valuations(guard_vars) if _holds(guard, h)] if guard else [{}]

    for ep in ENDPOINTS:
        peer = "B" if ep == "A" else "A"
        f = endpoints[ep]
        out_ch, in_ch = chans[ep + peer], chans[peer + ep]

        # User calls of this endpoint's role; timer events.
        for t in enabled:
            ev = spec.events[t.event]
            if ev.kind == "rcv" or (ev.kind == "call" and t.event not in tspec.roles[ep]) or t.source not in reach[ep]:
                continue
            opening = t.source == spec.initial and t.target != spec.initial
            numbering = any("SYN" in spec.segments[s].flags for s in t.sends)
            for hist in hist_options(dispatcher.guards.get(t.index)):
                hist_guard = [gcl.eq(f[h], int(v)) for h, v in hist.items()]
                for rcvd_fin, fin_guard in fin_split(f, list(t.sends)):
                    ups, sent = transition_effects(spec, f, [t], False, rcvd_fin, alphabet)
                    ups = ups + timer_updates(f, [t])
                    for j in range(N):
                        guard: list[gcl.Expr] = [gcl.eq(f["state"], st[t.source]), gcl.eq(f["inc"], j),
                                                 *hist_guard, *fin_guard]
                        if ev.kind == "timer" and t.event in driven:
                            guard.append(gcl.eq(f[f"{driven[t.event].name}_timer"], 0))
                        variants: list[tuple[str, list[gcl.Expr], int, Updates]] = []
                        if opening:
                            # the first open; or one after a graceful close (both FINs exchanged),
                            # numbered anew when it sends a SYN
                            variants.append(("first", [gcl.eq(f["opened"], 0)], j, []))
                            if j + 1 < N or not numbering:
                                again = j + 1 if numbering else j
                                variants.append(("again", [gcl.eq(f["opened"], 1), gcl.eq(f["sent_fin"], 1),
                                                           gcl.eq(f["rcvd_fin"], 1)], again,
                                                 [(f["inc"], gcl.Const(again))] if numbering else []))
                        else:
                            variants.append(("", [], j, []))
                        for tag, extra, new_inc, inc_up in variants:
                            pre = fresh_history(f) if opening else []
                            emit(f"{ep}:{t.id}:{''.join(str(int(v)) for v in hist.values())}f{int(rcvd_fin)}"
                                 f":i{j}{tag}",
                                 gcl.conj(*guard, *extra, out_ch.room(len(sent))),
                                 pre + ups + inc_up + out_ch.put(sent, new_inc),
                                 gcl.Action(ep, ev.kind, t.event, "", tuple(sent), (t.id,)))

        # Retransmission, driven by the retransmission timer.
        if retransmit_timer is not None:
            var = f[f"{retransmit_timer.name}_timer"]
            for rstate, rseg in retransmit_seg.items():
                if rstate not in reach[ep]:
                    continue
                for rcvd_fin, fin_guard in fin_split(f, [rseg]):
                    wire = wire_for(spec.segments[rseg], rcvd_fin, alphabet)
                    for j in range(N):
                        emit(f"{ep}:retransmit:{rstate}:f{int(rcvd_fin)}:i{j}",
                             gcl.conj(gcl.eq(f["state"], st[rstate]), gcl.eq(var, 0), gcl.eq(f["inc"], j),
                                      *fin_guard, out_ch.room(1)),
                             [(var, gcl.Const(cfg["timers"][retransmit_timer.name])), *out_ch.put([wire], j)],
                             gcl.Action(ep, "retransmit", "", "", (wire,)))

        # Receiving a segment (wire w of incarnation i, age a).
        for state in sorted(reach[ep], key=spec.state_names.index):
            for wname in sorted(sendable[peer], key=list(alphabet).index):
                w = alphabet[wname]
                outcomes = [(h, dispatcher.dispatch(state, w, h)) for h in _valuations(guard_vars)]
                if all(_same(outcomes[0][1], chains) for _, chains in outcomes):
                    outcomes = [({}, outcomes[0][1])]
                for (i, a), (hist, chains) in itertools.product(itertools.product(range(N), range(msl)), outcomes):
                    cv = in_ch.counters[(wname, i, a)]
                    take: Updates = [(cv, gcl.Add((gcl.Ref(cv), gcl.Const(-1))))]
                    here: list[gcl.Expr] = [gcl.eq(f["state"], st[state]), gcl.Cmp(">=", gcl.Ref(cv), gcl.Const(1)),
                            *(gcl.eq(f[h], int(v)) for h, v in hist.items())]
                    seg = f"{wname}#{i}@{a}"
                    htag = "".join(str(int(v)) for v in hist.values())
                    if state in no_conn:
                        if any(c[-1].target not in no_conn for c in chains):
                            # A SYN of an incarnation this endpoint already served is an old
                            # duplicate SYN: left out (see the module docstring).
                            duplicate = gcl.conj(gcl.eq(f["served"], 1), gcl.Cmp(">=", gcl.Ref(f["inc"]),
                                                                                  gcl.Const(i)))
                            emit(f"{ep}:old_syn:{state}:{seg}:{htag}", gcl.conj(*here, duplicate), take,
                                 gcl.Action(ep, "ignore", case_name("old_syn"), seg))
                            here = [*here, gcl.Not(duplicate)]
                        _receive(emit, spec, f, out_ch, alphabet, chains, here, take, seg, ep, state, wname, htag,
                                 reply_inc=i, adopt=i, old=False, timer_updates=timer_updates,
                                 fin_split=fin_split, fresh=[])
                        continue
                    for j in range(N):
                        mine: list[gcl.Expr] = [*here, gcl.eq(f["inc"], j)]
                        if i != j:
                            # named as the runner's peer names it (specs/acceptability.toml)
                            case = case_name("older_unacceptable" if i < j else "newer_unacceptable")
                            emit(f"{ep}:unacceptable:{state}:{seg}:{htag}:i{j}", gcl.conj(*mine), take,
                                 gcl.Action(ep, "ignore", case, seg))
                            if state in exact:
                                continue
                        _receive(emit, spec, f, out_ch, alphabet, chains, mine, take, seg, ep, state, wname,
                                 f"{htag}:i{j}", reply_inc=j, adopt=None, old=i < j, timer_updates=timer_updates,
                                 fin_split=fin_split, fresh=[])

    # The network: loss, then the clock.
    if lost is not None:
        for ch, chan in chans.items():
            for (wn, i, a), cv in chan.counters.items():
                emit(f"net:lose:{ch}:{wn}#{i}@{a}",
                     gcl.conj(gcl.Cmp(">=", gcl.Ref(cv), gcl.Const(1)), gcl.Cmp("<", gcl.Ref(lost), gcl.Const(L))),
                     [(cv, gcl.Add((gcl.Ref(cv), gcl.Const(-1)))), (lost, gcl.Add((gcl.Ref(lost), gcl.Const(1))))],
                     gcl.Action("net", "lose", "", f"{wn}#{i}@{a}", (), (), ch))
    waits: list[gcl.Expr] = []
    tick: Updates = []
    for f in endpoints.values():
        for tm in tspec.timers:
            var = f[f"{tm.name}_timer"]
            for s in sorted(timer_states[tm.name]):
                waits.append(gcl.Not(gcl.conj(gcl.eq(f["state"], st[s]), gcl.eq(var, 0))))
            tick.append((var, gcl.Ite(gcl.Cmp(">=", gcl.Ref(var), gcl.Const(1)),
                                     gcl.Add((gcl.Ref(var), gcl.Const(-1))), gcl.Ref(var))))
    for chan in chans.values():
        for (wn, i, a), cv in chan.counters.items():
            if a == msl - 1:
                waits.append(gcl.eq(cv, 0))
            tick.append((cv, gcl.Const(0) if a == 0 else gcl.Ref(chan.counters[(wn, i, a - 1)])))
    emit("clock:tick", gcl.conj(*waits), tick, gcl.Action("clock", "tick"))

    described: dict[str, object] = {
        "timed": True, "bound": K, "reorder": True, "loss": bool(L), "duplicate": False,
        "msl": msl, "rto": rto, "incarnations": N, "losses": L,
        **{f"{name}_ticks": ticks for name, ticks in cfg["timers"].items()},
        **cfg["spec_options"],
    }
    return TimedSystem(vars=tuple(vars_), init=tuple(init), commands=tuple(commands), endpoints=endpoints,
                       channels={ch: tuple(c.counters.values()) for ch, c in chans.items()}, options=described,
                       views=dict(chans))


def _receive(emit: Any, spec: Spec, f: dict[str, int], out_ch: _AgedBag, alphabet: dict[str, Wire],
             chains: list[list[Transition]], guard: list[gcl.Expr], take: Updates, seg: str, ep: str, state: str,
             wname: str, tag: str, *, reply_inc: int, adopt: int | None, old: bool, timer_updates: Any,
             fin_split: Any, fresh: Updates) -> None:
    """Commands for an endpoint processing a segment it takes as its own (or, with no connection, as new)."""
    if not chains:
        emit(f"{ep}:ignore:{state}:{seg}:{tag}", gcl.conj(*guard), take, gcl.Action(ep, "ignore", "", seg))
        return
    for ci, chain in enumerate(chains):
        for rcvd_fin, fin_guard in fin_split(f, [s for t in chain for s in t.sends]):
            ups, sent = transition_effects(spec, f, chain, True, rcvd_fin, alphabet)
            extra: Updates = list(fresh)
            if adopt is not None and chain[-1].target != state:
                extra += [(f["inc"], gcl.Const(adopt)), (f["served"], gcl.TRUE)]
            if old and chain[-1].target != state:
                # taken for new: it moved the connection (an old FIN closing it, an old
                # ACK completing its close); a duplicate answered in place changes nothing
                extra.append((f["accepted_old"], gcl.TRUE))
            if any("RST" in spec.events[t.event].flags for t in chain) and chain[-1].target != state:
                extra.append((f["reset"], gcl.TRUE))
            emit(f"{ep}:rcv:{state}:{seg}:{tag}c{ci}f{int(rcvd_fin)}",
                 gcl.conj(*guard, *fin_guard, out_ch.room(len(sent))),
                 take + extra + ups + timer_updates(f, chain) + out_ch.put(sent, reply_inc),
                 gcl.Action(ep, "rcv", "+".join(t.event for t in chain), seg, tuple(sent),
                            tuple(t.id for t in chain)))



def retransmitted_in(spec: Spec, enabled: tuple[Transition, ...]) -> dict[str, str]:
    """The segment an endpoint retransmits in each state, on the retransmission timer.

    specs/tcp.toml lists the segments kept in the retransmission queue until
    acknowledged; the untimed composition keeps that queue per endpoint
    (rtx_syn, rtx_fin). The timed one keys retransmission on the state
    instead, and this derives which queued segment can still be
    unacknowledged on reaching each state: sent on the way there (the newest
    queued segment sent: a FIN sent in SYN_RCVD is retransmitted, its SYN,ACK
    no longer, a simplification of the timed model), not
    acknowledged by a received ACK (the event's ``acks``), and not flushed with
    the connection (RFC 9293 §3.10.5 abort; CLOSED or back to LISTEN).
    """
    queued = {r.segment for r in spec.retransmits}
    control = {s: spec.segments[s].flags & {"SYN", "FIN"} for s in queued}
    out: dict[str, set[str]] = {name: set() for name in spec.state_names}
    changed = True
    while changed:
        changed = False
        for t in enabled:
            ev = spec.events[t.event]
            kept = set() if t.new_connection or t.event == "abort" else set(out[t.source])
            if ev.kind == "rcv" and "ACK" in ev.flags and "RST" not in ev.flags and ev.acks != "none":
                kept = {s for s in kept if ev.acks.upper() not in control[s]}
            for s in t.sends:
                if s in queued:
                    kept = {s}
            if not spec.state(t.target).synchronized and not any("SYN" in spec.segments[s].flags for s in t.sends):
                kept = set()
            if not kept <= out[t.target]:
                out[t.target] |= kept
                changed = True
    many = {name: sorted(segs) for name, segs in out.items() if len(segs) > 1}
    if many:
        name, segs = next(iter(many.items()))
        raise InputError(spec.path, f"the timed model retransmits one segment per state, but {name} may have "
                                    f"{' and '.join(segs)} unacknowledged")
    return {name: next(iter(segs)) for name, segs in out.items() if segs}


def _reachable(spec: Spec, enabled: tuple[Transition, ...], tspec: TimedSpec, dispatcher: _Dispatch,
               guard_vars: list[str], alphabet: dict[str, Wire]) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """Per endpoint, the states it can reach and the segments it can send (an over-approximation).

    Only these get channel counters and receive commands: with the roles of
    specs/timed.toml, B never sends a SYN and A never a SYN,ACK, and the
    model is that much smaller.
    """
    sendable: dict[str, set[str]] = {ep: set() for ep in ENDPOINTS}
    reach: dict[str, set[str]] = {ep: {spec.initial} for ep in ENDPOINTS}
    retransmits = retransmitted_in(spec, enabled)
    changed = True
    while changed:
        changed = False
        for ep in ENDPOINTS:
            peer = "B" if ep == "A" else "A"
            todo = list(reach[ep])
            while todo:
                state = todo.pop()
                chains: list[list[Transition]] = [
                    [t] for t in enabled if t.source == state and spec.events[t.event].kind != "rcv"
                    and (spec.events[t.event].kind != "call" or t.event in tspec.roles[ep])]
                for wname in sendable[peer]:
                    for h in _valuations(guard_vars):
                        chains.extend(dispatcher.dispatch(state, alphabet[wname], h))
                segs = [s for c in chains for t in c for s in t.sends]
                if state in retransmits:
                    segs.append(retransmits[state])
                for s in segs:
                    for rcvd_fin in (False, True):
                        w = wire_for(spec.segments[s], rcvd_fin, alphabet)
                        if w not in sendable[ep]:
                            sendable[ep].add(w)
                            changed = True
                for c in chains:
                    if c[-1].target not in reach[ep]:
                        reach[ep].add(c[-1].target)
                        todo.append(c[-1].target)
                        changed = True
    return reach, sendable
