"""A run as JUnit XML, the test-report format CI systems read (Jenkins,
GitLab, GitHub Actions' reporters): one testsuite, one testcase per
scenario. A failing scenario is a ``<failure>`` with its step table; a
documented deviation passes, with the profile entry in ``<system-out>``; a
scenario not run (slow) is ``<skipped>``. Pure: no I/O."""

from __future__ import annotations

import re
import socket
import time
import xml.etree.ElementTree as ET

from tcpcheck.tools.runner.execute import ScenarioResult
from tcpcheck.tools.runner.harness import StackInfo
from tcpcheck.tools.runner.profile import Profile
from tcpcheck.tools.scenario import Scenario

# XML 1.0 cannot carry most control characters, whatever the escaping.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _text(value: object) -> str:
    return _NOT_XML.sub("\ufffd", str(value))


def _seconds(value: float) -> str:
    return f"{value:.3f}"  # the schemas CI tools use allow at most three decimals


def step_table(result: ScenarioResult) -> str:
    """Every step with its verdict and what was seen, one a line."""
    lines = []
    for s in result.steps:
        seen = f" (expected {s.expected}, observed {s.observed})" if s.expected or s.observed else ""
        where = f" [{s.transition}]" if s.transition else ""
        lines.append(f"{s.index:>3} {s.verdict:<9} {s.step}{where}{seen}" + (f" -- {s.note}" if s.note else ""))
    return "\n".join(lines)


def junit_xml(info: StackInfo, profile: Profile, results: list[ScenarioResult], not_run: list[Scenario],
              timestamp: float | None = None, hostname: str | None = None) -> str:
    """The JUnit XML document of one run."""
    classname = f"tcpcheck.{profile.name}"
    failures = sum(1 for r in results if r.verdict == "fail")
    total = sum(r.seconds for r in results)
    suite = ET.Element("testsuite", {
        "name": f"tcpcheck run: Linux {_text(info.kernel)} (profile {profile.name})",
        "tests": str(len(results) + len(not_run)),
        "failures": str(failures),
        "errors": "0",
        "skipped": str(len(not_run)),
        "time": _seconds(total),
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(timestamp)),
        "hostname": _text(hostname if hostname is not None else socket.gethostname()),
    })
    props = ET.SubElement(suite, "properties")
    ET.SubElement(props, "property", {"name": "kernel", "value": _text(info.kernel)})
    ET.SubElement(props, "property", {"name": "profile", "value": profile.name})
    for key, value in info.sysctls.items():
        ET.SubElement(props, "property", {"name": f"sysctl {_text(key)}", "value": _text(value)})
    for r in results:
        case = ET.SubElement(suite, "testcase", {"classname": classname, "name": _text(r.scenario),
                                                 "time": _seconds(r.seconds)})
        if r.verdict == "fail":
            bad = next((s for s in r.steps if s.verdict == "fail"), None)
            message = (f"step {bad.index} {bad.step}: expected {bad.expected}, observed {bad.observed}"
                       + (f" ({bad.transition})" if bad.transition else "")) if bad else r.note or "failed"
            failure = ET.SubElement(case, "failure", {"type": "fail", "message": _text(message)})
            failure.text = _text(step_table(r))
        out = [f"verdict: {r.verdict}"]
        if r.transitions:
            out.append("covers: " + ", ".join(r.transitions))
        if r.deviations:
            out.append("documented deviations: " + r.note)
        ET.SubElement(case, "system-out").text = _text("\n".join(out))
    for s in not_run:
        case = ET.SubElement(suite, "testcase", {"classname": classname, "name": _text(s.name), "time": "0.000"})
        ET.SubElement(case, "skipped", {"message": "slow: waits for Linux's fixed 60 s TIME_WAIT; run with --slow"})
    root = ET.Element("testsuites", {"name": "tcpcheck run", "tests": suite.get("tests", "0"),
                                     "failures": str(failures), "errors": "0", "time": _seconds(total)})
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
