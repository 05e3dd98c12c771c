"""design.md: `tools` imports `model`; `model` never imports `tools`, and does no I/O
beyond reading spec files."""

from __future__ import annotations

import ast
from pathlib import Path

MODEL = Path(__file__).resolve().parents[2] / "model"


def test_model_never_imports_tools() -> None:
    for path in MODEL.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert not name.startswith("tools"), f"{path.name} imports {name}"
                assert name.split(".")[0] not in ("socket", "subprocess"), f"{path.name} does I/O via {name}"
