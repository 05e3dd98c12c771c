"""Z3's own PDR engine, Spacer, on the symbolic engine's encoding: the baseline IC3 is measured against.

The system becomes constrained Horn clauses over one relation ``Inv`` of the
state variables, one rule per guarded command::

    Inv(init).
    Inv(s) and domain(s) and helper(s) and guard_c(s) -> Inv(update_c(s))
    Inv(s) and domain(s) and helper(s) and target(s) -> Bad.      query: Bad

``helper`` is an invariant already proved (Houdini's), which only narrows
the search. Spacer answers "reachable" (Bad is derivable) or "unreachable"
(it found an interpretation of ``Inv`` that excludes the target).

Measured with ``bench/spacer_vs_ic3.py`` (K = 1 FIFO, 20 s per target, with
Houdini's invariant as helper): Spacer proves 5 of the 7 invariants and
times out on the 4-step violation of time_wait_naive and on
half_close_only_pair and established_iff_quiescent, and finds no path to
SYN_RCVD (3 steps); the engine's BMC, k-induction and IC3 decide all of them
in seconds. So the engine keeps its own IC3; this module stays as the
measured alternative and as a second opinion in the tests.

Nothing here knows about TCP.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import z3

from tcpcheck.model import gcl


@dataclass
class HornAnswer:
    """Spacer's answer for one target."""

    answer: str  # "reachable", "unreachable" or "unknown" (out of time, or Z3 gave up)
    seconds: float  # CPU seconds of the query


def reach(enc: Any, target: gcl.Expr, seconds: float, helper: gcl.Expr = gcl.TRUE) -> HornAnswer:
    """Is a state satisfying ``target`` reachable? Spacer over ``enc`` (``symbolic.Encoding``), within ``seconds``."""
    system: gcl.System = enc.system
    s = enc.state("horn")
    t0 = time.process_time()
    fp = z3.Fixedpoint()
    fp.set(engine="spacer")
    fp.set("timeout", max(1, int(seconds * 1000)))
    inv = z3.Function("Inv", *[x.sort() for x in s], z3.BoolSort())
    bad = z3.Bool("Bad")
    fp.register_relation(inv, bad.decl())
    fp.declare_var(*s)
    fp.rule(inv(*[_narrow(enc, enc.num(v), x) for v, x in zip(system.init, s, strict=True)]))
    body = z3.And(enc.domain(s), enc.cond(helper, s))
    for c in system.commands:
        updates = dict(c.updates)
        after = [x if v not in updates else _narrow(enc, enc.term(updates[v], s), x) for v, x in enumerate(s)]
        fp.rule(inv(*after), [inv(*s), body, enc.cond(c.guard, s)])
    fp.rule(bad, [inv(*s), body, enc.cond(target, s)])
    try:
        result = fp.query(bad)
    except z3.Z3Exception:  # the timeout surfaces as an exception
        result = z3.unknown
    answer = "reachable" if result == z3.sat else "unreachable" if result == z3.unsat else "unknown"
    return HornAnswer(answer, time.process_time() - t0)


def _narrow(enc: Any, term: Any, var: Any) -> Any:
    """``term`` (at the encoding's common width) at the width of ``var`` (bit-vectors are stored narrow)."""
    if enc.sort == "int" or term.size() == var.size():
        return term
    return z3.Extract(var.size() - 1, 0, term)
