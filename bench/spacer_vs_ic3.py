"""Z3's Spacer (PDR over constrained Horn clauses) against the home-made IC3, target by target.

Both answer "is a state satisfying this reachable?" on the same encoding
(``tcpcheck.model.symbolic.Encoding``) of the same guarded commands: for
each configuration and each property instance (an invariant's negation, or
a reachability target), Spacer and IC3 each get ``--seconds``, on one core,
one after the other. Spacer's system is the transition relation as Horn
clauses, one rule per guarded command (``tcpcheck.model.spacer``), over
integer state variables (``--sort int``) or bit-vectors (``bv``);
``--houdini`` adds Houdini's inductive invariant to every rule body (sound:
every reachable state satisfies it), the same help IC3 gets in the engine.
IC3 runs as the engine runs it: seeded with Houdini's clauses and guided by
a breadth-first sample of reachable states.

Systems are built as the engine builds them, with the past-time monitors
the properties use (without them, ``A.did(...)`` has no variable). Both
sides get Houdini's invariant computed with the target's negation among the
candidates, as in the engine. ``--option`` passes Fixedpoint parameters to
Spacer; ``--skip-ic3`` runs Spacer alone.

Prints per target: the answer (reachable / unreachable / timeout) and CPU
seconds of each (Houdini's included), and the totals.

    python bench/spacer_vs_ic3.py --bounds 1 --seconds 60
    python bench/spacer_vs_ic3.py --bounds 1,2,3 --configs fifo --houdini
    python bench/spacer_vs_ic3.py --bounds 3 --configs fifo --houdini --property established_iff_quiescent \
        --skip-ic3 --option fp.spacer.global=true

Measured (December 2026, 2 loaded cores, CPU seconds), K = 3 FIFO, on the
two invariants IC3 alone proves there. Houdini: 2,251 clauses in 32 s. This
bench's IC3 (Houdini's time included, 240 s budget) proves
established_iff_quiescent in 140 s and half_close_only_pair A and B in 35 s
and 34 s; in the whole engine its IC3 phase takes 150 to 180 s. Spacer, per
property, every run "unknown" at its budget:

    established_iff_quiescent  bv,  helper, one rule per command           120 s
    established_iff_quiescent  int, helper, one rule per command           120 s
    established_iff_quiescent  bv,  no helper                               90 s
    established_iff_quiescent  bv,  helper, one rule with the selector      90 s
    established_iff_quiescent  bv,  helper, z3.SolverFor("HORN")           90 s
    established_iff_quiescent  bv,  helper, spacer.global, no inline_linear 90 s
    established_iff_quiescent  bv,  helper, xform.bit_blast                 90 s
    established_iff_quiescent  bv,  helper, no inductive generalizer,
                                    no xform.slice                          90 s
    half_close_only_pair (A or B) bv, helper                                90 s
    half_close_only_pair (A or B) bv, helper, xform.bit_blast               90 s
    established_iff_quiescent  int, helper, this bench (--skip-ic3)         60 s

Houdini's invariant as a lemma instead (``Fixedpoint.add_cover`` at level
-1, slicing off, before the first query) crashes Z3 (segmentation fault).
k-induction strengthened by the same invariant proves nothing on
established_iff_quiescent for k = 1..10 (66 s in all, 31 s for k = 10
alone). At K = 1 FIFO, 20 s each: Spacer proves half_close_only_pair A and
B (15-18 s with Houdini) and listen_only_passive (5-6 s); IC3 all four in
about 4 s.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CONFIGS = {"fifo": (False, False), "reorder": (True, False), "loss": (False, True), "reorder+loss": (True, True)}


def _system(k: int, name: str) -> Any:
    """The system the engine checks: with the past-time monitors the properties use (``A.did(...)``)."""
    from tcpcheck.model import ModelOptions, build_system, load_properties, load_spec

    reorder, loss = CONFIGS[name]
    return build_system(load_spec(), ModelOptions(bound=k, reorder=reorder, loss=loss), load_properties())


def _spacer(job: tuple) -> tuple[str, float]:
    from tcpcheck.model import gcl, spacer
    from tcpcheck.model.symbolic import Encoding, houdini, sample_states

    k, name, target, sort, with_houdini, options, seconds = job
    system = _system(k, name)
    enc = Encoding(system, sort)
    t0 = time.process_time()
    # As the engine asks: the target's negation is one of Houdini's candidates.
    helper = houdini(enc, [gcl.Not(target)], samples=sample_states(system, 20000)).expr() if with_houdini \
        else gcl.TRUE
    out = spacer.reach(enc, target, seconds, helper, dict(options))
    return out.answer, time.process_time() - t0


def _ic3(job: tuple) -> tuple[str, float]:
    from tcpcheck.model import gcl
    from tcpcheck.model.ic3 import IC3, Budget
    from tcpcheck.model.symbolic import Encoding, houdini, sample_states

    k, name, target, *_, seconds = job
    system = _system(k, name)
    enc = Encoding(system)
    t0 = time.process_time()
    samples = sample_states(system, 20000)
    st = houdini(enc, [gcl.Not(target)], samples=samples)
    cubes = [tuple(sorted((st.atoms[i][0], st.atoms[i][2]) for i in pair)) for pair in st.pairs]
    try:
        out = IC3(enc, cubes, st.extra, samples=samples).reach(target, seconds)
        answer = "reachable" if out.reachable else "unreachable"
    except Budget:
        answer = "timeout"
    return answer, time.process_time() - t0


def _run(fn: Callable[[tuple], tuple[str, float]], job: tuple) -> tuple[str, float]:
    """In a fresh process (Z3 keeps memory between queries), with a hard stop past the budget."""
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:
        result = pool.apply_async(fn, (job,))
        try:
            return result.get(timeout=job[-1] * 2 + 60)  # type: ignore[no-any-return]
        except multiprocessing.TimeoutError:
            return "timeout", float(job[-1])


def _option(text: str) -> tuple[str, bool | int | str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise SystemExit(f"--option {text!r}: expected KEY=VALUE, e.g. fp.spacer.global=true")
    if value in ("true", "false"):
        return key, value == "true"
    return key, int(value) if value.isdigit() else value


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bounds", default="1,2")
    ap.add_argument("--configs", default="fifo,reorder+loss")
    ap.add_argument("--seconds", type=float, default=60.0, help="budget per target and engine")
    ap.add_argument("--sort", choices=("int", "bv"), default="int", help="Spacer's state variables")
    ap.add_argument("--houdini", action="store_true", help="Houdini's invariant in Spacer's rule bodies")
    ap.add_argument("--property", action="append", default=[], help="only these properties (repeatable)")
    ap.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                    help="a z3 Fixedpoint parameter for Spacer, e.g. fp.spacer.global=true (repeatable)")
    ap.add_argument("--skip-ic3", action="store_true", help="run Spacer only")
    args = ap.parse_args()
    options = tuple(_option(o) for o in args.option)
    from tcpcheck.model import gcl, load_properties

    print(f"{'config':16} {'property':28} {'inst':4} {'spacer':>12} {'cpu s':>7} {'ic3':>12} {'cpu s':>7}")
    totals = {"spacer": 0.0, "ic3": 0.0}
    decided = {"spacer": 0, "ic3": 0}
    for name in args.configs.split(","):
        for k in (int(b) for b in args.bounds.split(",")):
            system = _system(k, name)
            for p in load_properties():
                if p.kind == "recoverable" or p.skipped_by(system.options) or (args.property and
                                                                                p.name not in args.property):
                    continue
                for label, expr, _ in p.instances_from(system):
                    target = gcl.Not(expr) if p.kind == "invariant" else expr
                    job = (k, name, target, args.sort, args.houdini, options, args.seconds)
                    sp, sp_s = _run(_spacer, job)
                    ic, ic_s = ("skipped", 0.0) if args.skip_ic3 else _run(_ic3, job)
                    for tool, answer, secs in (("spacer", sp, sp_s), ("ic3", ic, ic_s)):
                        totals[tool] += secs
                        decided[tool] += answer in ("reachable", "unreachable")
                    known = {"reachable", "unreachable"}
                    flag = "  DISAGREE" if sp in known and ic in known and sp != ic else ""
                    print(f"K={k} {name:12} {p.name:28} {label:4} {sp:>12} {sp_s:7.1f} {ic:>12} {ic_s:7.1f}{flag}",
                          flush=True)
    print(f"decided: spacer {decided['spacer']}, ic3 {decided['ic3']}; cpu seconds: spacer {totals['spacer']:.0f}, "
          f"ic3 {totals['ic3']:.0f} (budget {args.seconds:.0f} s per target and engine)")


if __name__ == "__main__":
    main()
