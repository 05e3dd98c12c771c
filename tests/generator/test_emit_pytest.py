"""The generated pytest files say exactly what the suites say."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest

from tcpcheck.model.spec import Spec
from tcpcheck.tools.generate import build_suite
from tcpcheck.tools.generate.drivable import DriveModel
from tcpcheck.tools.generate.emit_pytest import emit_pytest
from tcpcheck.tools.generate.paths import Explorer
from tcpcheck.tools.scenario import Scenario


@pytest.mark.parametrize("criterion", ["states", "transitions", "tour", "wp"])
def test_each_test_plays_its_scenario(spec: Spec, linux: DriveModel, explorer: Explorer, criterion: str,
                                      tmp_path: Path) -> None:
    suite = build_suite(linux, criterion, 1, explorer)
    text = emit_pytest(suite, spec, f"tcpcheck generate --criterion {criterion}")
    tree = ast.parse(text)
    tests = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")]
    assert [t.name for t in tests] == [f"test_{s.name}" for s in suite.scenarios]
    namespace: dict[str, Any] = {}
    exec(compile(text, str(tmp_path / "generated.py"), "exec"), namespace)  # noqa: S102 - our own output
    played: list[Scenario] = []

    def fake_play(name: str, steps: list[Any], transitions: list[str] = (), sysctls: Any = None,  # type: ignore[assignment]
                  profile: str = "", slow: bool = False) -> None:
        played.append(Scenario(name, tuple(steps), tuple(transitions), sysctls=dict(sysctls or {}), slow=slow))
        assert profile == "linux"

    for t in tests:
        fn = namespace[t.name]
        doc = fn.__doc__ or ""
        namespace[t.name](fake_play)
        scenario = played[-1]
        expected = next(s for s in suite.scenarios if s.name == scenario.name)
        assert scenario.steps == expected.steps and scenario.transitions == expected.transitions
        assert scenario.sysctls == expected.sysctls and scenario.slow == expected.slow
        # The docstring names every transition covered with its RFC reference.
        by_id = {tr.id: tr for tr in spec.transitions}
        for tid in expected.transitions:
            assert tid in doc and by_id[tid].rfc.split(";")[0] in " ".join(doc.split())
        marked = any(isinstance(d, ast.Attribute) and d.attr == "slow" for d in t.decorator_list)
        assert marked == expected.slow
