"""W and Wp suites are complete for m extra states: every mutant machine with
up to m extra states that differs from the model is told apart by some test
sequence, and a suite built for fewer extra states can miss one."""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Hashable

import pytest

from tcpcheck.tools.generate.drivable import DriveModel
from tcpcheck.tools.generate.paths import Explorer
from tcpcheck.tools.generate.wmethod import Mealy, machine, suite_sequences


def _copy(m: Mealy) -> Mealy:
    return Mealy(m.initial, dict(m.label), dict(m.delta), dict(m.edge_of))


def equivalent(spec: Mealy, impl: Mealy) -> bool:
    """Same observations on every input sequence the spec defines (BFS on pairs)."""
    seen = {(spec.initial, impl.initial)}
    todo: deque[tuple[Hashable, Hashable]] = deque(seen)
    while todo:
        s, t = todo.popleft()
        for i in spec.inputs(s):
            if (t, i) not in impl.delta:
                return False
            (o1, s2), (o2, t2) = spec.delta[(s, i)], impl.delta[(t, i)]
            if o1 != o2:
                return False
            if (s2, t2) not in seen:
                seen.add((s2, t2))
                todo.append((s2, t2))
    return True


def detects(suite: list[tuple[str, ...]], spec: Mealy, impl: Mealy) -> bool:
    return any(spec.run(seq) != impl.run(seq) for seq in suite)


def _context(node: Hashable) -> str:
    return str(node).split(":")[-1].partition("/")[2]


def mutant(m: Mealy, extra: int, rng: random.Random) -> Mealy:
    """Add ``extra`` copies of nodes (same label, same edges), route one edge
    into each copy in a chain, then change one edge of the last copy (its
    output or its target): a fault that needs the extra states to show."""
    impl = _copy(m)
    live = [s for s in m.states if m.inputs(s)]
    entry_key = rng.choice(sorted(impl.delta, key=repr))
    for n in range(extra):
        _, target = impl.delta[entry_key]
        if not impl.inputs(target):
            break
        copy = f"copy{n}:{target}"
        impl.label[copy] = impl.label[target]
        for i in impl.inputs(target):
            impl.delta[(copy, i)] = impl.delta[(target, i)]
            impl.edge_of[(copy, i)] = impl.edge_of[(target, i)]
        out, _ = impl.delta[entry_key]
        impl.delta[entry_key] = (out, copy)
        entry_key = (copy, rng.choice(impl.inputs(copy)))
    src, i = entry_key
    out, dst = impl.delta[entry_key]
    if rng.random() < 0.5:
        # A wrong state: a node with the same drive context (what the tester
        # holds is the tester's, not the stack's, to get wrong).
        same = [s for s in live if _context(s) == _context(dst) and s != dst]
        wrong = rng.choice(same) if same else dst
        # The state observed after a step is the state the stack is in.
        impl.delta[entry_key] = ((out[0], impl.label[wrong]), wrong)
    else:
        segs, state = out
        impl.delta[entry_key] = (((*segs, "RST"), state), dst)
    return impl


@pytest.fixture(scope="module")
def spec_machine(linux: DriveModel, explorer: Explorer) -> Mealy:
    return machine(linux, explorer)


@pytest.mark.parametrize("partial", [False, True], ids=["W", "Wp"])
@pytest.mark.parametrize("m", [0, 1])
def test_suite_finds_every_mutant_with_up_to_m_extra_states(spec_machine: Mealy, m: int, partial: bool) -> None:
    suite = suite_sequences(spec_machine, m, partial)
    rng = random.Random(4 + m)
    killed = 0
    for _ in range(300):
        impl = mutant(spec_machine, rng.randint(0, m), rng)
        if equivalent(spec_machine, impl):
            continue
        assert detects(suite, spec_machine, impl), "a non-equivalent mutant escaped"
        killed += 1
    assert killed > 100


def test_w_for_no_extra_state_misses_a_mutant_with_two(spec_machine: Mealy) -> None:
    # The guarantee is tight enough to matter: a suite built for m = 0 lets
    # some faults hidden behind extra states through, the m = 2 suite does not.
    small, big = suite_sequences(spec_machine, 0, False), suite_sequences(spec_machine, 2, False)
    rng = random.Random(11)
    escaped = 0
    for _ in range(400):
        impl = mutant(spec_machine, 2, rng)
        if equivalent(spec_machine, impl):
            continue
        assert detects(big, spec_machine, impl)
        escaped += not detects(small, spec_machine, impl)
    assert escaped > 0


def test_wp_is_no_larger_than_w(spec_machine: Mealy) -> None:
    for m in (0, 1, 2):
        w, wp = suite_sequences(spec_machine, m, False), suite_sequences(spec_machine, m, True)
        assert sum(map(len, wp)) <= sum(map(len, w))
