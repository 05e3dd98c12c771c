"""The JSON scenario format: its schema (tools/scenario.schema.json) holds for
every scenario the generator writes; what `tcpcheck generate --format json`
writes, `tcpcheck run` reads; bad files are one located line."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner

from tcpcheck.model.errors import InputError
from tcpcheck.model.spec import load_spec
from tcpcheck.tools.cli import main
from tcpcheck.tools.cli.generate import CRITERIA, render
from tcpcheck.tools.runner.suite import default_suite
from tcpcheck.tools.scenario import Call, Expect, ExpectState, Inject, Scenario, load_scenarios, step_transitions

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "tools" / "scenario.schema.json").read_text())


@pytest.fixture(scope="module")
def generated() -> dict[str, str]:
    """Every criterion's suite as the JSON files the generator writes."""
    files, _ = render(CRITERIA, "linux", 1, "json")
    return files


def test_schema_is_a_valid_json_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


def test_every_generated_scenario_matches_the_schema(generated: dict[str, str]) -> None:
    suites = {k: json.loads(v) for k, v in generated.items() if k.startswith("json/")}
    assert sorted(suites) == sorted(f"json/{c}.json" for c in CRITERIA)
    validator = jsonschema.Draft202012Validator(SCHEMA)
    total = 0
    for name, doc in suites.items():
        errors = [f"{e.json_path}: {e.message}" for e in validator.iter_errors(doc)]
        assert errors == [], name
        total += len(doc["scenarios"])
    assert total > 500
    # and the built-in suite, in the same form
    assert list(validator.iter_errors({"scenarios": [s.to_json() for s in default_suite()]})) == []


def test_generated_files_load_back_as_the_same_scenarios(generated: dict[str, str], tmp_path: Path) -> None:
    from tcpcheck.tools.generate import build_suite, load_drive_model

    model = load_drive_model(load_spec(), "linux")
    path = tmp_path / "tour.json"
    path.write_text(generated["json/tour.json"])
    assert load_scenarios(path) == build_suite(model, "tour", 1).scenarios


def test_replayed_walks_agree_with_the_generator(generated: dict[str, str]) -> None:
    """step_transitions finds each step's transition by replaying the steps on the
    spec (the built-in suite has no walks); on every generated scenario that
    replay gives exactly the generator's own walk."""
    from tcpcheck.tools.scenario import Scenario

    spec = load_spec()
    for name, text in generated.items():
        for row in json.loads(text)["scenarios"] if name.startswith("json/") else ():
            scenario = Scenario.from_json(row)
            if scenario.loopback:  # two-sided walks name their side; the TUN runner never plays them
                continue
            assert scenario.walk, scenario.name
            assert step_transitions(replace(scenario, walk=()), spec) == step_transitions(scenario, spec), \
                scenario.name
    for scenario in default_suite():
        assert set(scenario.transitions) <= set(step_transitions(scenario, spec)), scenario.name


def test_generate_json_then_run_list_reads_it(tmp_path: Path) -> None:
    out = tmp_path / "suites"
    result = CliRunner().invoke(main, ["generate", "--criterion", "states", "--format", "json", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["json"]
    doc = json.loads((out / "json" / "states.json").read_text())
    listed = CliRunner().invoke(main, ["run", "--list", "--json", str(out / "json" / "states.json")])
    assert listed.exit_code == 0, listed.output
    assert [s["name"] for s in json.loads(listed.stdout)["scenarios"]] == [s["name"] for s in doc["scenarios"]]


def _scenario(**change: Any) -> dict[str, Any]:
    row: dict[str, Any] = {"name": "s", "steps": [{"kind": "call", "op": "listen"},
                                                  {"kind": "expect_state", "state": "LISTEN"}]}
    row.update(change)
    return row


@pytest.mark.parametrize(("doc", "message"), [
    ([_scenario(name="../../etc/passwd")], r"\$\[0\]\.name: '../../etc/passwd' does not match"),
    ([_scenario(steps=[{"kind": "inject", "segment": "SYNFIN"}])],
     r"\$\[0\]\.steps\[0\]: field 'segment': unknown segment 'SYNFIN'; use one of SYN"),
    ([_scenario(steps=[{"kind": "expect_state", "state": "LISTEN", "extra": 1}])],
     r"\$\[0\]\.steps\[0\]: Additional properties are not allowed \('extra' was unexpected\)"),
    ([_scenario(steps=[])], r"\$\[0\]\.steps: \[\] should be non-empty"),
    ([_scenario(sysctls={"tcp_rfc1337": "1; reboot"})], r"\$\[0\]\.sysctls\.tcp_rfc1337: '1; reboot' does not"),
    ({"scenarios": [_scenario()], "format": "other/2"}, r"\$\.format: 'tcpcheck-scenarios/1' was expected"),
    ([_scenario(steps=[{"kind": "call"}])], r"\$\[0\]\.steps\[0\]: 'op' is a required property"),
])
def test_bad_scenario_files_are_one_located_line(tmp_path: Path, doc: object, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(InputError, match=message) as err:
        load_scenarios(path)
    assert "\n" not in str(err.value) and str(err.value).startswith(str(path))
    result = CliRunner().invoke(main, ["run", "--list", str(path)])
    assert result.exit_code == 2 and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_a_syn_is_not_attributed_to_a_syn_ack_transition() -> None:
    """A SYN in ESTABLISHED (in_window: a challenge ACK, state kept) is not
    the transition ESTABLISHED--SYN_ACK-->ESTABLISHED, which only a SYN,ACK
    takes: a deviation on that step would otherwise be looked up on the
    wrong transition."""
    scenario = next(s for s in default_suite() if s.name == "syn_in_window_challenge_ack")
    step = scenario.steps.index(Inject("SYN", "in_window"))
    assert step_transitions(scenario)[step] == ""
    again = Scenario("syn_ack_again", (Call("connect"), Expect("SYN"), Inject("SYN_ACK"), Expect("ACK"),
                                       ExpectState("ESTABLISHED"), Inject("SYN_ACK"), Expect("ACK"),
                                       ExpectState("ESTABLISHED")))
    assert step_transitions(again)[5] == "ESTABLISHED--SYN_ACK-->ESTABLISHED"
