"""The timed model (model/timed.py): why TIME_WAIT exists.

Small configurations (MSL = 1 tick) in the default run; the default MSL of
specs/timed.toml and the sweep over MSL 1..3 under the ``slow`` mark.
"""

from __future__ import annotations

import functools
import subprocess
import sys
from pathlib import Path

import pytest

from tcpcheck.model import load_properties, load_spec
from tcpcheck.model.errors import InputError
from tcpcheck.model.results import Step
from tcpcheck.model.timed import (
    Search,
    TimedOptions,
    build_timed_system,
    first_violations,
    load_timed,
    parse_segment,
    parse_shown,
    retransmitted_in,
    sweep_time_wait,
)

NO_TIME_WAIT = str(Path(__file__).resolve().parents[1] / "mutants" / "timed" / "no_time_wait.toml")
PROPS = ("no_old_segment_accepted", "passive_closer_not_reset")


@functools.cache
def search(spec_path: str | None = None, time_wait: int | None = None, msl: int = 1, **spec_options: bool) -> Search:
    spec = load_spec(spec_path)
    durations = {} if time_wait is None else {"time_wait": time_wait}
    system = build_timed_system(spec, load_timed(spec), TimedOptions(msl=msl, durations=durations,
                                                                     spec_options=spec_options))
    return first_violations(system, load_properties(model="timed"))


def states_of(steps: list[Step], ep: str) -> list[str]:
    return [parse_shown(st.states[ep])[0] for st in steps]


def test_timed_properties_are_separate_from_the_untimed_ones() -> None:
    untimed = {p.name for p in load_properties()}
    timed = {p.name for p in load_properties(model="timed")}
    assert set(PROPS) == timed
    assert not timed & untimed


def test_both_hold_with_time_wait_of_two_msl() -> None:
    found = search()
    assert found.violated == {}
    assert found.states > 1000  # searched exhaustively, not stopped early


def test_without_time_wait_the_passive_closer_is_reset() -> None:
    label, steps = search(NO_TIME_WAIT).violated["passive_closer_not_reset"]
    last = steps[-1]
    # the passive closer, in LAST_ACK, receives a RST from a peer that is CLOSED
    assert last.actor == label and last.kind == "rcv" and parse_segment(last.received)[0] == "RST"
    assert states_of(steps, label)[-2] == "LAST_ACK"
    other = "A" if label == "B" else "B"
    assert "TIME_WAIT" not in states_of(steps, other)


def test_without_time_wait_an_old_segment_is_taken_for_new() -> None:
    label, steps = search(NO_TIME_WAIT).violated["no_old_segment_accepted"]
    last = steps[-1]
    name, inc, _ = parse_segment(last.received)
    _, receiver_inc, _ = parse_shown(last.states[label])
    assert last.actor == label and inc < receiver_inc
    # the receiver's state moved: the old segment was processed as the new connection's
    assert states_of(steps, label)[-2] != states_of(steps, label)[-1]


def test_a_time_wait_timer_that_fires_at_once_is_no_time_wait() -> None:
    found = search(time_wait=0)
    assert set(found.violated) == set(PROPS)
    fired = [(steps, st) for _, steps in found.violated.values() for st in steps if st.event == "timeout_2msl"]
    assert fired
    for steps, st in fired:
        entered = max(s.step for s in steps[: st.step] if parse_shown(s.states[st.actor])[0] != "TIME_WAIT") + 1
        # TIME_WAIT left in the instant it was entered: no tick in between
        assert all(s.kind != "tick" for s in steps[entered: st.step])


def test_a_time_wait_one_tick_short_lets_the_retransmitted_fin_meet_a_closed_port() -> None:
    found = search(time_wait=1)
    assert set(found.violated) == {"passive_closer_not_reset"}
    label, steps = found.violated["passive_closer_not_reset"]
    kinds = [s.kind for s in steps]
    assert "lose" in kinds and "tick" in kinds and "retransmit" in kinds
    fired = next(i for i, s in enumerate(steps) if s.event == "timeout_2msl")
    rst = next(i for i, s in enumerate(steps) if s.actor == label and parse_segment(s.received or "X#0@0")[0] == "RST")
    assert fired < rst


def test_without_rfc1337_time_wait_is_assassinated() -> None:
    found = search(rfc1337=False)
    label, steps = found.violated["no_old_segment_accepted"]
    killed = [s for s in steps if s.kind == "rcv" and "RST" in s.received
              and parse_shown(s.states[s.actor])[0] == "CLOSED" and s.transitions == ("TIME_WAIT--RST-->CLOSED",)]
    assert killed, "the counterexample goes through a RST ending TIME_WAIT (RFC 1337 hazard H1)"


def test_sweep_finds_the_smallest_time_wait() -> None:
    spec = load_spec()
    rows = sweep_time_wait(spec, load_timed(spec), TimedOptions(), [1], load_properties(model="timed"))
    assert rows[0]["smallest_time_wait"] == 2
    assert [t["time_wait"] for t in rows[0]["tried"]] == [0, 1, 2]
    assert rows[0]["tried"][-1]["exhaustive"]


@pytest.mark.slow
def test_sweep_over_msl_one_to_three() -> None:
    spec = load_spec()
    rows = sweep_time_wait(spec, load_timed(spec), TimedOptions(), [1, 2, 3], load_properties(model="timed"))
    # max(2 MSL - 1, MSL + RTO) with RTO = 1: see docs/time_wait.md
    assert [r["smallest_time_wait"] for r in rows] == [2, 3, 5]


@pytest.mark.slow
def test_default_configuration_holds() -> None:
    assert search(msl=2).violated == {}


# ------------------------------------------------------------------ input --


def test_bad_timed_options_raise_one_named_error() -> None:
    spec = load_spec()
    tspec = load_timed(spec)
    for opts, flag in ((TimedOptions(msl=0), "--msl"), (TimedOptions(incarnations=0), "--incarnations"),
                       (TimedOptions(durations={"time_wait": -1}), "--time-wait"),
                       (TimedOptions(losses=-1), "--losses"), (TimedOptions(rto=0), "--rto")):
        with pytest.raises(InputError) as exc:
            build_timed_system(spec, tspec, opts)
        assert exc.value.where == flag


@pytest.mark.parametrize("args", [["--msl", "0"], ["--time-wait", "-1"], ["--incarnations", "0"],
                                  ["--sweep", "1,x"], ["--rto", "-2"]])
def test_cli_bad_parameters_one_line_exit_2(args: list[str]) -> None:
    r = subprocess.run([sys.executable, "-m", "tcpcheck", "verify", "--timed", *args], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 2
    assert r.stdout == "" and len(r.stderr.strip().splitlines()) == 1 and r.stderr.startswith("tcpcheck: --")


def test_timed_options_need_timed() -> None:
    r = subprocess.run([sys.executable, "-m", "tcpcheck", "verify", "--msl", "2"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 2 and "add --timed" in r.stderr


def test_bad_timed_spec_names_file_and_line(tmp_path: Path) -> None:
    from tcpcheck.model.timed import default_timed_path

    text = default_timed_path().read_text()
    bad = tmp_path / "timed.toml"
    bad.write_text(text.replace('duration = "2*msl"', 'duration = "two msl"'))
    with pytest.raises(InputError) as exc:
        load_timed(load_spec(), bad)
    line = text.splitlines().index('duration = "2*msl"') + 1
    assert exc.value.where == f"{bad}:{line}" and "not ticks" in exc.value.message
    bad.write_text(text.replace("msl = 2 ", "msl = 0 "))
    with pytest.raises(InputError) as exc:
        load_timed(load_spec(), bad)
    assert "msl must be an integer >= 1" in exc.value.message


def test_property_model_field_is_validated(tmp_path: Path) -> None:
    bad = tmp_path / "p.toml"
    bad.write_text('[[property]]\nname = "x"\nrfc = "RFC 9293 §3.6"\nkind = "invariant"\nexpr = "true"\n'
                   'expect = "holds"\nmodel = "fast"\n')
    with pytest.raises(InputError) as exc:
        load_properties(bad)
    assert "model must be one of untimed, timed" in exc.value.message


# ---------------------------------------------------------------- pictures --


def test_chart_shows_ticks_ages_and_incarnations() -> None:
    from tcpcheck.tools.pictures.msc import render_svg
    from tcpcheck.tools.pictures.timed_chart import chart_from_timed_trace

    _, steps = search(time_wait=1).violated["passive_closer_not_reset"]
    chart = chart_from_timed_trace(steps, "too short")
    assert [r.margin for r in chart.rows if r.margin.startswith("tick")] == ["tick: t=1"]
    assert any(m.fate == "lost" for m in chart.messages)
    assert all(" #0" in m.label for m in chart.messages)
    assert all("age " in m.label for m in chart.messages if m.received is not None)
    assert any(r.left_state.startswith("TIME_WAIT #0 time_wait=") for r in chart.rows)
    svg = render_svg(chart)
    assert svg.startswith("<svg") and "tick: t=1" in svg and "FIN,ACK (of FIN) #0" in svg


# ----------------------------------------------------------------- engines --


@pytest.mark.parametrize("spec_path,time_wait", [
    (NO_TIME_WAIT, None), pytest.param(None, 0, marks=pytest.mark.slow), pytest.param(None, 2, marks=pytest.mark.slow)])
def test_z3_agrees_with_the_explicit_engine(spec_path: str | None, time_wait: int | None) -> None:
    """Z3's BMC finds counterexamples of the same length, which replay on the explicit engine
    (as verify --timed runs it: fresh queries, first violated instance). Without TIME_WAIT in the
    default run (about 5 s); TIME_WAIT firing at once, and TIME_WAIT of 2 MSL where the property
    holds (BMC runs out to depth 30, then the proof), under slow."""
    from tcpcheck.model.symbolic import Options, check_all, replay

    spec = load_spec(spec_path)
    durations = {} if time_wait is None else {"time_wait": time_wait}
    system = build_timed_system(spec, load_timed(spec), TimedOptions(msl=1, incarnations=1, durations=durations))
    props = [p for p in load_properties(model="timed") if p.name == "passive_closer_not_reset"]
    explicit = first_violations(system, props)
    z3 = check_all(system, props, Options(ic3_seconds=60, probe_depth=30, stall=30, any_instance=True,
                                          fresh_queries=True))[0]
    if explicit.violated:
        label, steps = explicit.violated["passive_closer_not_reset"]
        assert (z3.verdict, z3.bound) == ("violated", len(steps) - 1)
        assert z3.counterexample is not None
        replay(system, z3.counterexample)
    else:
        assert z3.verdict == "holds"


@pytest.mark.parametrize("fresh", [False, True], ids=["incremental", "fresh"])
def test_bmc_lemmas_keep_every_path_shortest(fresh: bool) -> None:
    """Once BMC finds no pending target at depth d, it asserts that none lies at frame d
    (``Options.learn_misses``) and searches deeper for fewer targets. That lemma must never hide a
    target: with every endpoint state as a target at once (found at depths 0 to 8, the pending set
    shrinking as they are), each is found at exactly its breadth-first depth in the explicit state
    space, in both query modes. (The deeper timed counterexamples: test_z3_agrees_with_the_explicit_engine.)"""
    from tcpcheck.model import gcl
    from tcpcheck.model.explicit import explore
    from tcpcheck.model.symbolic import Checker, Options

    spec = load_spec(NO_TIME_WAIT)
    system = build_timed_system(spec, load_timed(spec), TimedOptions(msl=1, incarnations=1))
    space = explore(system)
    depths = space.depths().tolist()

    def first(expr: gcl.Expr) -> int | None:
        return min((d for s, d in zip(space.states, depths, strict=True) if gcl.evaluate(expr, s)), default=None)

    reach = {p: [first(e) for _, e in p.instances(system)] for p in load_properties() if p.name.startswith("reach_")}
    # both endpoints reach it: BMC stops once all are found (an unreachable one would send it to its proofs)
    reach = {p: d for p, d in reach.items() if None not in d}
    assert len({d for ds in reach.values() for d in ds}) >= 6, "targets at many different depths"
    options = Options(ic3_seconds=0, probe_depth=40, stall=40, learn_misses=True, fresh_queries=fresh)
    got = Checker(system, options, explicit_space=lambda: space).check_all(list(reach))
    for (p, want), v in zip(reach.items(), got, strict=True):
        assert v.verdict == "holds" and v.witness is not None, p.name
        # the witness is the first instance's (A's) path; the bound is the deepest instance's
        assert (len(v.witness) - 1, v.bound) == (want[0], max(want)), p.name


@pytest.mark.parametrize("implementation", [False, True])
def test_retransmission_by_state_is_derived_from_the_segment_queue(implementation: bool) -> None:
    """The timed model retransmits per state; the spec lists the queued segments. The derivation
    finds the RFC's table (RFC 9293 §3.8.1: a SYN, a SYN,ACK, a FIN until acknowledged): FIN_WAIT_1
    and CLOSING and LAST_ACK resend the FIN, and ESTABLISHED, FIN_WAIT_2 and TIME_WAIT resend nothing."""
    spec = load_spec()
    table = retransmitted_in(spec, spec.enabled({"implementation": implementation}))
    assert table == {"SYN_SENT": "SYN", "SYN_RCVD": "SYN_ACK", "FIN_WAIT_1": "FIN", "CLOSING": "FIN", "LAST_ACK": "FIN"}
