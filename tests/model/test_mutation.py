"""Systematic mutants, the endpoint machine they run as, and the shared
compilation that checks them: each agrees with the model it stands for."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from tcpcheck.model import ModelOptions, build_system, compose, load_spec
from tcpcheck.model.endpoint import EndpointMachine
from tcpcheck.model.explicit import compile_successors, explore
from tcpcheck.model.family import derived_successors, derived_vector_successors
from tcpcheck.model.mutation import OPERATORS, Mutant, signature, systematic_mutants
from tcpcheck.model.spec import Spec

LINUX = {"implementation": True, "note3": False}


def test_every_operator_on_every_transition(spec: Spec) -> None:
    mutants = systematic_mutants(spec)
    states, segments = len(spec.states), len(spec.segments)
    sends = [t for t in spec.transitions if t.sends]
    assert Counter(m.operator for m in mutants) == {
        "retarget": len(spec.transitions) * (states - 1),
        "remove": len(spec.transitions),
        "drop_send": sum(len(t.sends) for t in sends),
        "change_send": sum(len(t.sends) for t in sends) * (segments - 1),
        "add_send": (len(spec.transitions) - len(sends)) * segments,
    }
    assert len({m.name for m in mutants}) == len(mutants)  # names are unique (file names)
    assert mutants == systematic_mutants(spec)  # and the order is fixed
    only = systematic_mutants(spec, ("remove",))
    assert {m.operator for m in only} == {"remove"}
    with pytest.raises(ValueError, match="unknown mutation operator"):
        systematic_mutants(spec, ("swap",))


def test_apply_edits_one_transition_of_a_copy(spec: Spec) -> None:
    tid = "ESTABLISHED--close-->FIN_WAIT_1"
    before = spec.transitions
    retargeted = Mutant("retarget", tid, to="CLOSING").apply(spec)
    assert spec.transitions == before
    changed = [t for t in retargeted.transitions if t not in before]
    assert [(t.source, t.event, t.target, t.sends) for t in changed] == [("ESTABLISHED", "close", "CLOSING", ("FIN",))]
    removed = Mutant("remove", tid).apply(spec)
    assert len(removed.transitions) == len(before) - 1 and tid not in {t.id for t in removed.transitions}
    with pytest.raises(KeyError):
        Mutant("remove", "NOWHERE--close-->CLOSED").apply(spec)


@pytest.mark.parametrize("mutant", [
    Mutant("retarget", "SYN_RCVD--RST[not self.passive]-->CLOSED", to="LISTEN"),
    Mutant("remove", "CLOSE_WAIT--close-->LAST_ACK"),
    Mutant("drop_send", "ESTABLISHED--FIN-->CLOSE_WAIT", sends=()),
    Mutant("change_send", "CLOSED--SYN-->CLOSED", sends=("RST",)),
    Mutant("add_send", "LISTEN--close-->CLOSED", sends=("RST",)),
], ids=lambda m: m.operator)
def test_mutant_file_round_trip(spec: Spec, mutant: Mutant, tmp_path: Path) -> None:
    """The file format of tests/mutants/ carries the same edit."""
    path = tmp_path / f"{mutant.name}.toml"
    path.write_text(mutant.to_toml())
    loaded, applied = load_spec(path), mutant.apply(spec)

    def shape(s: Spec) -> list[tuple[object, ...]]:
        return [(t.id, t.sends, t.path, t.rfc) for t in s.transitions]

    assert shape(loaded) == shape(applied)


def test_the_endpoint_machine_runs_the_composition(spec: Spec) -> None:
    m = EndpointMachine(spec, LINUX)
    local = m.initial
    seen = []
    for kind, name in [("call", "connect"), ("rcv", "SYN_ACK"), ("call", "close"), ("rcv", "FIN"),
                       ("rcv", "ACK_OF_FIN"), ("rcv", "FIN"), ("timer", "timeout_2msl")]:
        out = m.step(local, kind, name)
        assert out is not None and out.choices == 1
        seen.append((m.state(out.after), out.sends))
        local = out.after
    assert seen == [("SYN_SENT", ("SYN",)), ("ESTABLISHED", ("ACK",)), ("FIN_WAIT_1", ("FIN",)),
                    ("CLOSING", ("ACK_OF_FIN",)), ("TIME_WAIT", ()), ("TIME_WAIT", ("ACK_OF_FIN",)), ("CLOSED", ())]
    assert m.history(local)["fin_first"] and m.history(local)["rcvd_fin"]
    assert m.step(local, "call", "connect") is None  # one connection per endpoint
    ignored = m.step(m.initial, "rcv", "RST")
    assert ignored is not None and ignored.transitions == () and ignored.sends == ()
    # With RFC 9293 Note 3 an abort has two outcomes; the machine takes the first and says so.
    both = EndpointMachine(spec, {"note3": True})
    est = both.step(both.step(both.initial, "call", "connect").after, "rcv", "SYN_ACK").after  # type: ignore[union-attr]
    abort = both.step(est, "call", "abort")
    assert abort is not None and abort.choices == 2 and both.state(abort.after) == "CLOSED"


def test_signature_tells_machines_apart(spec: Spec) -> None:
    own = signature(EndpointMachine(spec, LINUX))
    assert own == signature(EndpointMachine(load_spec(), LINUX))
    retarget = Mutant("retarget", "CLOSE_WAIT--close-->LAST_ACK", to="TIME_WAIT").apply(spec)
    assert signature(EndpointMachine(retarget, LINUX)) != own
    # A transition switched off by the options: the same machine.
    note3 = Mutant("remove", "ESTABLISHED--abort(note3)-->TIME_WAIT").apply(spec)
    assert signature(EndpointMachine(note3, LINUX)) == own
    # Removing the refusal of a FIN on a closed port: the FIN is then taken
    # as its ACK and answered with the same RST (RFC 9293 §3.10.7.1), but the
    # history no longer records a received FIN: another machine.
    fin = EndpointMachine(Mutant("remove", "CLOSED--FIN-->CLOSED").apply(spec), LINUX)
    assert signature(fin) != own
    out = fin.step(fin.initial, "rcv", "FIN")
    assert out is not None and out.sends == ("RST",) and out.transitions == ("CLOSED--ACK-->CLOSED",)
    assert not fin.history(out.after)["rcvd_fin"]


_EDITS = (None, Mutant("retarget", "FIN_WAIT_2--FIN-->TIME_WAIT", to="CLOSED"),
          Mutant("add_send", "FIN_WAIT_1--ACK_OF_FIN-->FIN_WAIT_2", sends=("ACK",)),
          Mutant("remove", "SYN_SENT--SYN_ACK-->ESTABLISHED"),
          Mutant("change_send", "CLOSE_WAIT--close-->LAST_ACK", sends=("RST",)))


@pytest.mark.parametrize("options", [ModelOptions(), ModelOptions(bound=1, loss=True),
                                     pytest.param(ModelOptions(bound=2, duplicate=True, spec_options=LINUX),
                                                  marks=pytest.mark.slow)],  # 9 s of CPU
                         ids=["default", "loss-k1", "duplicate-k2-linux"])
def test_derived_compilation_explores_the_same_space(spec: Spec, options: ModelOptions) -> None:
    original = build_system(spec, options)
    compiled = compile_successors(original)
    for mutant in _EDITS:
        system = build_system(mutant.apply(spec) if mutant else spec, options)
        derived = derived_successors(original, compiled, system)
        assert derived is not None
        mine, engines = explore(system, successors=derived), explore(system)
        assert set(mine.states) == set(engines.states)
        assert sorted((mine.states[a], mine.states[b], c) for a, b, c in mine.edges) == \
            sorted((engines.states[a], engines.states[b], c) for a, b, c in engines.edges)


# the default configuration (5,116 states) is just above the size where
# catch.py takes this path; loss and reordering exercise it more, for less
@pytest.mark.parametrize("options", [pytest.param(ModelOptions(), marks=pytest.mark.slow),
                                     ModelOptions(bound=1, loss=True),
                                     ModelOptions(bound=1, reorder=True, spec_options=LINUX)],
                         ids=["default", "loss-k1", "reorder-k1-linux"])
def test_derived_vector_successors_explore_the_same_space(spec: Spec, options: ModelOptions) -> None:
    original = build_system(spec, options)
    compiled = explore(original).vector_successors()
    for mutant in _EDITS:
        system = build_system(mutant.apply(spec) if mutant else spec, options)
        mine = explore(system, record_edges=True, vector_successors=lambda layout, s=system:
                       derived_vector_successors(original, compiled, s, layout))
        engines = explore(system, record_edges=True)
        assert mine.count == engines.count
        assert set(mine.states) == set(engines.states)
        assert sorted((mine.states[a], mine.states[b], c) for a, b, c in mine.edges) == \
            sorted((engines.states[a], engines.states[b], c) for a, b, c in engines.edges)
    # systems over other variables do not line up: the caller compiles
    other = build_system(spec, ModelOptions(bound=options.bound + 1))
    assert derived_vector_successors(original, compiled, other, explore(other).layout) is None


@pytest.mark.parametrize("options", [ModelOptions(spec_options=LINUX), ModelOptions(bound=1, loss=True),
                                     ModelOptions(bound=2, reorder=True, duplicate=True)],
                         ids=["linux", "loss-k1", "reorder-duplicate-k2"])
def test_the_block_memo_composes_what_a_fresh_build_composes(spec: Spec, options: ModelOptions,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    # spec, mutants, spec again: the memo serves each from blocks the others filled
    specs = [mutant.apply(spec) if mutant else spec for mutant in (*_EDITS, None)]
    remembered = [build_system(s, options) for s in specs]
    monkeypatch.setattr(compose, "BLOCK_MEMO", False)
    fresh = [build_system(s, options) for s in specs]
    for a, b in zip(remembered, fresh, strict=True):
        assert a.commands == b.commands and a.vars == b.vars and a.init == b.init
    assert remembered[0].commands != remembered[1].commands  # the edit shows


def test_the_command_line_offers_every_operator() -> None:
    from tcpcheck.tools.cli.mutate import OPERATORS as OFFERED

    assert OFFERED == OPERATORS
