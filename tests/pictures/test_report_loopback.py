"""``tcpcheck report`` on loopback runs: two lifelines with both endpoints'
traced states, and which pair properties were checked on how many states."""

from __future__ import annotations

import json
import re
from pathlib import Path

from click.testing import CliRunner

from tcpcheck.model.spec import load_spec
from tcpcheck.tools.cli import main
from tcpcheck.tools.pictures.msc import chart_from_pair
from tcpcheck.tools.runner.loopback.execute import PairResult
from tcpcheck.tools.runner.loopback.judge import check_run
from tcpcheck.tools.runner.loopback.observed import ObservedRun
from tcpcheck.tools.runner.loopback.report import to_json
from tcpcheck.tools.runner.profile import load_profile

RUNS = Path(__file__).resolve().parents[1] / "loopback" / "runs"


def _result(name: str, edit: bool = False) -> PairResult:
    data = json.loads((RUNS / f"{name}.json").read_text())
    if edit:
        n = next(i for i, e in enumerate(data["events"]) if e["kind"] == "state" and e.get("new") == "CLOSING")
        data["events"][n]["new"] = "TIME_WAIT"
    run = ObservedRun.from_json(data)
    spec = load_spec()
    check = check_run(spec, load_profile(), run)
    return PairResult(name + ("_edited" if edit else ""), (), check.verdict, [], 0.002, run, check)


def _doc() -> dict[str, object]:
    results = [_result("pair_closing__closing"), _result("pair_closing__closing", edit=True)]
    return to_json({"kernel": "6.18-test", "sysctls": {}, "observer": "tracepoint", "addresses": ["x", "y"]},
                   load_profile(), results)


def test_a_loopback_chart_has_two_real_lifelines_and_both_traced_paths() -> None:
    doc = _doc()
    chart = chart_from_pair(doc["results"][0])  # type: ignore[index]
    assert chart.left.startswith("A (Linux 127.") and chart.right.startswith("B (Linux 127.")
    lefts = [r.left_state for r in chart.rows]
    rights = [r.right_state for r in chart.rows]
    assert "CLOSING" in lefts and "CLOSING" in rights and "FIN_WAIT_1" in lefts
    fins = [m for m in chart.messages if m.label == "FIN,ACK"]
    assert len(fins) == 2 and all(m.fate == "delivered" for m in fins)
    sent = sorted(m.sent for m in fins)
    arrived = sorted(m.received for m in fins if m.received is not None)
    assert sent[1] < arrived[0]  # the FINs cross


def test_the_report_shows_pair_runs_and_property_counts(tmp_path: Path) -> None:
    doc = _doc()
    path = tmp_path / "loopback.json"
    path.write_text(json.dumps(doc))
    out = tmp_path / "report.html"
    result = CliRunner().invoke(main, ["report", str(path), "-o", str(out)])
    assert result.exit_code == 0, result.output
    html = out.read_text()
    assert html.count('class="msc"') == 2
    assert "the composed model explains the run" in html
    assert "is not a behaviour of the composed model" in html
    table = html[html.index('id="property-table"'):]
    row = re.search(r"closing_only_simultaneous</td><td>invariant</td><td>holds</td><td>.*?</td>"
                    r"<td>(\d+)</td><td>(\d+)</td>", table)
    assert row is not None and row.group(1) == "1" and int(row.group(2)) > 10
    # The edited run failed: its chart marks the event the model could not explain.
    assert 'class="verdict verdict-fail"' in html
