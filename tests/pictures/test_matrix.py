"""One matrix over several stacks: ``tcpcheck run --stack all`` and
``tcpcheck report`` over its runs (transitions down, stacks across, each
cell linking to the step that decided it and the scenario to its pcap)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from tcpcheck.model.errors import InputError
from tcpcheck.model.spec import load_spec
from tcpcheck.tools.cli import main
from tcpcheck.tools.pytest_plugin import skip_or_fail
from tcpcheck.tools.runner.matrix import combine
from tcpcheck.tools.runner.stacks import unavailable


def _run(stack: str, rows: list[tuple[str, str, str]]) -> dict[str, object]:
    return {"stack": {"name": stack}, "results": [],
            "matrix": [{"transition": t, "scenario": s, "verdict": v, "note": ""} for t, s, v in rows]}


def test_a_cell_is_the_worst_verdict_of_the_scenarios_covering_it() -> None:
    spec = load_spec()
    t = "SYN_RCVD--ACK_OF_SYN-->ESTABLISHED"
    runs = [_run("a", [(t, "passive_open", "pass"), (t, "simultaneous_open", "deviation")]),
            _run("b", [(t, "passive_open", "pass")])]
    matrix = combine(spec, runs)
    row = next(r for r in matrix["rows"] if r["transition"] == t)
    assert row["cells"]["a"] == {"verdict": "deviation", "scenario": "simultaneous_open", "note": ""}
    assert row["cells"]["b"]["verdict"] == "pass"
    assert len(matrix["rows"]) == len(spec.transitions)
    assert matrix["counts"]["b"]["not covered"] == len(spec.transitions) - 1
    # a scenario that carries no transition's verdict (a negative check, several connections) is a row of its own
    runs[0] = _run("a", [(t, "passive_open", "pass"), ("(none)", "close_wait_pile", "pass")])
    rows = combine(spec, runs)["rows"]
    last = rows[-1]
    assert last["scenario"] == "close_wait_pile" and len(rows) == len(spec.transitions) + 1
    assert {s: c["verdict"] for s, c in last["cells"].items()} == {"a": "pass", "b": "not run"}
    with pytest.raises(InputError, match="two runs of stack 'a'"):
        combine(spec, [runs[0], runs[0]])


def test_run_all_and_the_matrix_report(tmp_path: Path) -> None:
    for name in ("linux", "lwip", "pytcp"):
        reason = unavailable(name)
        if reason:
            skip_or_fail(reason)
    pcaps = tmp_path / "pcaps"
    runner = CliRunner()
    done = runner.invoke(main, ["run", "--stack", "all", "--json", "--pcap", str(pcaps),
                                "syn_sent_abort", "active_open", "closed_port_syn"])
    assert done.exit_code == 0, done.output
    doc = json.loads(done.output)
    assert [r["stack"]["name"] for r in doc["runs"]] == ["linux", "lwip", "pytcp"]
    row = next(r for r in doc["matrix"]["rows"] if r["transition"] == "SYN_SENT--abort-->CLOSED")
    assert {s: c["verdict"] for s, c in row["cells"].items()} == {"linux": "pass", "lwip": "deviation", "pytcp": "pass"}
    assert (pcaps / "lwip" / "syn_sent_abort.pcap").exists() and (pcaps / "linux" / "active_open.pcap").exists()
    assert (pcaps / "pytcp" / "syn_sent_abort.pcap").exists()
    results = tmp_path / "all.json"
    results.write_text(done.output)
    out = tmp_path / "matrix.html"
    made = runner.invoke(main, ["report", str(results), "-o", str(out), "--pcaps", str(pcaps)])
    assert made.exit_code == 0 and "3 stacks" in made.output, made.output
    html = out.read_text()
    assert "<th>linux</th><th>lwip</th><th>pytcp</th>" in html
    # lwIP's cell links to the step that departed (step 5: the RST), which is on the page.
    assert 'href="#lwip--syn_sent_abort-step-5"' in html and 'id="lwip--syn_sent_abort-step-5"' in html
    assert 'href="pcaps/lwip/syn_sent_abort.pcap"' in html
    assert not re.search(r"<script|https?://", html)
    # The same matrix from one file per stack.
    for run in doc["runs"]:
        (tmp_path / f"{run['stack']['name']}.json").write_text(json.dumps(run))
    again = runner.invoke(main, ["report", str(tmp_path / "linux.json"), str(tmp_path / "lwip.json"),
                                 "-o", str(tmp_path / "m2.html")])
    assert again.exit_code == 0 and "<th>linux</th><th>lwip</th>" in (tmp_path / "m2.html").read_text()
