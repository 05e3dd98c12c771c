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

Measured again at K = 3 FIFO (34 variables, 528 commands) on the two
invariants only IC3 proves there (150 to 180 CPU seconds for
established_iff_quiescent), with Houdini's 2,251 clauses as helper: Spacer
decided neither within 90 to 120 CPU seconds in any variant tried, with or
without the helper, bit-vectors or integers, one rule per command or one
rule with the selector encoding of ``symbolic.Encoding.trans``, through
``z3.Fixedpoint`` or ``z3.SolverFor("HORN")``, and with
``fp.spacer.global``, ``fp.xform.inline_linear=false``,
``fp.xform.bit_blast``, ``fp.spacer.use_inductive_generalizer=false`` with
``fp.xform.slice=false``. Figures in ``bench/spacer_vs_ic3.py``.

Nothing here knows about TCP.
"""

from __future__ import annotations

import threading
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


def reach(enc: Any, target: gcl.Expr, seconds: float, helper: gcl.Expr = gcl.TRUE,
          options: dict[str, Any] | None = None) -> HornAnswer:
    """Is a state satisfying ``target`` reachable? Spacer over ``enc`` (``symbolic.Encoding``), within ``seconds``.

    ``seconds`` is CPU time of this process (Z3's own timeout is wall clock,
    which moves with the machine's load); ``options`` are further
    ``z3.Fixedpoint`` parameters (e.g. ``{"fp.spacer.global": True}``).
    """
    system: gcl.System = enc.system
    s = enc.state("horn")
    t0 = time.process_time()
    fp = z3.Fixedpoint()
    fp.set(engine="spacer")
    for key, value in (options or {}).items():
        fp.set(key, value)
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
    done = threading.Event()
    watchdog = threading.Thread(target=_interrupt_after, args=(t0 + seconds, done), daemon=True)
    watchdog.start()
    try:
        result = fp.query(bad)
    except z3.Z3Exception:  # the interruption surfaces as an exception
        result = z3.unknown
    finally:
        done.set()
        watchdog.join()
    answer = "reachable" if result == z3.sat else "unreachable" if result == z3.unsat else "unknown"
    return HornAnswer(answer, time.process_time() - t0)


def _interrupt_after(deadline: float, done: threading.Event) -> None:
    """Interrupt Z3 once this process has used ``deadline`` seconds of CPU, unless ``done`` first."""
    while not done.wait(0.2):
        if time.process_time() >= deadline:
            z3.main_ctx().interrupt()
            return


def _narrow(enc: Any, term: Any, var: Any) -> Any:
    """``term`` (at the encoding's common width) at the width of ``var`` (bit-vectors are stored narrow)."""
    if enc.sort == "int" or term.size() == var.size():
        return term
    return z3.Extract(var.size() - 1, 0, term)
