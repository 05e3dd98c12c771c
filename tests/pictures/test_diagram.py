"""``tcpcheck diagram``: every state and transition drawn, laid out like RFC 9293 Figure 5."""

from __future__ import annotations

import json
import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

from tcpcheck.model.spec import Spec
from tcpcheck.tools.cli import main
from tcpcheck.tools.pictures.diagram import (
    DiagramOptions,
    coverage_from_results,
    node_positions,
    render,
    to_dot,
    transition_label,
)
from tests.pictures.samples import sample_run

SVG = "{http://www.w3.org/2000/svg}"
XLINK = "{http://www.w3.org/1999/xlink}"


def _svg(spec: Spec, options: DiagramOptions | None = None) -> ET.Element:
    return ET.fromstring(render(to_dot(spec, options), "svg"))


def _edges(root: ET.Element) -> dict[str, ET.Element]:
    """Drawn edges by the transition ids in their tooltip."""
    out = {}
    for g in root.iter(f"{SVG}g"):
        if "edge" not in g.get("class", "").split():
            continue
        anchor = g.find(f".//{SVG}a")
        assert anchor is not None
        for line in anchor.get(f"{XLINK}title", "").splitlines():
            out[line.split(": ", 1)[0]] = g
    return out


def test_every_state_and_every_transition_is_drawn(spec: Spec) -> None:
    root = _svg(spec)
    texts = [t.text or "" for t in root.iter(f"{SVG}text")]
    for state in spec.state_names:
        assert state in texts, f"state {state} not drawn"
    assert len(spec.state_names) == 11
    edges = _edges(root)
    for t in spec.transitions:
        assert t.id in edges, f"transition {t.id} not drawn"
        g = edges[t.id]
        ends = (g.findtext(f"{SVG}title") or "").replace("CLOSED_END", "CLOSED").split("->")
        assert sorted(ends) == sorted([t.source, t.target]), (t.id, ends)
        labels = [x.text for x in g.iter(f"{SVG}text")]
        assert transition_label(spec, t) in labels, (t.id, labels)


def test_labels_read_like_the_textbook(spec: Spec) -> None:
    by_id = {t.id: t for t in spec.transitions}
    assert transition_label(spec, by_id["LISTEN--SYN-->SYN_RCVD"]) == "rcv SYN / snd SYN,ACK"
    assert transition_label(spec, by_id["CLOSED--connect-->SYN_SENT"]) == "connect / snd SYN"
    assert transition_label(spec, by_id["TIME_WAIT--timeout_2msl-->CLOSED"]) == "timeout_2msl"
    assert transition_label(spec, by_id["ESTABLISHED--abort(note3)-->TIME_WAIT"]) == "abort / snd RST (Note 3)"


def test_layout_follows_figure_5(spec: Spec) -> None:
    pos = node_positions(to_dot(spec))  # y grows upwards
    x = {k: v[0] for k, v in pos.items()}
    y = {k: v[1] for k, v in pos.items()}
    assert y["CLOSED"] > y["LISTEN"] > y["SYN_RCVD"] > y["ESTABLISHED"] > y["FIN_WAIT_1"] > y["TIME_WAIT"]
    assert y["SYN_RCVD"] == y["SYN_SENT"] and x["SYN_RCVD"] < x["SYN_SENT"]
    assert y["FIN_WAIT_1"] == y["CLOSE_WAIT"] > y["FIN_WAIT_2"] == y["CLOSING"] == y["LAST_ACK"] > y["TIME_WAIT"]
    assert min(y.values()) == y["TIME_WAIT"]  # bottom row (with the second CLOSED)
    for left in ("FIN_WAIT_1", "FIN_WAIT_2"):
        for right in ("CLOSE_WAIT", "LAST_ACK"):
            assert x[left] < x["ESTABLISHED"] < x[right]
    assert x["FIN_WAIT_2"] < x["CLOSING"] < x["LAST_ACK"]
    assert abs(x["CLOSED"] - x["ESTABLISHED"]) < 0.5 and abs(x["LISTEN"] - x["ESTABLISHED"]) < 0.5


def _stroke(g: ET.Element) -> tuple[float, bool]:
    path = g.find(f".//{SVG}path")
    assert path is not None
    return float(path.get("stroke-width", "1")), path.get("stroke-dasharray") is not None


def test_client_thick_solid_server_thick_dashed_others_thin(spec: Spec) -> None:
    edges = _edges(_svg(spec))
    for t in spec.transitions:
        width, dashed = _stroke(edges[t.id])
        if t.path == "client":
            assert width >= 2.5 and not dashed, t.id
        elif t.path == "server":
            assert width >= 2.5 and dashed, t.id
        else:
            assert width < 1.5, t.id


def test_output_is_deterministic(spec: Spec) -> None:
    assert to_dot(spec) == to_dot(spec)
    assert render(to_dot(spec), "svg") == render(to_dot(spec), "svg")


def test_path_highlight_colours_only_that_walk(spec: Spec) -> None:
    walk = ("CLOSED", "SYN_SENT", "ESTABLISHED", "FIN_WAIT_1", "CLOSING", "TIME_WAIT", "CLOSED")
    edges = _edges(_svg(spec, DiagramOptions(path=walk)))
    blue = {tid for tid, g in edges.items() if 'stroke="#1565c0"' in ET.tostring(g, encoding="unicode")}
    assert {"CLOSED--connect-->SYN_SENT", "SYN_SENT--SYN_ACK-->ESTABLISHED", "ESTABLISHED--close-->FIN_WAIT_1",
            "FIN_WAIT_1--FIN-->CLOSING", "CLOSING--ACK_OF_FIN-->TIME_WAIT", "TIME_WAIT--timeout_2msl-->CLOSED"} <= blue
    assert "ESTABLISHED--FIN-->CLOSE_WAIT" not in blue and "LISTEN--SYN-->SYN_RCVD" not in blue


def test_highlight_server_path(spec: Spec) -> None:
    edges = _edges(_svg(spec, DiagramOptions(highlight="server")))
    for t in spec.transitions:
        marked = 'stroke="#1565c0"' in ET.tostring(edges[t.id], encoding="unicode")
        assert marked == (t.path == "server"), t.id


def test_coverage_colours_edges_by_verdict(spec: Spec) -> None:
    coverage = coverage_from_results(sample_run(), "run.json")
    assert coverage["ESTABLISHED--close-->FIN_WAIT_1"] == "deviation"
    assert coverage["FIN_WAIT_2--FIN-->TIME_WAIT"] == "fail"
    edges = _edges(_svg(spec, DiagramOptions(coverage=coverage)))
    classes = {tid: g.get("class", "") for tid, g in edges.items()}
    assert "verdict-pass" in classes["LISTEN--SYN-->SYN_RCVD"]
    assert "verdict-deviation" in classes["ESTABLISHED--close-->FIN_WAIT_1"]
    assert "verdict-fail" in classes["FIN_WAIT_2--FIN-->TIME_WAIT"]
    assert "verdict-not-covered" in classes["CLOSE_WAIT--close-->LAST_ACK"]
    assert 'stroke="#c62828"' in ET.tostring(edges["FIN_WAIT_2--FIN-->TIME_WAIT"], encoding="unicode")


def test_worst_verdict_wins(spec: Spec) -> None:
    data = {"results": [], "matrix": [
        {"transition": "A", "scenario": "x", "verdict": "pass"},
        {"transition": "A", "scenario": "y", "verdict": "deviation"},
        {"transition": "B", "scenario": "z", "verdict": "pass"},
    ]}
    assert coverage_from_results(data, "f") == {"A": "deviation", "B": "pass"}


def test_cli_writes_svg_png_and_dot(tmp_path: Path, run_json: Path) -> None:
    runner = CliRunner()
    for name, magic in (("tcp.svg", b"<?xml"), ("tcp.png", b"\x89PNG"), ("tcp.dot", b"digraph")):
        result = runner.invoke(main, ["diagram", "--coverage", str(run_json), "-o", str(tmp_path / name)])
        assert result.exit_code == 0, result.output
        assert (tmp_path / name).read_bytes().startswith(magic)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left behind


@pytest.mark.parametrize(
    ("args", "where"),
    [
        (["--path", "CLOSED,NOWHERE"], "--path"),
        (["--path", "CLOSED,ESTABLISHED"], "--path"),
        (["--highlight", "sideways"], "--highlight"),
        (["--format", "gif"], "--format"),
        (["--coverage", "/nonexistent/run.json"], "/nonexistent/run.json"),
        (["--spec", "/nonexistent/tcp.toml"], "/nonexistent/tcp.toml"),
    ],
)
def test_bad_input_is_one_line_exit_2(args: list[str], where: str, tmp_path: Path) -> None:
    out = tmp_path / "never.svg"
    result = CliRunner().invoke(main, ["diagram", *args, "-o", str(out)])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"tcpcheck: {where}"), result.output
    assert "Traceback" not in result.output
    assert not out.exists()


def test_invalid_coverage_json_names_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"results": [\n  {"scenario": "x",\n}')
    result = CliRunner().invoke(main, ["diagram", "--coverage", str(bad)])
    assert result.exit_code == 2
    assert re.match(rf"tcpcheck: {re.escape(str(bad))}:3: not valid JSON", result.output), result.output
    no_results = tmp_path / "empty.json"
    no_results.write_text(json.dumps({"stack": {}}))
    result = CliRunner().invoke(main, ["diagram", "--coverage", str(no_results)])
    assert result.exit_code == 2 and "'results'" in result.output


def test_missing_graphviz_is_one_clear_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import tcpcheck.tools.pictures.diagram as diagram

    monkeypatch.setattr(diagram.shutil, "which", lambda name: None)
    result = CliRunner().invoke(main, ["diagram", "-o", str(tmp_path / "x.svg")])
    assert result.exit_code == 2
    assert result.output.strip() == (
        "tcpcheck: dot: Graphviz is not installed; install it with: apt-get install graphviz")
    # DOT text needs no Graphviz at all.
    result = CliRunner().invoke(main, ["diagram", "--format", "dot"])
    assert result.exit_code == 0 and result.output.startswith("digraph")


@pytest.mark.parametrize("variant", ["plain", "coverage", "highlight", "path"])
def test_labels_touch_no_edge_state_or_other_label(spec: Spec, variant: str) -> None:
    """Checked on the drawing as Graphviz lays it out and draws it (dot -Tjson of the final
    render): every label box clear of every edge curve, state box and other label."""
    from tests.pictures.geometry import layout, overlaps
    from tests.pictures.samples import sample_run

    options = {
        "plain": DiagramOptions(),
        "coverage": DiagramOptions(coverage=coverage_from_results(sample_run(), "sample")),
        "highlight": DiagramOptions(highlight="client"),
        "path": DiagramOptions(path=("CLOSED", "SYN_SENT", "ESTABLISHED", "FIN_WAIT_1")),
    }[variant]
    drawn = layout(to_dot(spec, options))
    assert len(drawn.labels) == len(drawn.curves) >= 40
    assert overlaps(drawn) == []
    # the two labels the first drawing overlapped are both there, apart
    syn = [box for name, box in drawn.labels.items() if name.endswith("rcv SYN / snd SYN,ACK")]
    assert len(syn) == 2


def test_overlap_check_can_fail(spec: Spec) -> None:
    """The geometry test sees overlaps where they are: Graphviz's own placement has them."""
    import json

    from tcpcheck.tools.pictures.diagram import _graphviz
    from tcpcheck.tools.pictures.labels import fixed_dot
    from tests.pictures import geometry

    raw = json.loads(_graphviz(to_dot(spec), "json"))
    unplaced = json.loads(_graphviz(fixed_dot(raw, {}), "json", "-n2", layout="neato"))
    found = []
    for e in unplaced["edges"]:
        if "_ldraw_" in e and "close / snd FIN" in str(e.get("label")) and e.get("style") != "invis":
            box = geometry.text_box(e["_ldraw_"])
            assert box is not None
            found += [str(o.get("id")) for o in unplaced["edges"]
                      if "pos" in o and o.get("style") != "invis" and geometry._crosses(geometry.edge_curve(o), box)]
    assert found, "Graphviz's own placement of 'close / snd FIN' touches an edge"


def test_pdf_is_a_real_pdf(tmp_path: Path) -> None:
    import shutil
    import subprocess

    pdfinfo = shutil.which("pdfinfo")
    if pdfinfo is None:
        if os.environ.get("CI"):
            raise RuntimeError("pdfinfo is required in CI (apt-get install poppler-utils)")
        pytest.skip("pdfinfo is not installed (apt-get install poppler-utils)")
    out = tmp_path / "tcp.pdf"
    result = CliRunner().invoke(main, ["diagram", "-o", str(out)])
    assert result.exit_code == 0, result.output
    info = subprocess.run([pdfinfo, str(out)], capture_output=True, text=True, check=False)
    assert info.returncode == 0, info.stderr
    assert re.search(r"^Pages:\s+1$", info.stdout, re.M) and out.read_bytes().startswith(b"%PDF-")


@pytest.mark.parametrize(("args", "message"), [
    (["--format", "svg", "-o", "x.pdf"], "tcpcheck: --format: svg does not match the file name"),
    (["-o", "x.jpg"], "tcpcheck: -o: cannot tell the format from"),
    (["-o", "missing/x.pdf"], "tcpcheck: -o: the folder missing does not exist"),
])
def test_output_name_and_format_must_agree(args: list[str], message: str, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["diagram", *args])
    assert result.exit_code == 2 and result.output.startswith(message) and result.output.count("\n") == 1
    assert list(tmp_path.iterdir()) == []
