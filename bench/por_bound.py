"""How many states partial-order reduction could save here at most, before anyone builds it.

An optimistic ample-set search: at each state, the enabled commands of one
actor (an endpoint, or the network on one channel) are explored alone when
none of them changes a variable some property reads (invisible) and each
commutes, at this very state, with every other enabled command (same state
by either order). No cycle proviso and a dynamic (exact) independence test:
a real reduction keeps at least as many states, and would also have to keep
counterexamples shortest, which ample sets do not promise.

Measured (this script, default configurations), states full / ample upper bound:

    K=1 FIFO          914 /    914   (0 %)
    K=2 FIFO        3 300 /  3 300   (0 %)
    K=1 reorder+loss 11 060 / 8 672  (22 %)
    K=2 loss        82 260 / 77 732  (5.5 %)

Nearly every move changes an endpoint's state or a channel the properties
read, so they are visible; the symmetry reduction already halves the space.

    python bench/por_bound.py --configs 1,fifo 2,loss
"""

from __future__ import annotations

import argparse
from collections import deque

from tcpcheck.model import ModelOptions, build_system, gcl, load_properties, load_spec
from tcpcheck.model.explicit import compile_successors

CONFIGS = {"fifo": (False, False), "reorder": (True, False), "loss": (False, True), "reorder+loss": (True, True)}


def ample_bound(k: int, reorder: bool, loss: bool) -> tuple[int, int]:
    """(states, states kept by the optimistic ample-set search) for one configuration."""
    system = build_system(load_spec(), ModelOptions(bound=k, reorder=reorder, loss=loss))
    visible: set[int] = set()
    for p in load_properties():
        if not p.skipped_by(system.options):
            for _, expr, source in p.instances_from(system):
                visible |= gcl.free_vars(expr) | gcl.free_vars(source)
    succ = compile_successors(system)
    actor = [c.action.actor + c.action.channel for c in system.commands]
    invisible = [not any(v in visible for v, _ in c.updates) for c in system.commands]

    def after(cmd: int, state: tuple[int, ...]) -> tuple[int, ...] | None:
        return next((s for c, s in succ(state) if c == cmd), None)

    def explore(reduce: bool) -> int:
        seen = {system.init}
        queue = deque([system.init])
        while queue:
            state = queue.popleft()
            enabled = succ(state)
            chosen = enabled
            for who in sorted({actor[c] for c, _ in enabled}) if reduce else ():
                mine = [(c, s) for c, s in enabled if actor[c] == who]
                if len(mine) == len(enabled) or not all(invisible[c] for c, _ in mine):
                    continue
                if all(after(u, s) is not None and after(u, s) == after(c, t)
                       for c, s in mine for u, t in enabled if actor[u] != who):
                    chosen = mine
                    break
            for _, nxt in chosen:
                if nxt not in seen:
                    seen.add(nxt)
                    queue.append(nxt)
        return len(seen)

    return explore(False), explore(True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--configs", nargs="*", default=["1,fifo", "2,fifo", "1,reorder+loss", "2,loss"],
                    help="K,channels pairs (channels: " + ", ".join(CONFIGS) + ")")
    args = ap.parse_args()
    for item in args.configs:
        k, name = item.split(",")
        full, kept = ample_bound(int(k), *CONFIGS[name])
        saved = 100 * (full - kept) / full
        print(f"K={k} {name:13} states {full:>9}  ample upper bound {kept:>9}  ({saved:.1f} % fewer)", flush=True)


if __name__ == "__main__":
    main()
