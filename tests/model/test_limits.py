"""Long work: the live line on a terminal (and nowhere else), --max-states and
--max-memory stopping a search with one line, Ctrl-C ending with one line."""

from __future__ import annotations

import json

import pytest

from tcpcheck.model import ModelOptions, build_system, load_spec
from tcpcheck.model.errors import SearchLimit
from tcpcheck.model.explicit import SearchProgress, explore
from tests.terminal import screen, tcpcheck

# Grows past 12 GB without a limit: the configuration the issue reported.
HUGE = ("verify", "--bound", "5", "--reorder", "--loss")


def _one_line(text: str) -> str:
    """The one line left on the screen (progress lines are erased)."""
    lines = [line for line in screen(text) if line.strip()]
    assert len(lines) == 1 and "Traceback" not in text, text
    return lines[0]


def test_engine_hook_reports_and_stops() -> None:
    system = build_system(load_spec(), ModelOptions(bound=2, loss=True))
    seen: list[SearchProgress] = []
    with pytest.raises(SearchLimit) as stop:
        explore(system, progress=seen.append, every=1000, max_states=5500)
    # the search expands a BFS layer a slice at a time: a report after each slice that took it
    # at least 1000 states past the previous one
    reported = [p.states for p in seen]
    assert reported and reported[0] >= 1000 and reported[-1] <= 5500
    assert all(b - a >= 1000 for a, b in zip(reported, reported[1:], strict=False))
    assert all(p.transitions > 0 and p.seconds >= 0 for p in seen)
    assert stop.value.limit == "states" and stop.value.states == 5500 and stop.value.value == 5500
    # a search that fits is the same with or without the hook
    small = build_system(load_spec(), ModelOptions())
    assert explore(small, progress=seen.append, max_states=10**6).states == explore(small).states


def test_max_states_stops_the_huge_search_with_one_line() -> None:
    for extra in ((), ("--json",)):
        out = tcpcheck(*HUGE, "--max-states", "30000", *extra, tty=False)
        assert out.returncode == 2 and out.stdout == ""
        line = _one_line(out.stderr)
        assert line.startswith("tcpcheck: --max-states 30000: the search stopped at 30,000 states")
        assert "try a smaller --bound (now 5)" in line and "--max-states" in line


def test_max_memory_stops_the_search_with_one_line() -> None:
    out = tcpcheck(*HUGE, "--max-memory", "120M", tty=False)
    assert out.returncode == 2 and out.stdout == ""
    line = _one_line(out.stderr)
    assert line.startswith("tcpcheck: --max-memory 120 MiB: the search stopped at ") and "--max-memory" in line
    bad = tcpcheck("verify", "--max-memory", "lots", tty=False)
    assert bad.returncode == 2 and "not a size" in _one_line(bad.stderr)


def test_live_line_on_a_terminal_only_and_json_stays_clean() -> None:
    # long enough for the line to appear (it waits 0.4 s) on a fast machine:
    # the packed engine searches K=2 with loss in a fraction of that
    args = ("verify", "--bound", "3", "--reorder", "--loss", "--property", "reach_CLOSED", "--json")
    on_tty = tcpcheck(*args)
    assert on_tty.returncode == 0
    assert "explicit search:" in on_tty.stderr and "states so far" in on_tty.stderr
    assert "states/s" in on_tty.stderr and "MiB" in on_tty.stderr
    assert json.loads(on_tty.stdout)["stats"]["states"] > 10_000  # stdout is the JSON alone
    piped = tcpcheck(*args, tty=False)
    assert piped.returncode == 0 and piped.stderr == ""
    verdicts = [(p["name"], p["verdict"]) for p in json.loads(piped.stdout)["properties"]]
    assert verdicts == [(p["name"], p["verdict"]) for p in json.loads(on_tty.stdout)["properties"]]


def test_z3_says_which_property_and_method() -> None:
    out = tcpcheck("verify", "--engine", "z3", "--property", "time_wait_naive", "--property", "reach_CLOSED",
                   "--max-memory", "2G")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "z3: BMC depth" in out.stderr and "time_wait_naive[A]" in out.stderr


@pytest.mark.parametrize("args, after", [(HUGE, 1.5), (("verify", "--engine", "z3"), 1.5)],
                         ids=["explicit", "z3"])
def test_ctrl_c_is_one_line_and_exit_130(args: tuple[str, ...], after: float) -> None:
    for tty in (False, True):
        out = tcpcheck(*args, "--max-states", "2000000", interrupt_after=after, tty=tty)
        assert out.returncode == 130, out.stderr
        assert out.stdout == ""
        assert _one_line(out.stderr) == "tcpcheck: interrupted"
