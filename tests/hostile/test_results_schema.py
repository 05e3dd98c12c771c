"""tools/results.schema.json describes what the runner writes, and names
the same vocabulary as the code (report and diagram --coverage refuse
anything else). Real runs are checked against it by tests/pictures/
test_matrix.py and test_report_loopback.py (report reads them)."""

from __future__ import annotations

import dataclasses
import json

from jsonschema import Draft202012Validator

from tcpcheck.model.properties import KINDS
from tcpcheck.tools.pictures.diagram import RESULTS_SCHEMA, VERDICT_ORDER
from tcpcheck.tools.runner.execute import VERDICTS, ScenarioResult, StepResult
from tcpcheck.tools.scenario import bundled_schema


def test_the_schema_is_a_valid_schema() -> None:
    Draft202012Validator.check_schema(bundled_schema(RESULTS_SCHEMA))


def test_enums_are_the_codes() -> None:
    defs = bundled_schema(RESULTS_SCHEMA)["$defs"]
    assert set(defs["verdict"]["enum"]) == {*VERDICT_ORDER, *VERDICTS}
    assert set(defs["property"]["properties"]["kind"]["enum"]) == set(KINDS)


def test_every_field_the_runner_writes_is_allowed() -> None:
    """A step and a scenario result with every field set, as the runner serialises them."""
    step = StepResult(**{f.name: (1 if f.type in ("int", int) else 0.5 if f.type in ("float", float) else "pass")
                         for f in dataclasses.fields(StepResult)})
    step = dataclasses.replace(step, transition="CLOSED--listen-->LISTEN")
    result = ScenarioResult("s", ("CLOSED--listen-->LISTEN",), "pass", [step], 0.5, {"net/x": "1"}, ["d"], "n")
    doc = {"stack": {"name": "linux", "description": "d", "kernel": "k", "sysctls": {}, "profile": "linux",
                     "observer": "o"},
           "results": [json.loads(json.dumps(result.to_json()))]}
    errors = list(Draft202012Validator(bundled_schema(RESULTS_SCHEMA)).iter_errors(doc))
    assert not errors, [e.message for e in errors]
