"""Hostile values in every text field of a run.json run no script in the report.

A run.json is input: whoever hands one over (a CI artefact, a mail) chooses
every string in it. Each string field gets markup that would run script in an
element, in a quoted attribute and in an unquoted one; the page must carry
none of it as markup, must forbid script with a Content-Security-Policy, and,
opened in headless Chromium, must run nothing and log nothing.
"""

from __future__ import annotations

import json
import os
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tcpcheck.tools.cli import main
from tests.pictures.browser import CHROMIUM, Browser
from tests.pictures.samples import sample_run

# Closes a text node, a double-quoted and a single-quoted attribute, then opens live markup.
PAYLOAD = "x\"'><script>window.pwned=1</script><img src=x onerror=\"window.pwned=2\"><svg onload=window.pwned=3>"

_SAFE_KEYS = {"seconds", "index"}  # numbers: the page formats them as numbers
# Names from a closed set (tools/results.schema.json enums, and transition ids
# the report checks against the spec): a hostile one is refused with exit 2,
# as test_hostile_names_are_refused checks; every other string reaches the page.
_NAME_KEYS = {"verdict", "transitions", "transition", "kind", "expect", "mode"}


def _hostile(value: Any, key: str = "") -> Any:
    """Every string of ``value`` (keys of free-form maps too) with the payload appended."""
    if isinstance(value, str):
        return value + PAYLOAD
    if isinstance(value, list):
        return [_hostile(v, key) for v in value]
    if isinstance(value, dict):
        free_keys = key in ("sysctls",)
        return {(k + PAYLOAD if free_keys else k): (v if k in _SAFE_KEYS | _NAME_KEYS else _hostile(v, k))
                for k, v in value.items()}
    return value


class _Markup(HTMLParser):
    """Every element and every attribute name the page really contains."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: list[str] = []
        self.csp: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs.extend(name for name, _ in attrs)
        values = dict(attrs)
        if tag == "meta" and (values.get("http-equiv") or "").lower() == "content-security-policy":
            self.csp.append(values.get("content") or "")


def hostile_run() -> dict[str, Any]:
    data = _hostile(sample_run())
    # The verdicts must stay recognisable for the step and arrow code paths
    # that depend on them; their hostile copies ride beside them.
    for r, clean in zip(data["results"], sample_run()["results"], strict=True):
        for step, original in zip(r["steps"], clean["steps"], strict=True):
            step["step"] = original["step"] + PAYLOAD if " " in original["step"] else original["step"]
    return data


@pytest.mark.parametrize("where", ["verdict", "transition", "step-verdict"])
def test_hostile_names_are_refused(where: str, tmp_path: Path) -> None:
    data = sample_run()
    if where == "verdict":
        data["results"][0]["verdict"] += PAYLOAD
    elif where == "transition":
        data["results"][0]["transitions"][0] += PAYLOAD
    else:
        data["results"][0]["steps"][0]["verdict"] += PAYLOAD
    run = tmp_path / "run.json"
    run.write_text(json.dumps(data))
    result = CliRunner().invoke(main, ["report", str(run), "-o", str(tmp_path / "r.html")])
    assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1, result.output
    assert not (tmp_path / "r.html").exists()


@pytest.fixture
def hostile_report(tmp_path: Path) -> Path:
    run = tmp_path / "run.json"
    run.write_text(json.dumps(hostile_run()))
    out = tmp_path / "report.html"
    result = CliRunner().invoke(main, ["report", str(run), "-o", str(out)])
    assert result.exit_code == 0, result.output
    return out


def test_no_hostile_markup_reaches_the_page(hostile_report: Path) -> None:
    html = hostile_report.read_text()
    assert "window.pwned" in html, "the payload is shown (as text)"
    parser = _Markup()
    parser.feed(html)
    assert "script" not in parser.tags and "img" not in parser.tags
    assert not [a for a in parser.attrs if a.startswith("on")], "no event handler attribute"
    assert parser.csp, "the page carries a Content-Security-Policy"
    policy = parser.csp[0]
    assert "default-src 'none'" in policy and "script-src" not in policy


def test_the_report_svgs_alone_are_safe_too(tmp_path: Path) -> None:
    """The sequence charts are also written as standalone SVG files."""
    from tcpcheck.tools.pictures.msc import chart_from_result, render_svg

    for result in hostile_run()["results"]:
        parser = _Markup()
        parser.feed(render_svg(chart_from_result(result, "stack" + PAYLOAD)))
        assert "script" not in parser.tags and "img" not in parser.tags
        assert not [a for a in parser.attrs if a.startswith("on")]


@pytest.mark.skipif(CHROMIUM is None and not os.environ.get("CI"), reason="chromium is not installed")
def test_the_hostile_report_runs_no_script_in_chromium(hostile_report: Path) -> None:
    with Browser() as browser:
        # A hook any script in the page would trip, installed before the page's own code.
        browser.call("Page.addScriptToEvaluateOnNewDocument", {
            "source": "window.pwned = 0; Object.defineProperty(window, 'alert', "
                      "{value: () => console.error('alert called')});"})
        browser.open(hostile_report)
        assert browser.evaluate("window.pwned") == 0
        assert browser.evaluate("document.querySelectorAll('script, img, [onload], [onerror]').length") == 0
        assert "window.pwned" in browser.evaluate("document.body.textContent")
        assert browser.problems() == []
        assert all(u.startswith("file:") for u in browser.requests), browser.requests
