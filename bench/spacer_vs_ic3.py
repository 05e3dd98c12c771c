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

Prints per target: the answer (reachable / unreachable / timeout) and CPU
seconds of each, and the totals.

    python bench/spacer_vs_ic3.py --bounds 1 --seconds 60
    python bench/spacer_vs_ic3.py --bounds 1,2,3 --configs fifo --houdini
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CONFIGS = {"fifo": (False, False), "reorder": (True, False), "loss": (False, True), "reorder+loss": (True, True)}


def _spacer(job: tuple) -> tuple[str, float]:
    from tcpcheck.model import ModelOptions, build_system, gcl, load_spec, spacer
    from tcpcheck.model.symbolic import Encoding, houdini, sample_states

    k, name, target, sort, with_houdini, seconds = job
    reorder, loss = CONFIGS[name]
    system = build_system(load_spec(), ModelOptions(bound=k, reorder=reorder, loss=loss))
    enc = Encoding(system, sort)
    t0 = time.process_time()
    helper = houdini(enc, samples=sample_states(system, 20000)).expr() if with_houdini else gcl.TRUE
    out = spacer.reach(enc, target, seconds, helper)
    return out.answer, time.process_time() - t0


def _ic3(job: tuple) -> tuple[str, float]:
    from tcpcheck.model import ModelOptions, build_system, load_spec
    from tcpcheck.model.ic3 import IC3, Budget
    from tcpcheck.model.symbolic import Encoding, houdini, sample_states

    k, name, target, _, _, seconds = job
    reorder, loss = CONFIGS[name]
    system = build_system(load_spec(), ModelOptions(bound=k, reorder=reorder, loss=loss))
    enc = Encoding(system)
    t0 = time.process_time()
    samples = sample_states(system, 20000)
    st = houdini(enc, samples=samples)
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bounds", default="1,2")
    ap.add_argument("--configs", default="fifo,reorder+loss")
    ap.add_argument("--seconds", type=float, default=60.0, help="budget per target and engine")
    ap.add_argument("--sort", choices=("int", "bv"), default="int", help="Spacer's state variables")
    ap.add_argument("--houdini", action="store_true", help="Houdini's invariant in Spacer's rule bodies")
    ap.add_argument("--property", action="append", default=[], help="only these properties (repeatable)")
    args = ap.parse_args()
    from tcpcheck.model import ModelOptions, build_system, gcl, load_properties, load_spec

    print(f"{'config':16} {'property':28} {'inst':4} {'spacer':>12} {'cpu s':>7} {'ic3':>12} {'cpu s':>7}")
    totals = {"spacer": 0.0, "ic3": 0.0}
    decided = {"spacer": 0, "ic3": 0}
    for name in args.configs.split(","):
        for k in (int(b) for b in args.bounds.split(",")):
            reorder, loss = CONFIGS[name]
            system = build_system(load_spec(), ModelOptions(bound=k, reorder=reorder, loss=loss))
            for p in load_properties():
                if p.kind == "recoverable" or p.skipped_by(system.options) or (args.property and
                                                                                p.name not in args.property):
                    continue
                for label, expr, _ in p.instances_from(system):
                    target = gcl.Not(expr) if p.kind == "invariant" else expr
                    job = (k, name, target, args.sort, args.houdini, args.seconds)
                    sp, sp_s = _run(_spacer, job)
                    ic, ic_s = _run(_ic3, job)
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
