"""``tcpcheck report``: one self-contained HTML file from a run document."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

from click.testing import CliRunner

from tcpcheck.model.spec import Spec
from tcpcheck.tools.cli import main
from tests.pictures.samples import sample_run


class _Refs(HTMLParser):
    """Every URL the page would fetch or link to."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href", "xlink:href", "data") and value:
                self.urls.append(value)


def _report(tmp_path: Path, run_json: Path, *extra: str) -> str:
    out = tmp_path / "out" / "report.html"
    result = CliRunner().invoke(main, ["report", str(run_json), "-o", str(out), *extra])
    assert result.exit_code == 0, result.output
    return out.read_text()


def test_report_has_stack_summary_diagram_table_and_charts(tmp_path: Path, run_json: Path, spec: Spec) -> None:
    html = _report(tmp_path, run_json)
    assert "Linux 6.1.0-test" in html and "net/ipv4/tcp_rfc1337" in html
    assert html.count("<svg") == 1 + 3  # the diagram and one chart per scenario
    for state in spec.state_names:
        assert f">{state}</text>" in html
    table = html[html.index('id="verdict-table"'):html.index("</table>")]
    rows = re.findall(r'<tr class="verdict-([a-z-]+)"><td class="id">([^<]+)</td>', table)
    ids = [tid.replace("&gt;", ">") for _, tid in rows]
    assert set(ids) == {t.id for t in spec.transitions}  # every transition, covered or not
    verdict_of = {tid.replace("&gt;", ">"): v for v, tid in rows}
    assert verdict_of["ESTABLISHED--close-->FIN_WAIT_1"] == "deviation"
    assert verdict_of["FIN_WAIT_2--FIN-->TIME_WAIT"] == "fail"
    assert verdict_of["LAST_ACK--ACK_OF_FIN-->CLOSED"] == "not-covered"
    assert "RFC 9293 Figure 5; §3.10.7.4" in table
    for name in ("passive_open", "close_with_unread_data", "fin_wait_2_fin"):
        assert f'id="scenario-{name}"' in html


def test_report_is_self_contained(tmp_path: Path, run_json: Path) -> None:
    html = _report(tmp_path, run_json)
    parser = _Refs()
    parser.feed(html)
    assert parser.urls, "the report links its scenarios"
    assert all(u.startswith("#") for u in parser.urls), parser.urls
    assert "<script" not in html and "@import" not in html and "url(http" not in html


def test_pcap_links_when_the_pcaps_exist(tmp_path: Path, run_json: Path) -> None:
    pcaps = tmp_path / "pcaps"
    pcaps.mkdir()
    (pcaps / "passive_open.pcap").write_bytes(b"\xd4\xc3\xb2\xa1")
    html = _report(tmp_path, run_json, "--pcaps", str(pcaps))
    assert html.count('class="pcap"') == 1
    assert 'href="../pcaps/passive_open.pcap"' in html


def test_report_from_results_without_matrix(tmp_path: Path) -> None:
    data = sample_run()
    del data["matrix"]
    path = tmp_path / "run.json"
    path.write_text(json.dumps(data))
    html = _report(tmp_path, path)
    assert 'class="verdict-fail"><td class="id">FIN_WAIT_2--FIN--&gt;TIME_WAIT' in html


def test_bad_results_are_one_line_exit_2(tmp_path: Path) -> None:
    cases = {
        "missing.json": None,
        "broken.json": "{\n\"results\": [,]}",
        "noresults.json": json.dumps({"stack": {}}),
        "badresult.json": json.dumps({"results": [{"scenario": 3}]}),
    }
    for name, text in cases.items():
        path = tmp_path / name
        if text is not None:
            path.write_text(text)
        out = tmp_path / "r.html"
        result = CliRunner().invoke(main, ["report", str(path), "-o", str(out)])
        assert result.exit_code == 2, (name, result.output)
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"tcpcheck: {path}"), result.output
        assert not out.exists()


def test_report_reads_what_the_runner_writes(tmp_path: Path, spec: Spec) -> None:
    """The document comes from the runner's own to_json, not from a hand-made copy."""
    from tcpcheck.tools.runner.execute import ScenarioResult, StepResult
    from tcpcheck.tools.runner.harness import StackInfo
    from tcpcheck.tools.runner.profile import load_profile
    from tcpcheck.tools.runner.report import matrix_rows, to_json

    connect, syn_ack = "CLOSED--connect-->SYN_SENT", "SYN_SENT--SYN_ACK-->ESTABLISHED"
    steps = [StepResult(1, "call connect", "pass", "SYN_SENT (TCP_INFO: SYN_SENT)", transition=connect),
             StepResult(2, "expect SYN", "pass", "SYN_SENT (TCP_INFO: SYN_SENT)", transition=connect),
             StepResult(3, "inject SYN_ACK", "pass", "ESTABLISHED (TCP_INFO: ESTABLISHED)", transition=syn_ack),
             StepResult(4, "expect ACK", "fail", "ESTABLISHED (TCP_INFO: ESTABLISHED)", "ACK", "NONE",
                        transition=syn_ack)]
    result = ScenarioResult("active_open", ("CLOSED--connect-->SYN_SENT", "SYN_SENT--SYN_ACK-->ESTABLISHED"),
                            "fail", steps, 0.01)
    profile = load_profile(known_transitions={t.id for t in spec.transitions})
    rows = matrix_rows(spec, profile, [result], [])
    path = tmp_path / "run.json"
    path.write_text(json.dumps(to_json(StackInfo("6.1.0-runner", {}), profile, [result], rows)))
    html = _report(tmp_path, path)
    assert "Linux 6.1.0-runner" in html
    assert 'class="verdict-fail"><td class="id">SYN_SENT--SYN_ACK--&gt;ESTABLISHED' in html
    # only the transition whose step failed: the one before it passed
    assert 'class="verdict-pass"><td class="id">CLOSED--connect--&gt;SYN_SENT' in html
    assert "ACK expected, none sent" in html  # the chart of the failed step


def test_transition_counts_add_up(tmp_path: Path, run_json: Path, spec: Spec) -> None:
    html = _report(tmp_path, run_json)
    sentence = re.search(r"Transitions of the spec: ([^<]*) \(of (\d+) transitions", html)
    assert sentence, html[:2000]
    counts = [int(n) for n in re.findall(r"(\d+) [a-z ]+", sentence.group(1))]
    assert sum(counts) == int(sentence.group(2)) == len(spec.transitions)
