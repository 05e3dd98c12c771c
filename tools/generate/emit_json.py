"""Emitting a suite as a JSON scenario file, the format ``tcpcheck run``
reads (``tools/scenario.schema.json``). Same suite, same bytes."""

from __future__ import annotations

import json

from tcpcheck.tools.generate.suite import Suite

FORMAT = "tcpcheck-scenarios/1"


def json_name(suite: Suite) -> str:
    """``json/transitions.json``: one file per criterion."""
    return f"json/{suite.criterion}.json"


def emit_json(suite: Suite, command: str) -> str:
    """The suite's scenarios as one JSON document (``command`` regenerates it)."""
    doc = {
        "format": FORMAT,
        "criterion": suite.criterion,
        "profile": suite.profile,
        "command": command,
        "scenarios": [s.to_json() for s in suite.scenarios],
    }
    return json.dumps(doc, indent=1, ensure_ascii=False) + "\n"
