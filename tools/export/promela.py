"""The composed model as Promela, for SPIN: generated from the guarded commands.

Process ``system`` runs one ``do`` loop with one ``d_step`` per guarded command (the
comment above each names the command and the spec transitions it takes).
Variables whose values are names become ``mtype`` variables (one mtype per
distinct domain), false/true ones ``bool``, counters ``byte``. Properties:

* an invariant instance is ``assert((0 == ID) || p)``, checked by a monitor
  process that can run in every reachable state: the always-false clause
  only makes pan's message name the check (first: pan cuts a long
  assertion's text short);
* a ``reachable`` instance is ``assert((0 == ID) || !p)``: pan reporting
  it violated means a state satisfying p is reachable (pan's trail is a
  witness); no report after an exhaustive search means it is unreachable;
* ``recoverable`` properties (AG (from -> EF p)) are branching-time: LTL,
  and so SPIN, cannot state them. They are listed in a comment, not checked.

Run ``pan -c0`` (do not stop at the first error) so that every violated
assertion is reported. Nothing here knows about TCP.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tcpcheck.model import gcl
from tcpcheck.model.errors import InputError
from tcpcheck.model.properties import Property

KEYWORDS = {
    "active", "assert", "atomic", "bit", "bool", "break", "byte", "chan", "d_step", "do", "else", "empty", "enabled",
    "eval", "false", "fi", "full", "goto", "hidden", "if", "init", "int", "len", "mtype", "nempty", "never", "nfull",
    "od", "of", "pid", "printf", "proctype", "run", "short", "skip", "timeout", "true", "typedef", "unless",
    "unsigned", "xr", "xs",
}


@dataclass(frozen=True)
class Check:
    """One assertion in the export: which property instance, and how to read pan's report of it."""

    tag: int
    prop: str
    instance: str
    kind: str  # invariant | reachable


_VIOLATED = re.compile(r"assertion violated \(*\s*0\s*==\s*(\d+)\s*\)")


def _ident(text: str) -> str:
    out = re.sub(r"[^A-Za-z0-9_]", "_", text)
    return out if out and not out[0].isdigit() else f"v_{out}"


class _Names:
    """Promela names for variables and values, checked for clashes."""

    def __init__(self, system: gcl.System) -> None:
        self.system = system
        self.var = [_ident(v.name) for v in system.vars]
        self.kind: list[str] = []  # mtype:<group> | bool | byte
        self.groups: dict[tuple[str, ...], str] = {}
        self.value_names: dict[tuple[str, ...], list[str]] = {}
        state_vars = {f["state"] for f in system.endpoints.values()}
        chan_vars = {v for vs in system.channels.values() for v in vs}
        used: set[str] = set(self.var)
        for i, v in enumerate(system.vars):
            if v.values == ("false", "true"):
                self.kind.append("bool")
            elif all(x.isdigit() for x in v.values):
                if v.values != tuple(str(n) for n in range(v.size)) or v.size > 256:
                    raise InputError(v.name, "a numeric domain must be 0..N-1 with N <= 256 to export it")
                self.kind.append("byte")
            else:
                if v.values not in self.groups:
                    base = ("state" if i in state_vars else "segment" if i in chan_vars
                            else _ident(v.name.split(".")[-1]))
                    name = base if base not in self.groups.values() else f"{base}{len(self.groups)}"
                    self.groups[v.values] = name
                    values = ["none" if x == "-" else _ident(x) for x in v.values]
                    clash = [x for x in values if x in used or x in KEYWORDS]
                    if clash or len(set(values)) != len(values):
                        raise InputError(v.name, f"value name {clash[0] if clash else values!r} clashes in Promela")
                    used.update(values)
                    self.value_names[v.values] = values
                self.kind.append(f"mtype:{self.groups[v.values]}")
        clashes = used & KEYWORDS
        if clashes:
            raise InputError("promela", f"name {sorted(clashes)[0]!r} is a Promela keyword")

    def value(self, var: int, value: int) -> str:
        """Promela text for ``value`` of variable ``var``."""
        kind, v = self.kind[var], self.system.vars[var]
        if kind == "bool":
            return "true" if value else "false"
        if kind == "byte":
            return str(value)
        if not 0 <= value < v.size:
            raise InputError(v.name, f"value {value} is outside the domain")
        return self.value_names[v.values][value]


def _enum_ref(e: gcl.Expr, names: _Names) -> int | None:
    return e.var if isinstance(e, gcl.Ref) and names.kind[e.var].startswith("mtype") else None


def _comment(text: str) -> str:
    """Text for a ``/* */`` comment: printable ASCII on one line that cannot
    close the comment. Names and RFC references come from the spec and the
    properties file, and SPIN's pipeline compiles the model as C: a ``*/``
    or a newline there would put input into code."""
    plain = "".join(c if " " <= c <= "~" else "?" for c in text)
    while "*/" in plain or "/*" in plain:
        plain = plain.replace("*/", "* /").replace("/*", "/ *")
    return plain


def expr(e: gcl.Expr, names: _Names) -> str:
    """Promela text for a gcl expression (as an integer-valued or boolean expression)."""
    if isinstance(e, gcl.Const):
        return str(e.value)
    if isinstance(e, gcl.Ref):
        if names.kind[e.var].startswith("mtype"):
            return f"({names.var[e.var]} != {names.value(e.var, 0)})"  # an enum as a truth value: not its first
        return names.var[e.var]
    if isinstance(e, gcl.Not):
        return f"!{expr(e.arg, names)}"
    if isinstance(e, gcl.And | gcl.Or):
        op = " && " if isinstance(e, gcl.And) else " || "
        return "(" + op.join(expr(a, names) for a in e.args) + ")"
    if isinstance(e, gcl.Add):
        return "(" + " + ".join(expr(a, names) for a in e.args) + ")"
    if isinstance(e, gcl.Ite):
        return f"({expr(e.cond, names)} -> {expr(e.then, names)} : {expr(e.other, names)})"
    left, right = e.left, e.right
    lv, rv = _enum_ref(left, names), _enum_ref(right, names)
    if lv is not None or rv is not None:
        if e.op not in ("==", "!="):
            raise InputError("promela", f"'{e.op}' on a named value cannot be exported")
        if lv is not None and isinstance(right, gcl.Const):
            return f"({names.var[lv]} {e.op} {names.value(lv, right.value)})"
        if rv is not None and isinstance(left, gcl.Const):
            return f"({names.value(rv, left.value)} {e.op} {names.var[rv]})"
        if lv is not None and rv is not None:
            return f"({names.var[lv]} {e.op} {names.var[rv]})"
        raise InputError("promela", "a named value compared with a computed number cannot be exported")
    return f"({expr(left, names)} {e.op} {expr(right, names)})"


def _assign(var: int, e: gcl.Expr, names: _Names) -> str:
    if isinstance(e, gcl.Const):
        return f"{names.var[var]} = {names.value(var, e.value)}"
    if isinstance(e, gcl.Ref) and names.kind[e.var] == names.kind[var]:
        return f"{names.var[var]} = {names.var[e.var]}"
    if names.kind[var].startswith("mtype"):
        raise InputError(names.system.vars[var].name, "a computed value for a named variable cannot be exported")
    return f"{names.var[var]} = {expr(e, names)}"


def _ordered(updates: Sequence[tuple[int, gcl.Expr]]) -> tuple[list[tuple[int, gcl.Expr]], list[tuple[int, gcl.Expr]]]:
    """Sequential order for simultaneous assignments: (in order, needing a temporary).

    An assignment goes after every other one that still reads its variable;
    what is left in a cycle is copied through temporaries.
    """
    rest = list(updates)
    done: list[tuple[int, gcl.Expr]] = []
    while rest:
        free = [u for u in rest if not any(u[0] in gcl.free_vars(o[1]) for o in rest if o is not u)]
        if not free:
            return done, rest
        done.append(free[0])
        rest.remove(free[0])
    return done, []


def export(system: gcl.System, props: Sequence[Property], title: str = "") -> tuple[str, list[Check]]:
    """Promela source for ``system`` with ``props`` as assertions, and the checks it contains."""
    names = _Names(system)
    out: list[str] = []
    w = out.append
    w("/*")
    w(" * Generated by `tcpcheck export --promela` from the guarded commands of the composed model.")
    if title:
        w(f" * {_comment(title)}")
    w(" * Options: " + ", ".join(f"{k}={v}" for k, v in system.options.items()))
    w(" * Check: spin -a THIS.pml && gcc -O2 -DSAFETY -o pan pan.c && ./pan -c0 -m1000000")
    w(" * Every 'assertion violated (((0==N))|| ...' line names check N below.")
    w(" */")
    w("")
    for values, group in names.groups.items():
        w(f"mtype:{group} = {{ {', '.join(names.value_names[values])} }};")
    w("")
    for i, v in enumerate(system.vars):
        kind = names.kind[i]
        w(f"{kind} {names.var[i]} = {names.value(i, system.init[i])};  /* {_comment(v.name)} */")
    w("hidden int tmp0, tmp1, tmp2, tmp3;")
    w("")

    found: list[Check] = []
    w("/* Properties (instances per endpoint where the property says 'each'). */")
    skipped = []
    for p in props:
        reason = p.skipped_by(system.options)
        if reason or p.kind == "recoverable":
            skipped.append((p, reason or "AG EF is branching-time: not expressible in LTL, not checked by SPIN"))
            continue
        for label, e, _ in p.instances_from(system):
            ident = len(found) + 1
            found.append(Check(ident, p.name, label, p.kind))
            body = expr(e, names) if p.kind == "invariant" else f"!{expr(e, names)}"
            what = "invariant: always" if p.kind == "invariant" else "reachable: violated = a witness exists"
            w(f"/* check {ident}: {_comment(p.name + (' [' + label + ']' if label else ''))} ({what}) */")
            w(f"#define check_{ident} assert((0 == {ident}) || {body})")
    for p, reason in skipped:
        w(f"/* not checked: {_comment(f'{p.name} ({p.kind}): {reason}')} */")
    w("")
    if found:
        # A monitor that may run in every state checks every assertion there;
        # written once (not after each command) so pan.c stays small for gcc.
        w("active proctype monitor() {")
        w("end_monitor:")
        w("  do")
        w("  :: d_step {")
        for c in found:
            w(f"       check_{c.tag};")
        w("     }")
        w("  od")
        w("}")
        w("")
    w("active proctype system() {")
    w("end:")
    w("  do")
    for cmd in system.commands:
        a = cmd.action
        trans = f" [{', '.join(a.transitions)}]" if a.transitions else ""
        w(f"  /* {_comment(f'{cmd.name}: {a.describe()}{trans}')} */")
        seq, cyclic = _ordered(cmd.updates)
        stmts: list[str] = []
        if len(cyclic) > 4:
            raise InputError(cmd.name, "too many mutually dependent assignments to export")
        stmts += [f"tmp{k} = {expr(e, names)}" for k, (_, e) in enumerate(cyclic)]
        stmts += [_assign(var, e, names) for var, e in seq]
        stmts += [f"{names.var[var]} = tmp{k}" for k, (var, _) in enumerate(cyclic)]
        w(f"  :: d_step {{ {expr(cmd.guard, names)} -> {'; '.join(stmts) or 'skip'} }}")
    w("  od")
    w("}")
    return "\n".join(out) + "\n", found


def read_pan(output: str, checks: Sequence[Check]) -> dict[tuple[str, str], bool]:
    """Which checks pan reported violated: (property, instance) -> violated.

    Raises RuntimeError when pan's search was not exhaustive (depth limit,
    out of memory), since "no violation" would then prove nothing.
    """
    # pan's own messages, not an assertion's or a statement's text (which may name a variable such as A_aborted)
    messages = [line for line in output.splitlines()
                if line.lstrip().startswith(("pan:", "error:", "cpu")) and "assertion violated" not in line]
    for bad in ("max search depth too small", "out of memory", "insufficient memory", "aborted"):
        if any(bad in line for line in messages):
            raise RuntimeError(f"pan's search was not exhaustive: {bad}")
    seen = {int(m) for m in _VIOLATED.findall(output)}
    return {(c.prop, c.instance): c.tag in seen for c in checks}


def stored_states(output: str) -> int | None:
    """The number of states pan stored (None if absent)."""
    m = re.search(r"(\d+) states, stored", output)
    return int(m.group(1)) if m else None


def verdicts(checks: Sequence[Check], violated: dict[tuple[str, str], bool]) -> dict[str, tuple[str, str]]:
    """Per property: (verdict, instance), with the same meaning as the other engines' verdicts."""
    out: dict[str, tuple[str, str]] = {}
    for c in checks:
        hit = violated[(c.prop, c.instance)]
        ok = not hit if c.kind == "invariant" else hit
        prev = out.get(c.prop)
        if prev is not None and prev[0] == "violated":
            continue
        out[c.prop] = ("holds", "") if ok else ("violated", c.instance)
    return out


def spin_commands(gcc_opt: str = "-O2", pan_args: Sequence[str] = (), defines: Sequence[str] = (),
                  depth: int = 1_000_000) -> list[list[str]]:
    """SPIN's pipeline on ``model.pml``: ``spin -a -o2``, ``gcc``, ``./pan -c0`` (exhaustive).

    ``-o2`` keeps write-only variables, so that pan's state count equals the
    explicit engine's; ``-DSAFETY`` because every check is an assertion;
    ``-c0`` reports every violated assertion, not only the first.
    ``defines``: more compile-time options for pan (``-DCOLLAPSE``,
    ``-DMEMLIM=2048``); ``depth``: pan's search depth bound (``-m``).
    """
    return [["spin", "-a", "-o2", "model.pml"], ["gcc", gcc_opt, "-DSAFETY", *defines, "-o", "pan", "pan.c"],
            ["./pan", "-c0", f"-m{depth}", *pan_args]]


def pan_hash_width(states: int) -> str:
    """pan's ``-w`` for about ``states`` states: a table near their number keeps pan fast and small."""
    return f"-w{max(19, min(27, states.bit_length() + 1))}"


def run_spin(text: str, workdir: Path, gcc_opt: str = "-O2", pan_args: Sequence[str] = ()) -> str:
    """Write ``text`` to ``workdir/model.pml``, run SPIN's pipeline there, and return pan's report.

    Raises RuntimeError naming the stage when spin or gcc fails or pan prints no result.
    """
    (workdir / "model.pml").write_text(text)
    for cmd in spin_commands(gcc_opt, pan_args):
        done = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True)
        if cmd[0] != "./pan" and done.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}): {(done.stdout + done.stderr)[-600:]}")
    if "errors:" not in done.stdout:
        raise RuntimeError(f"pan printed no result: {(done.stdout + done.stderr)[-600:]}")
    return done.stdout
