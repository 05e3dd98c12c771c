"""The project's own pytest configuration (not installed; the tcpcheck
plugin users get is tools/pytest_plugin.py).

The summary line says how many tests were deselected (the `slow` ones, by
pyproject's ``-m 'not slow'``) under pytest-xdist too: there the workers
collect and deselect, and the controller's summary would not mention them.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

_DESELECTED = pytest.StashKey[int]()


def pytest_deselected(items: list[pytest.Item]) -> None:
    if items and hasattr(items[0].config, "workeroutput"):  # an xdist worker: tell the controller
        out = items[0].config.workeroutput  # type: ignore[attr-defined]
        out["deselected"] = out.get("deselected", 0) + len(items)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    # every worker collects (and deselects) the whole suite: the count is one worker's
    config = node.config
    seen = int(getattr(node, "workeroutput", {}).get("deselected", 0))
    config.stash[_DESELECTED] = max(config.stash.get(_DESELECTED, 0), seen)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    count = config.stash.get(_DESELECTED, 0)
    if count and not terminalreporter.stats.get("deselected"):
        # the summary line counts this list: "812 passed, 45 deselected"
        terminalreporter.stats["deselected"] = [SimpleNamespace() for _ in range(count)]
