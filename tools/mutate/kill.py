"""A suite against one mutant on the model stack: killed, and by what.

A mutant is killed by a suite when one of its scenarios does not pass on
the model stack running the mutant (the runner, its peer and its judge
exactly as for Linux). Only the scenarios whose reference run fires the
mutated transition can tell (``suites``); ``every_scenario`` runs them all
anyway, which a test uses to show the shortcut changes no verdict.
"""

from __future__ import annotations

from dataclasses import dataclass

from tcpcheck.model.mutation import Mutant
from tcpcheck.tools.mutate.suites import Suites
from tcpcheck.tools.runner.execute import execute
from tcpcheck.tools.runner.stacks.model import ModelStack


@dataclass(frozen=True)
class Kill:
    """The first scenario of a suite that failed on a mutant, and where."""

    scenario: str
    step: str  # "7 expect FIN"
    expected: str
    observed: str
    runs: int  # scenarios run before and including the killing one

    def text(self) -> str:
        """``w012_closed step 7 expect FIN: expected FIN, observed NONE``."""
        return f"{self.scenario} step {self.step}: expected {self.expected}, observed {self.observed}"


def kills(suites: Suites, mutant: Mutant, stack: ModelStack, every_scenario: bool = False) -> dict[str, Kill | None]:
    """Per criterion, the first scenario that kills ``mutant`` (run on
    ``stack``, the model stack of the mutant), or None when none does."""
    judge = stack.profile()
    out: dict[str, Kill | None] = {}
    for criterion in suites.by_criterion:
        chosen = suites.scenarios(criterion) if every_scenario else suites.relevant(criterion, mutant.transition)
        out[criterion] = None
        for n, scenario in enumerate(chosen, start=1):
            result = execute(stack, scenario, judge)
            if result.verdict == "pass":
                continue
            bad = next((s for s in result.steps if s.verdict == "fail"), None)
            where = f"{bad.index} {bad.step}" if bad else "-"
            out[criterion] = Kill(scenario.name, where, bad.expected if bad else "", bad.observed if bad else
                                  result.note, n)
            break
    return out
