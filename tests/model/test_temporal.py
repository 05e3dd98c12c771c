"""Past time and steps in the property language (model/temporal.py), against a direct reading.

The monitors of ``once``, ``historically``, ``since`` and ``X.did`` are
checked along random walks against the formula evaluated over the walk's own
history; ``X.can(c)`` against the commands enabled in a state, read from
their actions. Both with the implementation option, where a SYN reopening
TIME_WAIT restarts an endpoint's per-connection history.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from tcpcheck.model import InputError, ModelOptions, build_system, load_spec
from tcpcheck.model.compose import wire_alphabet
from tcpcheck.model.expr import ExprError, parse, typecheck
from tcpcheck.model.gcl import evaluate
from tcpcheck.model.properties import load_properties
from tcpcheck.model.temporal import property_env
from tests.symbolic.conftest import require_spin

SPEC = load_spec()
WIRES = wire_alphabet(SPEC)
FORMULAS = {
    "once_established": "once(A.state == ESTABLISHED)",
    "never_time_wait": "historically(B.state != TIME_WAIT)",
    "open_since_syn_sent": "A.state != CLOSED since A.state == SYN_SENT",
    "got_fin": "A.did(rcvd.FIN)",
    "aborted_with_rst": "B.did(sent.RST and event == abort)",
    "nested": "once(A.did(rcvd.FIN) and B.state == TIME_WAIT)",
}


def _props(tmp: Path) -> list[object]:
    text = "".join(
        f'[[property]]\nname = "{name}"\nrfc = "RFC 9293 §3.3.2"\nkind = "invariant"\nexpr = "{expr}"\n'
        f'expect = "holds"\n\n'
        for name, expr in FORMULAS.items()
    )
    path = tmp / "past.toml"
    path.write_text(text)
    return load_properties(path)  # type: ignore[return-value]


def _step_has(cmd, actor: str, received_flag: str | None = None, sent_flag: str | None = None,  # type: ignore[no-untyped-def]
              event: str | None = None) -> bool:
    a = cmd.action
    if a.actor != actor:
        return False
    if received_flag and not (a.kind in ("rcv", "ignore") and received_flag in WIRES[a.received].flags):
        return False
    if sent_flag and not any(sent_flag in WIRES[s].flags for s in a.sends):
        return False
    return event is None or (a.kind in ("call", "timer") and a.event == event)


def _expected(system, walk: list[tuple[tuple[int, ...], int | None]]) -> dict[str, bool]:  # type: ignore[no-untyped-def]
    """Each formula's value at the end of ``walk``, from the walk itself (per-connection history)."""
    names = {ep: system.vars[f["state"]].values for ep, f in system.endpoints.items()}

    def st(ep: str, s: tuple[int, ...]) -> str:
        return names[ep][s[system.endpoints[ep]["state"]]]

    def restart(ep: str, cmd: int | None) -> bool:
        action = system.commands[cmd].action if cmd is not None else None
        return action is not None and action.new_connection and action.actor == ep

    def since_last_restart(ep: str) -> list[tuple[tuple[int, ...], int | None]]:
        starts = [i for i, (_, c) in enumerate(walk) if restart(ep, c)]
        return walk[starts[-1]:] if starts else walk

    a_hist, b_hist = since_last_restart("A"), since_last_restart("B")
    out = {
        "once_established": any(st("A", s) == "ESTABLISHED" for s, _ in a_hist),
        "never_time_wait": all(st("B", s) != "TIME_WAIT" for s, _ in b_hist),
        "got_fin": any(c is not None and _step_has(system.commands[c], "A", received_flag="FIN") for _, c in a_hist),
        "aborted_with_rst": any(c is not None and _step_has(system.commands[c], "B", sent_flag="RST", event="abort")
                                for _, c in b_hist),
    }
    # p since q: q at some point of A's connection, p at every point after it
    holds = False
    for s, _ in a_hist:
        holds = st("A", s) == "SYN_SENT" or (holds and st("A", s) != "CLOSED")
    out["open_since_syn_sent"] = holds
    # once(A.did(rcvd.FIN) and B.state == TIME_WAIT): mixes both endpoints, so it never restarts
    seen_fin = once = False
    for s, c in walk:
        if restart("A", c):
            seen_fin = False
        if c is not None and _step_has(system.commands[c], "A", received_flag="FIN"):
            seen_fin = True
        once = once or (seen_fin and st("B", s) == "TIME_WAIT")
    out["nested"] = once
    return out


@pytest.mark.parametrize("opts", [ModelOptions(bound=2), ModelOptions(bound=1, loss=True, spec_options={
    "implementation": True})], ids=["K2", "K1-loss-implementation"])
def test_monitors_follow_the_walks_history(tmp_path: Path, opts: ModelOptions) -> None:
    props = _props(tmp_path)
    system = build_system(SPEC, opts, props)
    assert len(system.monitors) == 6  # A.did(rcvd.FIN) is shared by got_fin and nested
    exprs = {p.name: p.instances(system)[0][1] for p in props}  # type: ignore[attr-defined]
    from tcpcheck.model.explicit import compile_successors, explore

    succ = compile_successors(system)
    space = explore(system)
    # Starts just before a new connection, so that walks exercise restarts (random walks rarely do).
    restart_edges = [src for src, _, cmd in space.edges if system.commands[cmd].action.new_connection]
    rng = random.Random(20)
    restarts = 0
    for n in range(300):
        walk: list[tuple[tuple[int, ...], int | None]] = [(system.init, None)]
        if restart_edges and n % 2:
            states, cmds = space.path_to(rng.choice(restart_edges))
            walk = list(zip(states, cmds, strict=True))
        for _ in range(rng.randint(1, 30)):
            options = succ(walk[-1][0])
            if not options:
                break
            restarting = [o for o in options if system.commands[o[0]].action.new_connection]
            cmd, nxt = rng.choice(restarting or options)
            walk.append((nxt, cmd))
            restarts += system.commands[cmd].action.new_connection
        for end in range(1, len(walk) + 1):
            want = _expected(system, walk[:end])
            got = {name: bool(evaluate(e, walk[end - 1][0])) for name, e in exprs.items()}
            assert got == want, [system.commands[c].name for _, c in walk[:end] if c is not None]
    assert (restarts > 0) == bool(opts.spec_options)  # with the implementation option, walks restart


def test_can_is_some_enabled_step(tmp_path: Path) -> None:
    system = build_system(SPEC, ModelOptions(bound=2, loss=True))
    env = property_env(system)
    cases = {
        "A.can(rcvd.RST)": lambda c: _step_has(c, "A", received_flag="RST"),
        "B.can(sent.FIN and not retransmit)": lambda c: _step_has(c, "B", sent_flag="FIN")
        and c.action.kind != "retransmit",
        "A.can(event == close)": lambda c: _step_has(c, "A", event="close"),
        "A.can(to == TIME_WAIT and A.state != TIME_WAIT)": lambda c: c.action.actor == "A"
        and bool(c.action.transitions) and c.action.transitions[-1].endswith("-->TIME_WAIT")
        and not c.action.transitions[0].startswith("TIME_WAIT--"),
    }
    from tcpcheck.model.explicit import explore

    states = explore(system).states
    rng = random.Random(3)
    for text, pick in cases.items():
        expr = typecheck(parse(text), env)
        for s in rng.sample(states, 400):
            want = any(pick(c) and evaluate(c.guard, s) for c in system.commands)
            assert bool(evaluate(expr, s)) == want, (text, system.show(s))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rcvd.RST", "describes a step"),
        ("A.did(once(rcvd.FIN))", "describes a step"),
        ("twice(A.state == CLOSED)", "unknown function 'twice'"),
        ("C.can(rcvd.RST)", "unknown function 'C.can'"),
        ("A.can(rcvd == FIN_WAIT_1)", "unknown name 'FIN_WAIT_1'"),
        ("A.can(to == ACK)", "unknown name 'ACK'"),
    ],
)
def test_step_names_and_functions_are_checked(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "p.toml"
    path.write_text(f'[[property]]\nname = "x"\nrfc = "RFC 9293 §3.10"\nkind = "invariant"\nexpr = "{text}"\n'
                    'expect = "holds"\n')
    with pytest.raises(InputError) as info:
        props = load_properties(path)
        system = build_system(SPEC, ModelOptions(bound=1), props)
        props[0].instances(system)
    assert message in str(info.value) and str(path) in str(info.value)


def test_a_monitor_needs_the_system_built_with_its_property() -> None:
    system = build_system(SPEC, ModelOptions(bound=1))
    assert system.monitors == {}
    with pytest.raises(ExprError, match="build the system with the properties"):
        typecheck(parse("once(A.state == ESTABLISHED)"), property_env(system))


def test_past_time_properties_agree_in_three_engines(tmp_path: Path) -> None:
    """Monitors are plain variables: Z3 and SPIN decide once/did properties as the explicit engine does."""
    from tcpcheck.model.explicit import check, explore
    from tcpcheck.model.symbolic import Checker
    from tcpcheck.tools.export import promela

    path = tmp_path / "past.toml"
    path.write_text(
        '[[property]]\nname = "active_opener_established"\nrfc = "RFC 9293 §3.5"\nkind = "invariant"\n'
        'expr = "once(A.state == ESTABLISHED) -> A.passive"\nexpect = "violated"\n\n'
        '[[property]]\nname = "fin_moves"\nrfc = "RFC 9293 §3.10.7.4"\nkind = "invariant"\neach = true\n'
        'expr = "self.did(rcvd.FIN and not ignored) -> once(self.state in {CLOSE_WAIT, CLOSING, TIME_WAIT, CLOSED})"\n'
        'expect = "holds"\n'
    )
    props = load_properties(path)
    system = build_system(SPEC, ModelOptions(bound=1), props)
    space = explore(system)
    explicit = [check(space, p) for p in props]
    assert [(v.verdict, v.as_expected) for v in explicit] == [("violated", True), ("holds", True)]
    z3 = Checker(system, explicit_space=lambda: space).check_all(props)
    assert [(v.verdict, v.instance) for v in z3] == [(v.verdict, v.instance) for v in explicit]
    assert z3[0].counterexample is not None and len(z3[0].counterexample) == len(explicit[0].counterexample or [])
    assert z3[1].extra.get("symbolic_proof")  # proved by Z3 over the monitor variables
    require_spin()
    text, checks = promela.export(system, props)
    got = promela.verdicts(checks, promela.read_pan(promela.run_spin(text, tmp_path), checks))
    assert got == {v.name: (v.verdict, v.instance) for v in explicit}


def test_the_textbook_time_wait_claim_with_once(tmp_path: Path) -> None:
    """"Only one endpoint reaches TIME_WAIT" with past time: simultaneous close refutes it (explicit and SPIN)."""
    from tcpcheck.model.explicit import check, explore
    from tcpcheck.tools.export import promela

    path = tmp_path / "one.toml"
    path.write_text(
        '[[property]]\nname = "one_side"\nrfc = "RFC 9293 §3.6"\nkind = "invariant"\n'
        'expr = "once(A.state == TIME_WAIT) and once(B.state == TIME_WAIT) -> A.aborted or B.aborted"\n'
        'expect = "violated"\n'
    )
    props = load_properties(path)
    system = build_system(SPEC, ModelOptions(bound=2), props)
    v = check(explore(system), props[0])
    assert v.verdict == "violated" and v.counterexample is not None
    assert any(st.states == {"A": "CLOSING", "B": "CLOSING"} for st in v.counterexample)
    require_spin()
    text, checks = promela.export(system, props)
    assert promela.verdicts(checks, promela.read_pan(promela.run_spin(text, tmp_path), checks)) == {
        "one_side": ("violated", "")}
