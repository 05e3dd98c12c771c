"""The report and the diagram in a real browser: Debian's headless Chromium.

These must run in CI (``.ci/run`` installs chromium): without it they fail
there and skip only on a developer machine.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest
from click.testing import CliRunner

from tcpcheck.model.spec import Spec
from tcpcheck.tools.cli import main
from tests.pictures.browser import CHROMIUM, Browser

if CHROMIUM is None:
    if os.environ.get("CI"):
        raise RuntimeError("chromium is required in CI for the browser tests (apt-get install chromium)")
    pytest.skip("chromium is not installed (apt-get install chromium)", allow_module_level=True)

WIDTH, HEIGHT = 1300, 1000

# The visible text of every state label inside an SVG, with its box on screen.
_STATE_BOXES = """
Array.from(document.querySelectorAll('%s g.node text')).map(t => {
  const r = t.getBoundingClientRect();
  const style = getComputedStyle(t);
  return [t.textContent, r.width, r.height, style.visibility, style.display];
})
"""


@pytest.fixture(scope="module")
def browser() -> Browser:
    with Browser(WIDTH, HEIGHT) as b:
        yield b


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def _visible_states(browser: Browser, scope: str) -> set[str]:
    boxes = browser.evaluate(_STATE_BOXES % scope)
    return {text for text, w, h, vis, disp in boxes if w > 0 and h > 0 and vis == "visible" and disp != "none"}


def test_report_in_chromium(browser: Browser, run_json: Path, tmp_path: Path, spec: Spec) -> None:
    report = tmp_path / "report.html"
    result = CliRunner().invoke(main, ["report", str(run_json), "-o", str(report)])
    assert result.exit_code == 0, result.output
    browser.open(report)
    shot = browser.screenshot(tmp_path / "report.png")
    assert _png_size(shot) == (WIDTH, HEIGHT)

    text = browser.evaluate("document.body.innerText")
    assert "Linux 6.1.0-test" in text and "Summary" in text
    assert set(spec.state_names) <= _visible_states(browser, ".figure")
    # The verdict table: one visible row per transition, with verdict badges.
    rows = browser.evaluate("""
      Array.from(document.querySelectorAll('#verdict-table tbody tr')).map(r => [
        r.cells[0].innerText, r.cells[4].innerText, r.getBoundingClientRect().height])""")
    assert {r[0] for r in rows} == {t.id for t in spec.transitions}
    assert all(height > 0 for _, _, height in rows)
    verdicts = {tid: v for tid, v, _ in rows}
    assert verdicts["FIN_WAIT_2--FIN-->TIME_WAIT"] == "fail"
    assert verdicts["ESTABLISHED--close-->FIN_WAIT_1"] == "deviation"
    # Scenario charts that need attention are open and drawn.
    open_charts = browser.evaluate("""
      Array.from(document.querySelectorAll('details.scenario[open] svg.msc'))
        .map(s => s.getBoundingClientRect().height)""")
    assert len(open_charts) == 2 and all(h > 100 for h in open_charts)
    # Nothing went wrong, and nothing was fetched but the file itself.
    assert browser.problems() == []
    assert browser.requests == [report.resolve().as_uri()]


# Smallest legible text on screen, in CSS pixels (9 pt labels drawn at their natural size are 12 px).
LEGIBLE_PX = 11.0


def test_report_diagram_is_legible_as_displayed(browser: Browser, run_json: Path, tmp_path: Path) -> None:
    """Every label of the embedded diagram, measured as the browser draws it at a
    laptop's width: its font size times the SVG's scale on screen."""
    report = tmp_path / "report.html"
    result = CliRunner().invoke(main, ["report", str(run_json), "-o", str(report)])
    assert result.exit_code == 0, result.output
    browser.open(report)
    sizes = browser.evaluate("""
      Array.from(document.querySelectorAll('.figure svg text')).map(t =>
        [t.textContent, parseFloat(getComputedStyle(t).fontSize) * t.getScreenCTM().a])""")
    assert len(sizes) > 50
    small = [(text, round(px, 1)) for text, px in sizes if px < LEGIBLE_PX]
    assert small == [], small[:5]
    # the figure scrolls sideways within its frame rather than shrink; the page itself does not
    frame = browser.evaluate("""(() => { const f = document.querySelector('.figure');
      return [f.scrollWidth, f.clientWidth, document.documentElement.scrollWidth, window.innerWidth]; })()""")
    assert frame[0] >= frame[1] and frame[2] <= frame[3]


def test_diagram_in_chromium(browser: Browser, tmp_path: Path, spec: Spec) -> None:
    svg = tmp_path / "tcp.svg"
    result = CliRunner().invoke(main, ["diagram", "-o", str(svg)])
    assert result.exit_code == 0, result.output
    browser.open(svg)
    shot = browser.screenshot(tmp_path / "tcp.png")
    assert _png_size(shot) == (WIDTH, HEIGHT)
    assert set(spec.state_names) <= _visible_states(browser, "svg")
    # Every transition is drawn: one edge group per arrow, each with its path.
    edges = browser.evaluate("document.querySelectorAll('g.edge path').length")
    assert edges >= len({(t.source, t.target, t.path) for t in spec.transitions})
    assert browser.problems() == []


def test_problems_are_detected(browser: Browser, tmp_path: Path) -> None:
    """The 'no console errors' checks above can fail: a broken page is caught."""
    page = tmp_path / "broken.html"
    page.write_text('<p>x</p><img src="missing.png"><script>console.error("boom"); nosuch();</script>')
    browser.open(page)
    problems = browser.problems()
    assert any("boom" in p for p in problems)
    assert any(p.startswith("exception:") for p in problems)
    assert any("missing.png" in p for p in problems)
