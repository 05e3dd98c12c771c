"""Loading and validating ``specs/tcp.toml``: the endpoint machine as data."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from tcpcheck.model.errors import InputError, locate, where

PATHS = ("client", "server", "simultaneous", "error", "implementation")
EVENT_KINDS = ("call", "rcv", "timer")
FLAGS = ("SYN", "ACK", "FIN", "RST")
# The socket calls a call event may name (``socket = [...]``): the ones the
# runner and the emitters can make (abort is SO_LINGER 0 + close).
SOCKET_CALLS = ("listen", "connect", "send", "close", "shutdown_wr", "abort")
ACKS = ("none", "syn", "fin", "history")
# Names of states, events, segments, signals and options reach generated
# code (Promela, Python, packetdrill), file names and pictures: identifiers
# only, so that none of them can carry anything but a name.
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}\Z")
NAME_RULE = "must be an identifier: letters, digits and '_', not starting with a digit, at most 64 characters"
MAX_TEXT = 4000  # characters in any free-text field (meaning, rfc, note, ...)


@dataclass(frozen=True)
class State:
    """One of the RFC 9293 states."""

    name: str
    synchronized: bool
    meaning: str
    rfc: str
    arrival: str = ""  # the "SEGMENT ARRIVES" section for this state (RFC 9293 §3.10.7.x)
    sends_data: bool = False  # a SEND call puts new data on the wire here (RFC 9293 §3.10.2)


@dataclass(frozen=True)
class Event:
    """What triggers a transition: a user call, a classified segment, a timer."""

    name: str
    kind: str
    flags: frozenset[str] = frozenset()
    acks: str = "none"  # for rcv events: which of the receiver's bits the ACK covers
    socket: tuple[str, ...] = ()
    meaning: str = ""
    rfc_call: str = ""  # for call events: the RFC's name of the user call (CLOSE, ABORT...)
    # for rcv events: recognised by flags and ACK whatever the sequence number,
    # even in a synchronized state (``seq = "any"``; RFC 9293 §3.10.7.3)
    any_seq: bool = False


@dataclass(frozen=True)
class Segment:
    """A segment an endpoint can send (flags, and what its ACK covers)."""

    name: str
    flags: frozenset[str]
    acks: str
    # SEQ=0 rather than a number of the sender's sequence space (the RST that
    # answers a segment without ACK, RFC 9293 §3.10.7.1): unacceptable to a
    # receiver that checks sequence numbers (§3.10.7.4 first)
    seq_zero: bool = False


@dataclass(frozen=True)
class Transition:
    """One edge of the endpoint machine."""

    index: int
    source: str
    event: str
    target: str
    sends: tuple[str, ...]
    path: str
    rfc: str
    when: str | None = None
    option: str | None = None
    unless: str | None = None
    note: str = ""
    line: int | None = None
    signal: str = ""  # what the user is told (a Signal's name), "" for nothing
    new_connection: bool = False  # starts a new incarnation: per-connection history starts afresh

    @property
    def id(self) -> str:
        """A stable, readable name: ``FROM--event-->TO`` (plus the guard)."""
        return transition_id(self.source, self.event, self.target, self.when, self.option)


def transition_id(source: str, event: str, target: str, when: str | None = None, option: str | None = None) -> str:
    """``FROM--event[when](option)-->TO``: the one spelling of a transition's id."""
    guard = f"[{when}]" if when else ""
    variant = f"({option})" if option else ""
    return f"{source}--{event}{guard}{variant}-->{target}"


@dataclass(frozen=True)
class Retransmit:
    """A segment that, once sent, stays in the retransmission queue until acknowledged."""

    segment: str
    rfc: str


@dataclass(frozen=True)
class Signal:
    """Something the user is told (RFC 9293 §3.10: a delayed response)."""

    name: str
    text: str
    rfc: str


@dataclass(frozen=True)
class Response:
    """What the RFC answers a user call that changes nothing in the states
    it names (RFC 9293 §3.10.2 SEND and §3.10.4 CLOSE in the closing states
    and in CLOSED: "error: connection closing", "... does not exist")."""

    name: str
    call: str  # the RFC call: send or close
    states: tuple[str, ...]
    text: str
    rfc: str
    ok: bool = False  # the RFC accepts an "ok" answer as well (CLOSE in FIN-WAIT-1 and -2)


# The RFC calls a [[response]] may answer (the sockets API makes them with
# send() and shutdown(SHUT_WR), the profile says how).
RESPONSE_CALLS = ("send", "close")


@dataclass(frozen=True)
class Spec:
    """The whole endpoint machine, validated."""

    path: str
    name: str
    reference: str
    initial: str
    options: dict[str, bool]
    option_help: dict[str, str]
    states: tuple[State, ...]
    events: dict[str, Event]
    segments: dict[str, Segment]
    transitions: tuple[Transition, ...]
    retransmits: tuple[Retransmit, ...] = field(default=())
    signals: dict[str, Signal] = field(default_factory=dict)
    responses: dict[str, Response] = field(default_factory=dict)

    @property
    def told_calls(self) -> dict[str, str]:
        """Every name a profile's [[signal]] may map, with the RFC call that
        hears it: '' for a signal (told after the transition), ``send`` or
        ``close`` for a response."""
        return {**dict.fromkeys(self.signals, ""), **{r.name: r.call for r in self.responses.values()}}

    @property
    def state_names(self) -> tuple[str, ...]:
        """The state names in the order the spec lists them."""
        return tuple(s.name for s in self.states)

    def state(self, name: str) -> State:
        """The state called ``name``."""
        for s in self.states:
            if s.name == name:
                return s
        raise KeyError(name)

    def enabled(self, options: dict[str, bool]) -> tuple[Transition, ...]:
        """The transitions present under the given option values."""
        return tuple(
            t
            for t in self.transitions
            if (t.option is None or options.get(t.option, False))
            and (t.unless is None or not options.get(t.unless, False))
        )


def default_spec_path() -> Path:
    """The embedded RFC 9293 spec shipped with the package."""
    return Path(str(resources.files("tcpcheck.specs").joinpath("tcp.toml")))


def read_toml(path: Path) -> tuple[dict[str, Any], str]:
    """Parse a TOML file; syntax errors become one InputError line."""
    from tcpcheck.model.source import read_input

    text = read_input(path, "an existing UTF-8 TOML file")
    try:
        return tomllib.loads(text), text
    except RecursionError:
        raise InputError(str(path), "malformed TOML: nested too deeply") from None
    except tomllib.TOMLDecodeError as exc:
        # tomllib says "... (at line L, column C)": lift the line to the front.
        msg = str(exc)
        line = None
        if "(at line " in msg:
            tail = msg.rsplit("(at line ", 1)[1]
            line = int(tail.split(",", 1)[0].rstrip(")"))
            msg = msg.rsplit(" (at line ", 1)[0]
        raise InputError(where(str(path), line), f"malformed TOML: {msg}") from None


class _Reader:
    """Field access with errors that name the table, index, key and line."""

    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.text = text

    def fail(self, table: str, index: int, key: str | None, message: str) -> InputError:
        line = locate(self.text, table, index, key) if index >= 0 else None
        field_name = f"[[{table}]] #{index + 1}" + (f" field '{key}'" if key else "")
        return InputError(where(self.path, line), f"{field_name}: {message}")

    def get(
        self,
        table: str,
        index: int,
        row: dict[str, Any],
        key: str,
        kind: type | tuple[type, ...],
        default: Any = ...,
    ) -> Any:
        if key not in row:
            if default is ...:
                raise self.fail(table, index, None, f"missing required field '{key}'")
            return default
        value = row[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
            raise self.fail(table, index, key, f"must be a {names}, not {_short(value)}")
        if isinstance(value, str) and len(value) > MAX_TEXT:
            raise self.fail(table, index, key, f"longer than {MAX_TEXT} characters")
        if isinstance(value, list) and not all(isinstance(v, str) for v in value):
            raise self.fail(table, index, key, "must be a list of strings")
        return value

    def name(self, table: str, index: int, row: dict[str, Any], key: str = "name") -> str:
        """A required identifier field (``NAME``)."""
        value: str = self.get(table, index, row, key, str)
        if not NAME.match(value):
            raise self.fail(table, index, key, f"{value[:40]!r} {NAME_RULE}")
        return value

    def keys(self, table: str, index: int, row: dict[str, Any], allowed: set[str]) -> None:
        """Reject a field the format does not have (a typo would otherwise be ignored)."""
        for key in row:
            if key not in allowed:
                raise self.fail(table, index, key, f"unknown field; allowed: {', '.join(sorted(allowed))}")


TRANSITION_FIELDS = frozenset({"from", "event", "to", "sends", "path", "rfc", "when", "option", "unless", "note",
                               "signal", "new_connection"})


def locate_key(text: str, key: str) -> int | None:
    """Line of the first ``key = ...`` in ``text`` (for tables that are not arrays)."""
    for number, line in enumerate(text.splitlines(), start=1):
        if line.split("=", 1)[0].strip() == key:
            return number
    return None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _rows(reader: _Reader, data: dict[str, Any], table: str) -> list[dict[str, Any]]:
    rows = data.get(table, [])
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise InputError(reader.path, f"'{table}' must be an array of tables written [[{table}]]")
    return rows


def _known(value: str, known: Any, what: str) -> str:
    options = ", ".join(sorted(known))
    return f"unknown {what} {value!r}; use one of: {options}"


@cache
def embedded_spec() -> Spec:
    """The embedded spec, parsed once per process: the runner reads it for
    its tables, its profile's checks, its suite and every scenario's replay
    (a parse costs about 15 ms; Spec is frozen, share it, do not change it)."""
    return load_spec()


def load_spec(path: str | Path | None = None) -> Spec:
    """Load and validate a spec file (the embedded RFC 9293 spec by default).

    Raises InputError with the file, line and field on any problem.
    """
    p = Path(path) if path is not None else default_spec_path()
    data, text = read_toml(p)
    if "mutant" in data:
        data, text = _apply_mutant(p, data, text)
    r = _Reader(str(p), text)

    allowed_top = {"machine", "options", "state", "event", "segment", "retransmit", "signal", "response", "transition"}
    for key in data:
        if key not in allowed_top:
            raise InputError(str(p), f"unknown top-level table '{key}'; expected {', '.join(sorted(allowed_top))}")

    machine = data.get("machine", {})
    if not isinstance(machine, dict):
        raise InputError(str(p), "[machine] must be a table")
    for key, value in machine.items():
        if key not in ("name", "reference", "initial"):
            raise InputError(str(p), f"[machine] unknown field '{str(key)[:40]}'; allowed: initial, name, reference")
        if not isinstance(value, str) or len(value) > MAX_TEXT:
            raise InputError(str(p), f"[machine] field '{key}' must be a string (at most {MAX_TEXT} characters)")

    options: dict[str, bool] = {}
    option_help: dict[str, str] = {}
    raw_options = data.get("options", {})
    if not isinstance(raw_options, dict):
        raise InputError(str(p), "[options] must be a table of [options.NAME] tables")
    for name, body in raw_options.items():
        if not NAME.match(name):
            raise InputError(str(p), f"[options] option {name[:40]!r} {NAME_RULE}")
        if not isinstance(body, dict) or not isinstance(body.get("default"), bool):
            raise InputError(str(p), f"[options.{name}] needs 'default = true' or 'default = false'")
        if set(body) - {"default", "description"} or not isinstance(body.get("description", ""), str):
            raise InputError(str(p), f"[options.{name}] holds only 'default' (true/false) and 'description' (a string)")
        options[name] = body["default"]
        option_help[name] = str(body.get("description", ""))

    states: list[State] = []
    state_keys = {"name", "synchronized", "meaning", "rfc", "arrival", "sends_data"}
    for i, row in enumerate(_rows(r, data, "state")):
        r.keys("state", i, row, state_keys)
        name = r.name("state", i, row)
        if any(s.name == name for s in states):
            raise r.fail("state", i, "name", f"state {name!r} is declared twice")
        states.append(
            State(
                name=name,
                synchronized=r.get("state", i, row, "synchronized", bool),
                meaning=r.get("state", i, row, "meaning", str, ""),
                rfc=r.get("state", i, row, "rfc", str, ""),
                arrival=r.get("state", i, row, "arrival", str, ""),
                sends_data=r.get("state", i, row, "sends_data", bool, False),
            )
        )
    if not states:
        raise InputError(str(p), "no states: declare each with a [[state]] table")
    state_names = {s.name for s in states}

    initial = str(machine.get("initial", "CLOSED"))
    if initial not in state_names:
        raise InputError(str(p), f"[machine] initial: {_known(initial, state_names, 'state')}")

    events: dict[str, Event] = {}
    for i, row in enumerate(_rows(r, data, "event")):
        r.keys("event", i, row, {"name", "kind", "matches", "socket", "meaning", "rfc", "rfc_call"})
        r.get("event", i, row, "rfc", str, "")
        name = r.name("event", i, row)
        if name in events:
            raise r.fail("event", i, "name", f"event {name!r} is declared twice")
        kind = r.get("event", i, row, "kind", str)
        if kind not in EVENT_KINDS:
            raise r.fail("event", i, "kind", _known(kind, EVENT_KINDS, "event kind"))
        flags: frozenset[str] = frozenset()
        acks = "none"
        any_seq = False
        if kind == "rcv":
            match = r.get("event", i, row, "matches", dict)
            raw_flags = match.get("flags", [])
            if not isinstance(raw_flags, list) or not all(isinstance(f, str) for f in raw_flags):
                raise r.fail("event", i, "matches", f"flags must be a non-empty list from {FLAGS}")
            flags = frozenset(raw_flags)
            bad = flags - set(FLAGS)
            if bad or not flags:
                raise r.fail("event", i, "matches", f"flags must be a non-empty subset of {FLAGS}")
            acks = match.get("acks", "none")
            if acks not in ("none", "syn", "fin"):
                raise r.fail("event", i, "matches", "acks must be 'none', 'syn' or 'fin'")
            unknown = set(match) - {"flags", "acks", "seq"}
            if unknown:
                raise r.fail("event", i, "matches", f"unknown key {sorted(unknown)[0]!r}; allowed: acks, flags, seq")
            if match.get("seq", "checked") not in ("checked", "any"):
                raise r.fail("event", i, "matches", "seq must be 'checked' (the default) or 'any'")
            any_seq = match.get("seq") == "any"
        socket = tuple(r.get("event", i, row, "socket", list, []))
        for call in socket:
            if call not in SOCKET_CALLS:
                raise r.fail("event", i, "socket",
                             f"unknown socket call {str(call)[:40]!r}; use: {', '.join(SOCKET_CALLS)}")
        events[name] = Event(name, kind, flags, acks, socket, r.get("event", i, row, "meaning", str, ""),
                             r.get("event", i, row, "rfc_call", str, ""), any_seq)

    segments: dict[str, Segment] = {}
    for i, row in enumerate(_rows(r, data, "segment")):
        r.keys("segment", i, row, {"name", "flags", "acks", "seq"})
        name = r.name("segment", i, row)
        if name in segments:
            raise r.fail("segment", i, "name", f"segment {name!r} is declared twice")
        flags = frozenset(r.get("segment", i, row, "flags", list))
        if not flags or flags - set(FLAGS):
            raise r.fail("segment", i, "flags", f"must be a non-empty subset of {FLAGS}")
        acks = r.get("segment", i, row, "acks", str)
        if acks not in ACKS:
            raise r.fail("segment", i, "acks", _known(acks, ACKS, "acks value"))
        if acks != "none" and "ACK" not in flags:
            raise r.fail("segment", i, "acks", "a segment without the ACK flag acknowledges nothing")
        seq = r.get("segment", i, row, "seq", str, "sender")
        if seq not in ("sender", "zero"):
            raise r.fail("segment", i, "seq", "must be 'sender' (the default: from the sender's sequence space) "
                         "or 'zero' (RFC 9293 §3.10.7.1: a RST answering a segment without ACK)")
        if seq == "zero" and "RST" not in flags:
            raise r.fail("segment", i, "seq", "only a RST is sent with sequence number zero")
        segments[name] = Segment(name, flags, acks, seq == "zero")

    retransmits: list[Retransmit] = []
    for i, row in enumerate(_rows(r, data, "retransmit")):
        r.keys("retransmit", i, row, {"segment", "rfc"})
        seg = r.get("retransmit", i, row, "segment", str)
        if seg not in segments:
            raise r.fail("retransmit", i, "segment", _known(seg, segments, "segment"))
        if not segments[seg].flags & {"SYN", "FIN"}:
            raise r.fail("retransmit", i, "segment", f"{seg!r} carries neither SYN nor FIN: only those occupy "
                         "sequence space and wait in the retransmission queue")
        if any(x.segment == seg for x in retransmits):
            raise r.fail("retransmit", i, "segment", f"{seg!r} is listed twice")
        retransmits.append(Retransmit(seg, r.get("retransmit", i, row, "rfc", str, "")))

    signals: dict[str, Signal] = {}
    for i, row in enumerate(_rows(r, data, "signal")):
        r.keys("signal", i, row, {"name", "text", "rfc"})
        name = r.name("signal", i, row)
        if name in signals or name in ("none", ""):
            raise r.fail("signal", i, "name", f"signal {name!r} is declared twice or reserved")
        signals[name] = Signal(name, r.get("signal", i, row, "text", str), r.get("signal", i, row, "rfc", str, ""))

    responses: dict[str, Response] = {}
    for i, row in enumerate(_rows(r, data, "response")):
        r.keys("response", i, row, {"name", "call", "states", "text", "rfc", "ok"})
        name = r.name("response", i, row)
        if name in signals or name in responses:
            raise r.fail("response", i, "name", f"{name!r} is already a signal or a response")
        call = r.get("response", i, row, "call", str)
        if call not in RESPONSE_CALLS:
            raise r.fail("response", i, "call", f"{call!r}: use one of {', '.join(RESPONSE_CALLS)}")
        where = r.get("response", i, row, "states", list)
        for state in where:
            if state not in state_names:
                raise r.fail("response", i, "states", _known(str(state), state_names, "state"))
        responses[name] = Response(name, call, tuple(where), r.get("response", i, row, "text", str),
                                   r.get("response", i, row, "rfc", str), r.get("response", i, row, "ok", bool, False))

    transitions: list[Transition] = []
    allowed_keys = set(TRANSITION_FIELDS)
    for i, row in enumerate(_rows(r, data, "transition")):
        r.keys("transition", i, row, allowed_keys)
        src = r.get("transition", i, row, "from", str)
        dst = r.get("transition", i, row, "to", str)
        for key, value in (("from", src), ("to", dst)):
            if value not in state_names:
                raise r.fail("transition", i, key, _known(value, state_names, "state"))
        ev = r.get("transition", i, row, "event", str)
        if ev not in events:
            raise r.fail("transition", i, "event", _known(ev, events, "event"))
        sends = r.get("transition", i, row, "sends", list, [])
        for s in sends:
            if s not in segments:
                raise r.fail("transition", i, "sends", _known(str(s), segments, "segment"))
        path_kind = r.get("transition", i, row, "path", str)
        if path_kind not in PATHS:
            raise r.fail("transition", i, "path", _known(path_kind, PATHS, "path"))
        rfc = r.get("transition", i, row, "rfc", str)
        if not rfc.strip():
            raise r.fail("transition", i, "rfc", "every transition needs an RFC (or implementation) reference")
        option = r.get("transition", i, row, "option", str, None)
        unless = r.get("transition", i, row, "unless", str, None)
        for key, value in (("option", option), ("unless", unless)):
            if value is not None and value not in options:
                raise r.fail("transition", i, key, _known(value, options, "option") + " (declare it under [options])")
        if path_kind == "implementation" and option is None:
            raise r.fail(
                "transition",
                i,
                "option",
                "an implementation transition must name the option that enables it (e.g. 'implementation')",
            )
        when = r.get("transition", i, row, "when", str, None)
        signal = r.get("transition", i, row, "signal", str, "")
        if signal and signal not in signals:
            raise r.fail("transition", i, "signal", _known(signal, signals, "signal") + " (declare it as a [[signal]])")
        t = Transition(
            index=i,
            source=src,
            event=ev,
            target=dst,
            sends=tuple(sends),
            path=path_kind,
            rfc=rfc,
            when=when,
            option=option,
            unless=unless,
            note=r.get("transition", i, row, "note", str, ""),
            line=locate(text, "transition", i),
            signal=signal,
            new_connection=r.get("transition", i, row, "new_connection", bool, False),
        )
        for other in transitions:
            if (other.source, other.event, other.when, other.option, other.unless) == (
                src,
                ev,
                when,
                option,
                unless,
            ):
                same = other.target == dst and other.sends == t.sends
                what = "duplicates" if same else "conflicts with"
                raise r.fail(
                    "transition",
                    i,
                    "event",
                    f"{t.id} {what} the transition at line {other.line} ({other.id}); "
                    "remove one, or tell them apart with 'when', 'option' or 'unless'",
                )
        transitions.append(t)
    if not transitions:
        raise InputError(str(p), "no transitions: declare each with a [[transition]] table")

    spec = Spec(
        path=str(p),
        name=str(machine.get("name", "TCP")),
        reference=str(machine.get("reference", "")),
        initial=initial,
        options=options,
        option_help=option_help,
        states=tuple(states),
        events=events,
        segments=segments,
        transitions=tuple(transitions),
        retransmits=tuple(retransmits),
        signals=signals,
        responses=responses,
    )
    _check_when_guards(spec, text)
    return spec


def _check_when_guards(spec: Spec, text: str) -> None:
    # Guards are parsed with the property language so that both engines see
    # the same expression trees; imported here to keep spec.py leaf-level.
    from tcpcheck.model.expr import HISTORY_VARS, ExprError, parse

    for t in spec.transitions:
        if t.when is None:
            continue
        line = locate(text, "transition", t.index, "when")
        try:
            tree = parse(t.when)
        except ExprError as exc:
            raise InputError(where(spec.path, line), f"[[transition]] #{t.index + 1} field 'when': {exc}") from None
        for name in tree.names():
            owner, _, var = name.partition(".")
            if owner != "self" or var not in HISTORY_VARS:
                raise InputError(
                    where(spec.path, line),
                    f"[[transition]] #{t.index + 1} field 'when': {name!r} is not a history variable; "
                    f"use self.<{'|'.join(HISTORY_VARS)}>",
                )


def _raw_id(row: dict[str, Any]) -> str:
    return transition_id(str(row.get("from")), str(row.get("event")), str(row.get("to")), row.get("when"),
                         row.get("option"))


def _apply_mutant(path: Path, data: dict[str, Any], text: str) -> tuple[dict[str, Any], str]:
    """A mutant file names a base spec and changes to its transitions:

        [mutant]
        base = "embedded"            # or a spec path relative to this file
        description = "..."
        [[mutant.change]]
        transition = "CLOSE_WAIT--close-->LAST_ACK"
        to = "TIME_WAIT"             # any transition field; or remove = true
        [[mutant.add]]               # a whole new transition, as in a spec
        from = "LISTEN"
        event = "RST"
        to = "CLOSED"
        path = "error"
        rfc = "..."

    Returns the base spec's data with the changes applied, and the mutant's
    text (errors in the changes are located in the mutant file).
    """
    mutant = data["mutant"]
    if set(data) != {"mutant"} or not isinstance(mutant, dict):
        raise InputError(str(path), "a mutant file holds only a [mutant] table and its [[mutant.change]] entries")
    for key in mutant:
        # breaks/equivalent: what the mutant must break (tests/model/test_mutants.py);
        # operator: which mutation operator made it (tcpcheck mutate --write)
        if key not in ("base", "description", "change", "add", "breaks", "equivalent", "operator"):
            raise InputError(where(str(path), locate_key(text, key)), f"[mutant] unknown field '{str(key)[:40]}'; "
                             "allowed: add, base, breaks, change, description, equivalent, operator")
    base_name = mutant.get("base", "embedded")
    if not all(isinstance(mutant.get(k, ""), str) for k in ("base", "description", "operator")):
        raise InputError(str(path), "[mutant] 'base', 'description' and 'operator' must be strings")
    base = default_spec_path() if base_name == "embedded" else (path.parent / base_name)
    base_data, _ = read_toml(base)
    if "mutant" in base_data:
        raise InputError(str(path), f"[mutant] base {base_name!r} is itself a mutant; name a full spec")
    base_rows = base_data.get("transition", [])
    if not isinstance(base_rows, list) or not all(isinstance(t, dict) for t in base_rows):
        raise InputError(str(base), "'transition' must be an array of tables written [[transition]]")
    rows = [dict(t) for t in base_rows]
    changes = mutant.get("change", [])
    additions = mutant.get("add", [])
    if not isinstance(changes, list) or not isinstance(additions, list) or not changes and not additions:
        raise InputError(str(path), "a mutant needs at least one [[mutant.change]] or [[mutant.add]]")
    for i, change in enumerate(changes):
        line = locate(text, "mutant.change", i)
        if not isinstance(change, dict):
            raise InputError(where(str(path), line), f"[[mutant.change]] #{i + 1} must be a table")
        for key in change:
            if key not in TRANSITION_FIELDS | {"transition", "remove"}:
                raise InputError(where(str(path), locate(text, "mutant.change", i, key)),
                                 f"[[mutant.change]] #{i + 1}: unknown field '{str(key)[:40]}'; allowed: transition, "
                                 f"remove, or a transition field ({', '.join(sorted(TRANSITION_FIELDS))})")
        if not isinstance(change.get("remove", False), bool):
            raise InputError(where(str(path), locate(text, "mutant.change", i, "remove")),
                             f"[[mutant.change]] #{i + 1} field 'remove': must be true or false")
        target = change.get("transition")
        if not isinstance(target, str):
            raise InputError(where(str(path), line), f"[[mutant.change]] #{i + 1}: needs a string field 'transition'")
        matches = [n for n, row in enumerate(rows) if _raw_id(row) == target]
        if not matches:
            known = ", ".join(_raw_id(row) for row in rows[:4])
            raise InputError(
                where(str(path), line),
                f"[[mutant.change]] #{i + 1}: no transition {target!r} in {base}; ids look like: {known}, ...",
            )
        if change.get("remove"):
            del rows[matches[0]]
            continue
        for key, value in change.items():
            if key not in ("transition", "remove"):
                rows[matches[0]][key] = value
    for i, added in enumerate(additions):
        if not isinstance(added, dict):
            line = locate(text, "mutant.add", i)
            raise InputError(where(str(path), line), f"[[mutant.add]] #{i + 1} must be a table")
        rows.append(dict(added))
    base_data["transition"] = rows
    return base_data, text
