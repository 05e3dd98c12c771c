"""Stack profiles (``specs/profiles/<stack>.toml``): the documented ways a
real stack departs from the RFC 9293 machine.

A step that differs from the model is a ``deviation`` only when an entry
here names the same expectation, the same observation, the transition of
that step (when given; not merely one the scenario covers), a condition
that holds, the socket calls the scenario must
(``after_calls``) or must not (``unless_calls``) have made before the step,
and the segments the peer must have sent before it (``after_injects``);
anything else is a failure. The calls scope an entry to its context:
"passive SYN_RCVD is a request socket" applies after ``listen``, not to the
SYN_RCVD of a simultaneous open; "close with unread data sends RST" only
after the peer sent data that no ``recv`` read. After a deviation the
runner checks the entry's ``instead`` (the state the stack must then be
in), then walks the scenario's later acting steps on the model from that
state (``replay``): they were written for the RFC path, the stack left it,
and what the model says comes next from where it is replaces their
expectations. An entry without ``instead`` ends the check there (the later
steps are skipped, with the reason).
What the runner cannot drive is a ``[[not_drivable]]`` entry, scoped by
``after_calls`` when it depends on the calls made, never a deviation.

What the user is told: a ``[[signal]]`` entry maps a signal of the spec
(``specs/tcp.toml``: reset, refused, closing, timeout) to what a socket
call says on this stack (``recv`` raises ECONNRESET, returns 0: ``EOF``).
After every transition that signals the user, the runner makes that call
and compares; a different answer is a deviation only when an entry
documents it for that transition (``expected = "told ECONNREFUSED"``,
``observed = "told ECONNRESET"``), else a failure. The spec's
``[[response]]`` entries (what the RFC answers a SEND or CLOSE once the
connection is closing or gone) are mapped the same way, to ``send`` (of no
bytes) or ``shutdown_wr`` (again), and asked after every transition into
the states they name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from tcpcheck.model.errors import InputError
from tcpcheck.model.spec import read_toml
from tcpcheck.tools.scenario import CALLS, SEGMENTS, STATES

KINDS = ("differs", "extension", "note", "told")
# The socket calls that tell the user (``Endpoint.told``) and what they may
# say, by the RFC call they make: '' for a signal (asked after the
# transition that signals), send and close for a spec [[response]] (asked in
# the states it names; the sockets API's CLOSE that keeps the descriptor is
# shutdown(SHUT_WR): close() has nobody left to tell).
TOLD_CALLS = ("recv", "connect")
PROBE_CALLS = {"": TOLD_CALLS, "send": ("send",), "close": ("shutdown_wr",)}
TOLD_RESULTS = ("EOF", "EAGAIN", "connected", "ok")


def told_text(result: str) -> str:
    """How a call's answer appears in profile entries: ``told ECONNRESET``."""
    return f"told {result}"
# What a loopback scenario must do before the call for an entry to apply.
PROVOKE = {"unread_data": "the peer sends data this side does not read"}


@dataclass(frozen=True)
class Deviation:
    """One documented departure from the RFC machine."""

    id: str
    reference: str
    # "extension": a non-RFC transition it takes; "note": no verdict; "told":
    # the transition is taken as the RFC says, but the user is told something
    # else ("told ERRNO" expected and observed; the state and segments are
    # unchanged, so the loopback generator still walks the transition)
    kind: str = "differs"
    transition: str = ""
    # A "told" entry instead of a transition: every transition into this state
    # (what the user is told of a SEND or CLOSE depends on the state alone;
    # a retransmitted FIN re-entering CLOSING is answered as the first entry).
    state: str = ""
    expected: str = ""
    observed: str = ""
    condition: dict[str, str] = field(default_factory=dict)  # sysctl -> value
    note: str = ""
    after_calls: tuple[str, ...] = ()  # socket calls the scenario must have made before the step
    unless_calls: tuple[str, ...] = ()  # socket calls it must not have made
    # What the stack does instead, in the spec's vocabulary: the state it
    # enters and the segments it sends (the loopback runner's model check
    # takes this as a transition of the model, for this entry only).
    instead_to: str = ""
    instead_sends: tuple[str, ...] = ()
    provoke: str = ""  # how a generated loopback scenario makes it happen (PROVOKE)
    after_injects: tuple[str, ...] = ()  # segments the peer must have sent before the step
    # A guard over the endpoint's history in the spec's own terms (its
    # ``when`` syntax: "self.passive"): the precondition as the model states
    # it, which the loopback judge puts on the entry's transition.
    when: str = ""
    # Model options (the spec's [options]) the comparison must run under:
    # e.g. rfc1337 = false, since with the option on the model itself
    # ignores the RST and there is nothing to document.
    options: dict[str, bool] = field(default_factory=dict)

    def in_context(self, calls: tuple[str, ...], injects: tuple[str, ...] = (),
                   history: frozenset[str] | None = None) -> bool:
        """The scenario's calls and injected segments so far fit this
        entry's scope, and (given the ``history`` variables that hold) its
        ``when`` guard holds."""
        if self.when and history is not None:
            from tcpcheck.tools.generate.drivable import guard_holds  # drivable reads profiles

            if not guard_holds(self.when, history):
                return False
        return (all(c in calls for c in self.after_calls) and not any(c in calls for c in self.unless_calls)
                and all(s in injects for s in self.after_injects))

    def applies(self, sysctls: dict[str, str], options: dict[str, bool] | None = None) -> bool:
        """The condition holds under ``sysctls`` (short or full names) and,
        given the model ``options`` in force, the entry's option values."""
        if options is not None and any(options.get(k) != v for k, v in self.options.items()):
            return False
        for key, value in self.condition.items():
            full = key if key.startswith("net/") else "net/ipv4/" + key
            if sysctls.get(full, sysctls.get(key)) != value:
                return False
        return True


@dataclass(frozen=True)
class NotDrivable:
    """A transition of the RFC machine the stack cannot be driven through."""

    transition: str
    reason: str
    # Socket calls made before the step that make it undrivable (empty:
    # never drivable); e.g. close in SYN_RCVD after listen (a request
    # socket, no descriptor) but not after connect (simultaneous open).
    after_calls: tuple[str, ...] = ()


@dataclass(frozen=True)
class Setting:
    """A setting a scenario may need that the stack has without it being
    set: it behaves as ``value`` always (lwIP ignores a RST in TIME_WAIT as
    Linux does with tcp_rfc1337=1), or, with value ANY, the setting only
    tunes a timer the adapter fires on its own clock."""

    name: str  # as scenarios name it (tcp_rfc1337)
    value: str
    reference: str


# A [[setting]] value: any value the scenario asks is provided.
ANY = "any"


@dataclass(frozen=True)
class Told:
    """What one spec signal looks like through the stack's sockets API."""

    signal: str  # a [[signal]] of the spec
    call: str  # the socket call that tells it (TOLD_CALLS)
    result: str  # an errno name, or one of TOLD_RESULTS
    reference: str
    note: str = ""


@dataclass(frozen=True)
class Profile:
    """A stack's documented deviations."""

    name: str
    stack: str
    deviations: tuple[Deviation, ...] = ()
    not_drivable: tuple[NotDrivable, ...] = ()
    path: str = ""
    options: dict[str, bool] = field(default_factory=dict)  # model options the stack matches
    signals: dict[str, Told] = field(default_factory=dict)  # spec signal -> what the sockets API says
    settings: dict[str, Setting] = field(default_factory=dict)  # what the stack has without setting it
    # [[timer]]: a timer's full length in ms, as the stack (re)arms it (Linux TIME_WAIT: 60000)
    timer_lengths: dict[str, int] = field(default_factory=dict)
    # The stack is the spec's own machine (the model stack): the non-RFC
    # transitions its options turn on are its behaviour, not a departure
    # from RFC 9293 that an "extension" entry must document.
    runs_the_spec: bool = False

    def lacks(self, name: str, value: str) -> str:
        """Why this profile's stack cannot provide setting ``name`` = ``value``
        ('' when its [[setting]] says it has it)."""
        have = self.settings.get(name)
        if have is None:
            return "no [[setting]] in its profile says it has it"
        if have.value not in (ANY, value):
            return f"it behaves as {name} = {have.value} ({have.reference})"
        return ""

    def find(
        self,
        expected: str,
        observed: str,
        transitions: tuple[str, ...],
        sysctls: dict[str, str],
        calls: tuple[str, ...] = (),
        injects: tuple[str, ...] = (),
        history: frozenset[str] | None = None,
        options: dict[str, bool] | None = None,
    ) -> Deviation | None:
        """The entry documenting this difference, if any (``calls``: the
        socket calls the scenario made before the step; ``injects``: the
        segments the peer sent before it; ``history``: the spec's history
        variables that hold; ``options``: the model options in force)."""
        for d in self.deviations:
            if d.kind not in ("differs", "told") or d.expected != expected or d.observed != observed:
                continue
            if d.transition and d.transition not in transitions:
                continue
            if d.state and not any(t.rpartition("-->")[2] == d.state for t in transitions):
                continue
            if d.applies(sysctls, options) and d.in_context(calls, injects, history):
                return d
        return None

    def model_options(self, spec_options: dict[str, bool]) -> dict[str, bool]:
        """The model options a comparison with this stack runs under: the
        spec's defaults with the profile's own values over them."""
        return {**spec_options, **self.options}

    def extensions(self, transitions: tuple[str, ...]) -> list[Deviation]:
        """Entries for non-RFC transitions among ``transitions``."""
        return [d for d in self.deviations if d.kind == "extension" and d.transition in transitions]

    def entry(self, ident: str) -> Deviation | None:
        """The entry called ``ident`` (notes too), or None."""
        return next((d for d in self.deviations if d.id == ident), None)

    def reason_not_drivable(self, transition: str, calls: tuple[str, ...] | None = None) -> str | None:
        """Why ``transition`` cannot be driven on this stack, or None. With
        ``calls`` (the socket calls made before the step), also the entries
        scoped by ``after_calls`` that those calls fit; without, only the
        entries that hold everywhere."""
        return next((n.reason for n in self.not_drivable if n.transition == transition
                     and (not n.after_calls if calls is None else all(c in calls for c in n.after_calls))), None)


def profile_path(name: str) -> Path:
    """The shipped profile called ``name`` (e.g. ``linux``)."""
    return Path(str(resources.files("tcpcheck.specs.profiles").joinpath(f"{name}.toml")))


def load_profile(path: str | Path | None = None, known_transitions: set[str] | None = None,
                 known_signals: set[str] | dict[str, str] | None = None) -> Profile:
    """Load and validate a profile (the shipped Linux one by default);
    InputError names the file and entry on any problem (``known_signals``:
    what ``[[signal]]`` entries may name, the spec's ``told_calls``; a set
    holds signals only)."""
    p = Path(path) if path is not None else profile_path("linux")
    data, _ = read_toml(p)
    _only(data, {"profile", "deviation", "not_drivable", "signal", "setting", "timer"}, str(p), "table")
    head = data.get("profile")
    if not isinstance(head, dict) or not isinstance(head.get("name"), str):
        raise InputError(str(p), "needs a [profile] table with 'name' and 'stack'")
    _only(head, {"name", "stack", "options"}, f"{p}: [profile]")
    if not isinstance(head.get("stack", ""), str):
        raise InputError(f"{p}: [profile]", "'stack' must be a string")
    deviations = []
    for i, row in enumerate(_table_rows(data, "deviation", p)):
        where = f"{p}: [[deviation]] #{i + 1}"
        _only(row, DEVIATION_FIELDS, where)
        for key in ("transition", "state", "expected", "observed", "note", "kind", "provoke"):
            if not isinstance(row.get(key, ""), str):
                raise InputError(where, f"'{key}' must be a string")
        for key in ("id", "reference"):
            if not isinstance(row.get(key), str) or not row[key]:
                raise InputError(where, f"missing '{key}'")
        kind = row.get("kind", "differs")
        if kind not in KINDS:
            raise InputError(where, f"kind {kind!r}: use one of {', '.join(KINDS)}")
        transition = row.get("transition", "")
        if known_transitions is not None and transition and transition not in known_transitions:
            raise InputError(where, f"unknown transition {transition!r} (ids are FROM--event-->TO)")
        state = row.get("state", "")
        if state and (kind != "told" or transition or state not in STATES):
            raise InputError(where, f"state {state[:40]!r}: only a 'told' entry names a state ({', '.join(STATES)}), "
                                    "and then no transition")
        if kind in ("differs", "told") and not (row.get("expected") and row.get("observed")):
            raise InputError(where, f"a '{kind}' entry needs 'expected' and 'observed'")
        told = [row.get(k, "").startswith("told ") for k in ("expected", "observed")]
        if kind == "told" and not all(told) or kind != "told" and any(told):
            raise InputError(where, "what the user is told ('told ERRNO' in expected and observed) is a kind = "
                                    "\"told\" entry, and only that")
        condition = row.get("condition", {})
        if not isinstance(condition, dict) or not all(isinstance(v, str | int) for v in condition.values()):
            raise InputError(where, "condition must be a table of sysctl = \"value\"")
        scope: dict[str, Any] = {}
        for key in ("after_calls", "unless_calls"):
            value = row.get(key, [])
            if not isinstance(value, list) or not all(c in CALLS for c in value):
                raise InputError(where, f"{key} must be a list of socket calls ({', '.join(CALLS)})")
            scope[key] = tuple(value)
        instead = row.get("instead", {})
        if not isinstance(instead, dict) or set(instead) - {"to", "sends"} or \
                not isinstance(instead.get("to", ""), str) or \
                not isinstance(instead.get("sends", []), list) or \
                not all(isinstance(x, str) for x in instead.get("sends", [])):
            raise InputError(where, "instead must be a table { to = \"STATE\", sends = [\"SEGMENT\", ...] }")
        if instead and (kind != "differs" or "to" not in instead):
            raise InputError(where, "instead needs 'to', and only a 'differs' entry has it")
        if instead and instead["to"] not in STATES:
            raise InputError(where, f"instead.to {instead['to'][:40]!r} is not a state ({', '.join(STATES)})")
        for segment in instead.get("sends", []):
            if segment not in SEGMENTS:
                raise InputError(where, f"instead.sends: {segment[:40]!r} is not a segment ({', '.join(SEGMENTS)})")
        scope["instead_to"] = instead.get("to", "")
        scope["instead_sends"] = tuple(instead.get("sends", []))
        provoke = row.get("provoke", "")
        if provoke and provoke not in PROVOKE:
            raise InputError(where, f"provoke {provoke!r}: use one of {', '.join(PROVOKE)}")
        scope["provoke"] = provoke
        injects = row.get("after_injects", [])
        if not isinstance(injects, list) or not all(isinstance(s, str) and s.split(":")[0] in SEGMENTS
                                                      for s in injects):
            raise InputError(where, f"after_injects must be a list of segments ({', '.join(SEGMENTS)}),"
                                    " optionally SEGMENT:variant")
        scope["after_injects"] = tuple(injects)
        when = row.get("when", "")
        if not isinstance(when, str):
            raise InputError(where, "'when' must be a guard over the spec's history, e.g. \"self.passive\"")
        if when:
            from tcpcheck.model.expr import HISTORY_VARS, ExprError, parse

            try:
                names = set(parse(when).names())
            except ExprError as exc:
                raise InputError(where, f"when {when[:60]!r}: {exc}") from None
            bad = sorted(n for n in names if n.partition(".")[0] != "self" or n.partition(".")[2] not in HISTORY_VARS)
            if bad:
                raise InputError(where, f"when names {bad[0][:40]!r}: a guard reads this endpoint's history, "
                                        f"self.<{'|'.join(HISTORY_VARS)}>")
        scope["when"] = when
        model_options = row.get("options", {})
        if not isinstance(model_options, dict) or not all(isinstance(v, bool) for v in model_options.values()):
            raise InputError(where, "options must be a table of model option = true/false")
        if model_options:
            from tcpcheck.model.spec import embedded_spec

            known = embedded_spec().options  # the embedded spec's, as the entries' transitions
            unknown = sorted(k for k in model_options if k not in known)
            if unknown:
                raise InputError(where, f"options: unknown model option {unknown[0][:40]!r}; "
                                        f"the spec has {', '.join(sorted(known))}")
        scope["options"] = {str(k): bool(v) for k, v in model_options.items()}
        deviations.append(Deviation(
            id=row["id"], reference=row["reference"], kind=kind, transition=transition, state=state,
            expected=row.get("expected", ""), observed=row.get("observed", ""),
            condition={str(k): str(v) for k, v in condition.items()}, note=row.get("note", ""),
            **scope,
        ))
    blocked = []
    for i, row in enumerate(_table_rows(data, "not_drivable", p)):
        _only(row, {"transition", "reason", "after_calls"}, f"{p}: [[not_drivable]] #{i + 1}")
        if not isinstance(row.get("transition"), str) or not isinstance(row.get("reason"), str) \
                or not row["transition"] or not row["reason"]:
            raise InputError(f"{p}: [[not_drivable]] #{i + 1}", "needs 'transition' and 'reason'")
        if known_transitions is not None and row["transition"] not in known_transitions:
            raise InputError(f"{p}: [[not_drivable]] #{i + 1}", f"unknown transition {row['transition']!r}")
        after = row.get("after_calls", [])
        if not isinstance(after, list) or not all(c in CALLS for c in after):
            raise InputError(f"{p}: [[not_drivable]] #{i + 1}",
                             f"after_calls must be a list of socket calls ({', '.join(CALLS)})")
        blocked.append(NotDrivable(row["transition"], row["reason"], tuple(after)))
    options = head.get("options", {})
    if not isinstance(options, dict) or not all(isinstance(v, bool) for v in options.values()):
        raise InputError(f"{p}: [profile]", "options must be a table of model option = true/false")
    return Profile(str(head["name"]), str(head.get("stack", "")), tuple(deviations), tuple(blocked), str(p),
                   dict(options), _signals(data, p, known_signals), _settings(data, p), _timers(data, p))


def _timers(data: dict[str, Any], p: Path) -> dict[str, int]:
    """The ``[[timer]]`` entries (name, length_ms, reference), validated."""
    out: dict[str, int] = {}
    for i, row in enumerate(_table_rows(data, "timer", p)):
        where = f"{p}: [[timer]] #{i + 1}"
        _only(row, {"name", "length_ms", "reference"}, where)
        for key in ("name", "reference"):
            if not isinstance(row.get(key), str) or not row[key]:
                raise InputError(where, f"missing '{key}' (a string)")
        length = row.get("length_ms")
        if not isinstance(length, int) or isinstance(length, bool) or length <= 0:
            raise InputError(where, "length_ms must be a positive whole number of milliseconds")
        if row["name"] in out:
            raise InputError(where, f"timer {row['name']!r} is listed twice")
        from tcpcheck.model.spec import embedded_spec
        from tcpcheck.model.timed import load_timed

        known = sorted(t.name for t in load_timed(embedded_spec()).timers)  # the embedded spec's, as the runner's
        if row["name"] not in known:
            raise InputError(where, f"unknown timer {row['name'][:40]!r}; specs/timed.toml has {', '.join(known)}")
        out[row["name"]] = length
    return out


def _settings(data: dict[str, Any], p: Path) -> dict[str, Setting]:
    """The ``[[setting]]`` entries, validated."""
    out: dict[str, Setting] = {}
    for i, row in enumerate(_table_rows(data, "setting", p)):
        where = f"{p}: [[setting]] #{i + 1}"
        _only(row, {"name", "value", "reference"}, where)
        for key in ("name", "value", "reference"):
            if not isinstance(row.get(key), str) or not row[key]:
                raise InputError(where, f"missing '{key}' (a string)")
        if row["name"] in out:
            raise InputError(where, f"setting {row['name']!r} is listed twice")
        out[row["name"]] = Setting(row["name"], row["value"], row["reference"])
    return out


def _signals(data: dict[str, Any], p: Path, given: set[str] | dict[str, str] | None) -> dict[str, Told]:
    """The ``[[signal]]`` entries, validated."""
    known = dict.fromkeys(given, "") if isinstance(given, set) else given
    out: dict[str, Told] = {}
    for i, row in enumerate(_table_rows(data, "signal", p)):
        where = f"{p}: [[signal]] #{i + 1}"
        _only(row, {"signal", "call", "result", "reference", "note"}, where)
        for key in ("signal", "call", "result", "reference", "note"):
            if not isinstance(row.get(key, ""), str):
                raise InputError(where, f"'{key}' must be a string")
        for key in ("signal", "call", "result", "reference"):
            if not row.get(key):
                raise InputError(where, f"missing '{key}'")
        signal, call, result = row["signal"], row["call"], row["result"]
        if known is not None and signal not in known:
            raise InputError(where, f"unknown signal {signal!r}; the spec has {', '.join(sorted(known))}")
        if signal in out:
            raise InputError(where, f"signal {signal!r} is mapped twice")
        calls = PROBE_CALLS[known[signal]] if known is not None else tuple(c for v in PROBE_CALLS.values() for c in v)
        if call not in calls:
            raise InputError(where, f"call {call!r}: use one of {', '.join(calls)}")
        if result not in TOLD_RESULTS and not (result.startswith("E") and result.isalnum() and result.isupper()):
            raise InputError(where, f"result {result!r}: an errno name (ECONNRESET) or one of "
                                    f"{', '.join(TOLD_RESULTS)}")
        out[signal] = Told(signal, call, result, row["reference"], row.get("note", ""))
    return out


DEVIATION_FIELDS = frozenset({"id", "reference", "kind", "transition", "state", "expected", "observed", "condition",
                              "after_calls", "unless_calls", "instead", "provoke", "after_injects", "note", "when",
                              "options"})


def _only(table: dict[str, Any], allowed: set[str] | frozenset[str], where: str, what: str = "field") -> None:
    """Reject a key the profile format does not have (a typo would silently widen a deviation)."""
    for key in table:
        if key not in allowed:
            raise InputError(where, f"unknown {what} '{str(key)[:40]}'; allowed: {', '.join(sorted(allowed))}")


def _table_rows(data: dict[str, Any], table: str, p: Path) -> list[dict[str, Any]]:
    rows = data.get(table, [])
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise InputError(str(p), f"'{table}' must be an array of tables written [[{table}]]")
    return rows


def choose_profile(name: str, known_transitions: set[str] | None = None) -> Profile | None:
    """The profile a ``--profile`` option names: ``rfc`` (none: the bare
    RFC 9293 machine), a shipped profile (``linux``), or a TOML file."""
    if name == "rfc":
        return None
    shipped = profile_path(name)
    if "/" not in name and not name.endswith(".toml"):
        if not shipped.exists():
            names = sorted(p.stem for p in shipped.parent.glob("*.toml"))
            raise InputError("--profile", f"no profile {name!r}; use rfc, {', '.join(names)} or a TOML file")
        return load_profile(shipped, known_transitions)
    return load_profile(name, known_transitions)
