"""Sequence charts: verify counterexamples (A/B) and run scenarios (stack/peer)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from click.testing import CliRunner

from tcpcheck.model import ModelOptions, build_system, load_properties, load_spec
from tcpcheck.model.explicit import check, explore
from tcpcheck.model.results import Step
from tcpcheck.tools.cli import main
from tcpcheck.tools.pictures.msc import chart_from_result, chart_from_trace, render_svg, segment_label
from tests.pictures.samples import sample_run

SVG = "{http://www.w3.org/2000/svg}"


def _naive_counterexample() -> list[Step]:
    spec = load_spec()
    system = build_system(spec, ModelOptions())
    prop = next(p for p in load_properties() if p.name == "time_wait_naive")
    verdict = check(explore(system), prop)
    assert verdict.verdict == "violated" and verdict.counterexample
    return verdict.counterexample


def test_naive_time_wait_counterexample_chart() -> None:
    steps = _naive_counterexample()
    chart = chart_from_trace(steps, "time_wait_naive")
    # One row per step after the initial state; both states beside both lifelines in every row.
    assert len(chart.rows) == len(steps) - 1
    for row, st in zip(chart.rows, steps[1:], strict=True):
        assert (row.left_state, row.right_state) == (st.states["A"], st.states["B"])
    # Every segment any step sent is one arrow, and it carries its flags.
    sent = [seg for st in steps for seg in st.sends]
    assert sorted(m.label for m in chart.messages) == sorted(segment_label(s) for s in sent)
    rst = [m for m in chart.messages if m.label == "RST"]
    assert rst, "the naive TIME_WAIT counterexample goes through Note 3: a RST"
    # The end of the trace: whatever is still queued is drawn in flight.
    queued = sum(len(q) for q in steps[-1].channels.values())
    assert sum(m.fate == "in flight" for m in chart.messages) == queued
    assert steps[-1].states[verdict_instance(steps)] == "TIME_WAIT"

    svg = ET.fromstring(render_svg(chart))
    texts = [t.text for t in svg.iter(f"{SVG}text")]
    assert "TIME_WAIT" in texts and any(t and t.startswith("RST") for t in texts)
    assert len(list(svg.iter(f"{SVG}line"))) >= len(chart.messages) + 2  # arrows + two lifelines


def verdict_instance(steps: list[Step]) -> str:
    return "A" if steps[-1].states["A"] == "TIME_WAIT" else "B"


def _st(n: int, actor: str, kind: str, action: str, a: str, b: str, ab: list[str], ba: list[str],
        received: str = "", sends: tuple[str, ...] = ()) -> Step:
    return Step(n, actor, action, kind, "", received, sends, (), {"A": a, "B": b}, {"AB": ab, "BA": ba})


def test_arrows_follow_segments_through_loss_and_reordering() -> None:
    steps = [
        _st(0, "", "init", "initial state", "SYN_SENT", "SYN_SENT", [], []),
        _st(1, "A", "retransmit", "retransmit", "SYN_SENT", "SYN_SENT", ["SYN"], [], sends=("SYN",)),
        _st(2, "A", "retransmit", "retransmit", "SYN_SENT", "SYN_SENT", ["SYN", "SYN"], [], sends=("SYN",)),
        _st(3, "net", "lose", "lose SYN on AB", "SYN_SENT", "SYN_SENT", ["SYN"], []),
        _st(4, "B", "call", "call connect", "SYN_SENT", "SYN_SENT", ["SYN"], ["SYN"], sends=("SYN",)),
        _st(5, "B", "rcv", "rcv SYN", "SYN_SENT", "SYN_RCVD", [], ["SYN", "SYN_ACK"], "SYN", ("SYN_ACK",)),
        # Reordering: A takes the SYN,ACK (second in the queue) first.
        _st(6, "A", "rcv", "rcv SYN_ACK", "ESTABLISHED", "SYN_RCVD", ["ACK"], ["SYN"], "SYN_ACK", ("ACK",)),
    ]
    chart = chart_from_trace(steps, "t")
    fates = [(m.label, m.sender, m.sent, m.received, m.fate) for m in chart.messages]
    assert fates == [
        ("SYN", "left", 1.0, 3.0, "lost"),  # the head of AB was dropped at step 3
        ("SYN", "left", 2.0, 5.0, "delivered"),
        ("SYN", "right", 4.0, None, "in flight"),
        ("SYN,ACK", "right", 5.0, 6.0, "delivered"),
        ("ACK", "left", 6.0, None, "in flight"),
    ]
    assert chart.rows[2].margin == "net: lost SYN on AB"
    svg = render_svg(chart)
    assert 'class="segment fate-lost"' in svg and 'stroke="#c62828"' in svg  # the cross


def test_verify_draw_writes_one_chart_per_violated_property(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["verify", "--property", "time_wait_naive", "--draw", str(tmp_path)])
    assert result.exit_code == 0, result.output
    drawn = sorted(p.name for p in tmp_path.iterdir())
    assert drawn == ["time_wait_naive.svg"]
    root = ET.parse(tmp_path / "time_wait_naive.svg").getroot()
    assert root.tag == f"{SVG}svg"
    assert "time_wait_naive" in (root.findtext(f"{SVG}title") or "")


def test_scenario_chart_shows_stack_and_peer() -> None:
    run = sample_run()
    chart = chart_from_result(run["results"][0], "Linux 6.1")
    assert (chart.left, chart.right) == ("Linux 6.1", "peer (tcpcheck)")
    labels = [(m.label, m.sender) for m in chart.messages]
    assert labels == [("SYN", "right"), ("SYN,ACK", "left"), ("ACK", "right")]
    assert [r.left_state for r in chart.rows] == ["CLOSED", "LISTEN", "SYN_RCVD", "SYN_RCVD", "ESTABLISHED",
                                                   "ESTABLISHED", "ESTABLISHED"]
    assert chart.rows[5].middle == "(nothing sent)"

    deviation = chart_from_result(run["results"][1])
    wrong = [m for m in deviation.messages if "expected" in m.label]
    assert [m.label for m in wrong] == ["RST,ACK (expected FIN,ACK)"]
    assert deviation.rows[-1].verdict == "skipped"
    failed = chart_from_result(run["results"][2])
    assert [m.fate for m in failed.messages if m.sender == "left"] == ["missing"]
    ET.fromstring(render_svg(failed))  # well-formed
