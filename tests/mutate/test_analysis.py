"""The mutation analysis: its scores are reproduced exactly, its shortcut
changes no verdict, its equivalence search agrees with the model stack,
and the W and Wp suites kill every mutant a drivable walk can tell apart.

The fast subset runs in the default suite; the whole analysis (every
systematic mutant, both measures) is under the ``slow`` marker.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tcpcheck.model.mutation import Mutant, systematic_mutants
from tcpcheck.model.properties import load_properties
from tcpcheck.model.spec import Spec, load_spec
from tcpcheck.tools.cli import main
from tcpcheck.tools.mutate.analysis import Analysis, analyse, summary
from tcpcheck.tools.mutate.catch import QUICK

# One transition of each kind of outcome: killed by every covering suite;
# equivalent by the dispatch fallback (a FIN refused as its ACK) and by the
# judge (RST,ACK for RST); outside the profile's options; not drivable;
# Note 2 (the combined FIN,ACK equals ACK then FIN).
SUBSET = (
    "ESTABLISHED--close-->FIN_WAIT_1",
    "CLOSED--FIN-->CLOSED",
    "ESTABLISHED--abort-->CLOSED",
    "CLOSE_WAIT--abort(note3)-->TIME_WAIT",
    "LISTEN--send-->SYN_SENT",
    "FIN_WAIT_1--FIN_ACK_OF_FIN-->TIME_WAIT",
)


@pytest.fixture(scope="module")
def spec() -> Spec:
    return load_spec()


@pytest.fixture(scope="module")
def subset(spec: Spec) -> list[Mutant]:
    return [m for m in systematic_mutants(spec) if m.transition in SUBSET]


@pytest.fixture(scope="module")
def fast(spec: Spec, subset: list[Mutant]) -> Analysis:
    return analyse(spec, subset, None, jobs=1)


def _verdicts(a: Analysis) -> list[tuple[object, ...]]:
    return [(r.mutant.name, tuple((c, k.scenario, k.step) if k else (c, None) for c, k in r.kills.items()),
             r.equivalent, r.reason, r.witness, r.caught) for r in a.results]


def test_scores_are_reproduced(fast: Analysis) -> None:
    s = summary(fast)
    assert (s["mutants"], s["equivalent"], s["non_equivalent"]) == (102, 38, 64)
    assert {c: (v["killed"], v["of"]) for c, v in s["scores"].items()} == {
        "states": (33, 64), "transitions": (64, 64), "pairs": (64, 64), "w": (64, 64), "wp": (64, 64),
        "tour": (64, 64),
    }
    reasons = {r.mutant.name: r.reason.split(":", 1)[0] for r in fast.results if r.equivalent}
    assert reasons["remove.CLOSED-FIN-CLOSED.removed"] == "the same segments and states on every drivable walk"
    assert reasons["change_send.ESTABLISHED-abort-CLOSED.sends_RST_ACK"] == "the runner cannot tell"
    assert reasons["remove.FIN_WAIT_1-FIN_ACK_OF_FIN-TIME_WAIT.removed"] == \
        "the same segments and states on every drivable walk"
    assert sum(why == "outside the suites' model" for why in reasons.values()) == 17
    assert sum(why == "not drivable" for why in reasons.values()) == 17
    assert s["complete_suites_kill_all"]


def test_the_analysis_is_deterministic_in_any_number_of_processes(spec: Spec, subset: list[Mutant],
                                                                  fast: Analysis) -> None:
    again = analyse(spec, subset[::3], None, jobs=2)
    assert _verdicts(again) == [v for v in _verdicts(fast) if v[0] in {m.name for m in subset[::3]}]


def test_the_shortcut_changes_no_verdict(spec: Spec, subset: list[Mutant], fast: Analysis) -> None:
    """Running only the scenarios that fire the mutated transition finds the
    same first killing scenario as running them all."""
    chosen = subset[::8]  # 13 mutants of the 6 transitions' kinds of outcome
    every = analyse(spec, chosen, None, jobs=1, every_scenario=True)
    assert _verdicts(every) == [v for v in _verdicts(fast) if v[0] in {m.name for m in chosen}]


def test_properties_are_measured_beside_the_suites(spec: Spec) -> None:
    chosen = [Mutant("retarget", "CLOSE_WAIT--close-->LAST_ACK", to="TIME_WAIT"),  # close_wait_close_to_time_wait
              Mutant("change_send", "ESTABLISHED--abort-->CLOSED", sends=("RST_ACK",)),
              Mutant("remove", "LISTEN--send-->SYN_SENT")]
    a = analyse(spec, chosen, tuple(load_properties()), jobs=1, configurations=QUICK[:2])
    caught = {r.mutant.name: r.caught for r in a.results}
    first = caught["retarget.CLOSE_WAIT-close-LAST_ACK.to_TIME_WAIT"]
    assert first is not None and first.configuration == "linux profile"
    # Abort sending the model's RST,ACK, the answer to a segment without ACK
    # (<SEQ=0>, RFC 9293 §3.10.7.1) instead of <SEQ=SND.NXT><CTL=RST>
    # (§3.10.5): the peer drops it and stays ESTABLISHED while the aborter is
    # CLOSED: the properties catch it, first by the two ends' disagreement.
    rst_ack = next(r for r in a.results if r.mutant.name == "change_send.ESTABLISHED-abort-CLOSED.sends_RST_ACK")
    assert rst_ack.caught is not None and rst_ack.caught.property == "established_iff_quiescent"
    assert rst_ack.caught.configuration == "linux profile"
    assert rst_ack.configurations == ("linux profile",)
    # LISTEN--send fires in both configurations, but no suite can drive it
    # (a listening socket has no send), so it is equivalent for the suites.
    lone = a.results[2]
    assert lone.equivalent and lone.configurations == ("linux profile", "default")
    expected = ["remove.LISTEN-send-SYN_SENT.removed"] if lone.caught is None else []
    assert [r.mutant.name for r in a.neither()] == expected


def test_mutate_command(tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["mutate", "--transition", "CLOSED--FIN-->CLOSED", "--no-properties", "-j", "1"]
    done = runner.invoke(main, [*args, "--json", "--write", str(tmp_path / "left")])
    assert done.exit_code == 0, done.output
    doc = json.loads(done.output)
    assert doc["summary"]["mutants"] == 17 and doc["summary"]["equivalent"] == 2
    assert doc["summary"]["scores"]["w"] == {"killed": 15, "of": 15, "score": 1.0}
    assert sorted(doc["written"]) == sorted(f"{n}.toml" for n in doc["neither"]) and len(doc["written"]) == 2
    for name in doc["written"]:
        assert load_spec(tmp_path / "left" / name).transitions  # loadable mutant files
    human = runner.invoke(main, args)
    assert human.exit_code == 0 and "score" in human.output
    bad = runner.invoke(main, ["mutate", "--transition", "NOWHERE--x-->CLOSED"])
    assert bad.exit_code == 2 and bad.output.count("\n") == 1 and "no transition" in bad.output
    assert runner.invoke(main, ["mutate", "--help"]).exit_code == 0


@pytest.mark.slow
def test_whole_analysis(spec: Spec) -> None:
    """Every systematic mutant: W and Wp kill each one some drivable walk can
    tell apart, and the lockstep search never contradicts the model stack."""
    a = analyse(spec, systematic_mutants(spec), None, jobs=2)
    s = summary(a)
    assert s["complete_suites_kill_all"]
    assert (s["mutants"], s["equivalent"]) == (986, 114)
    assert all(r.killed for r in a.non_equivalent)  # no walk outside the suites was needed
