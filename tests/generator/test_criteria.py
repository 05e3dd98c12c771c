"""Coverage criteria: what each suite covers, checked against the spec."""

from __future__ import annotations

import pytest

from tcpcheck.model.spec import Spec
from tcpcheck.tools.generate import build_suite
from tcpcheck.tools.generate.drivable import DriveModel, load_drive_model
from tcpcheck.tools.generate.paths import Explorer
from tests.generator.replay import replay


@pytest.mark.parametrize("criterion", ["states", "transitions", "pairs", "w", "wp", "tour"])
def test_every_scenario_is_a_walk_of_the_spec(spec: Spec, linux: DriveModel, explorer: Explorer,
                                              criterion: str) -> None:
    suite = build_suite(linux, criterion, 1, explorer)
    assert suite.scenarios
    for scenario in suite.scenarios:
        replay(spec, linux.options, scenario)
        assert scenario.transitions == tuple(dict.fromkeys(scenario.transitions))
        assert set(scenario.transitions) == set(scenario.walk)


def test_transitions_suite_covers_every_drivable_transition(spec: Spec, linux: DriveModel,
                                                            explorer: Explorer) -> None:
    suite = build_suite(linux, "transitions", 0, explorer)
    enabled = {t.id for t in spec.enabled({**spec.options, **linux.options})}
    covered = {tid for s in suite.scenarios for tid in replay(spec, linux.options, s)}
    # Every enabled transition is either taken by a scenario or listed with a reason, never both.
    assert covered | set(suite.not_drivable) == enabled
    assert not covered & set(suite.not_drivable)
    assert all(reason.strip() for reason in suite.not_drivable.values())
    # Linux: only SEND in LISTEN, which the sockets API lacks (the profile says why).
    assert set(suite.not_drivable) == {"LISTEN--send-->SYN_SENT"}
    assert "no SEND on a listening socket" in suite.not_drivable["LISTEN--send-->SYN_SENT"]
    # The transitions the profile's options remove are listed too, with the option and the reason.
    disabled = {t.id for t in spec.transitions} - enabled
    assert set(suite.disabled) == disabled and disabled
    assert all("note3" in why for why in suite.disabled.values())
    # One scenario per transition, ending with it.
    assert [s.walk[-1] for s in suite.scenarios] == [s.transitions[0] for s in suite.scenarios]
    assert len({s.walk[-1] for s in suite.scenarios}) == len(suite.scenarios) == len(covered)


def test_bare_rfc_machine_reports_send_in_listen_by_the_sockets_api(spec: Spec) -> None:
    model = load_drive_model(spec, "none")
    suite = build_suite(model, "transitions")
    assert "LISTEN--send-->SYN_SENT" in suite.not_drivable
    assert "listening socket" in suite.not_drivable["LISTEN--send-->SYN_SENT"]
    # Note 3 is on in the bare machine: ABORT to TIME_WAIT is a second transition on the same
    # event, which the suite covers like any other.
    assert any("(note3)" in s.walk[-1] for s in suite.scenarios)


def test_states_suite_observes_every_state(spec: Spec, linux: DriveModel, explorer: Explorer) -> None:
    suite = build_suite(linux, "states", 0, explorer)
    observed = {step.state for s in suite.scenarios for step in s.steps if type(step).__name__ == "ExpectState"}
    assert observed == set(spec.state_names)
    assert suite.coverage == 1.0
    # No scenario is a prefix of another.
    for a in suite.scenarios:
        for b in suite.scenarios:
            assert a is b or a.steps != b.steps[: len(a.steps)]


def test_pairs_suite_takes_each_pair_in_a_row(spec: Spec, linux: DriveModel, explorer: Explorer) -> None:
    suite = build_suite(linux, "pairs", 0, explorer)
    taken = set()
    for s in suite.scenarios:
        walk = replay(spec, linux.options, s)
        taken.add(walk[-1] if s.name.endswith("_alone") else f"{walk[-2]} ; {walk[-1]}")
    assert taken == set(suite.covered)
    assert set(suite.covered) | {g for g in suite.not_drivable if " ; " in g} == set(suite.goals)
    # All pairs subsumes all transitions: a transition in no pair (a refusal
    # on a closed port starts and ends at CLOSED) is taken alone.
    assert {t for s in suite.scenarios for t in s.transitions} == explorer.drivable_ids()
    assert "CLOSED--SYN-->CLOSED" in suite.covered
    # A passive SYN_RCVD is a request socket: the application cannot close or abort it.
    assert "LISTEN--SYN-->SYN_RCVD ; SYN_RCVD--abort-->CLOSED" in suite.not_drivable
    # RFC 9293 Note 1 guards: pairs the model itself never takes are no goals at all.
    assert not any("SYN_SENT--SYN-->SYN_RCVD ; SYN_RCVD--RST[self.passive]" in g for g in suite.goals)


def test_generation_is_deterministic(spec: Spec) -> None:
    a = [build_suite(load_drive_model(spec, "linux"), c, 1).scenarios for c in ("pairs", "w", "tour")]
    b = [build_suite(load_drive_model(spec, "linux"), c, 1).scenarios for c in ("pairs", "w", "tour")]
    assert a == b
