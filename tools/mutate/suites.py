"""The generated suites a mutation analysis runs, and their reference runs.

The suites are built the way ``tcpcheck generate`` builds them (profile
``linux``, the committed number of extra states for W and Wp). Each
scenario is run once on the model stack of the unmutated spec: it must
pass there, and the spec transitions it fires are recorded. A mutant
edits one transition; the model stack is deterministic, so a scenario
whose reference run never fires that transition behaves the same on the
mutant (every step up to the first firing is the same step), and need not
be run against it.
"""

from __future__ import annotations

from dataclasses import dataclass

from tcpcheck.model.endpoint import EndpointMachine
from tcpcheck.model.spec import Spec
from tcpcheck.tools.generate import CRITERIA, build_suite, load_drive_model
from tcpcheck.tools.generate.drivable import DriveModel
from tcpcheck.tools.generate.paths import Explorer
from tcpcheck.tools.runner.execute import execute
from tcpcheck.tools.runner.stacks.model import ModelStack
from tcpcheck.tools.scenario import Scenario

DEFAULT_EXTRA_STATES = 1  # what generated_tests/ holds (tools/cli/generate.py)


@dataclass(frozen=True)
class Reference:
    """A scenario and the transitions its run on the unmutated spec fires."""

    scenario: Scenario
    fired: frozenset[str]


@dataclass
class Suites:
    """Every criterion's scenarios with their reference runs."""

    spec: Spec
    model: DriveModel
    options: dict[str, bool]  # the spec options of the profile the suites were generated for
    extra_states: int
    by_criterion: dict[str, tuple[Reference, ...]]

    def relevant(self, criterion: str, transition: str) -> list[Scenario]:
        """The scenarios of ``criterion`` whose reference run fires ``transition``."""
        return [r.scenario for r in self.by_criterion[criterion] if transition in r.fired]

    def scenarios(self, criterion: str) -> list[Scenario]:
        """Every scenario of ``criterion``."""
        return [r.scenario for r in self.by_criterion[criterion]]


def build_suites(spec: Spec, criteria: tuple[str, ...] = CRITERIA, extra_states: int = DEFAULT_EXTRA_STATES,
                 profile: str = "linux") -> Suites:
    """Generate ``criteria`` for ``profile`` and run each scenario once on
    the model stack of ``spec``; ValueError if one does not pass there."""
    model = load_drive_model(spec, profile)
    explorer = Explorer(model)
    stack = ModelStack(machine=EndpointMachine(spec, model.options), capture=False)
    judge = stack.profile()
    by_criterion: dict[str, tuple[Reference, ...]] = {}
    for criterion in criteria:
        suite = build_suite(model, criterion, extra_states, explorer)
        refs = []
        for scenario in suite.scenarios:
            result = execute(stack, scenario, judge)
            if result.verdict != "pass":
                raise ValueError(f"{criterion} scenario {scenario.name} does not pass on the spec's own model "
                                 f"stack: {result.note or result.verdict}")
            assert stack.last_endpoint is not None
            refs.append(Reference(scenario, frozenset(stack.last_endpoint.fired)))
        by_criterion[criterion] = tuple(refs)
    return Suites(spec, model, dict(model.options), extra_states, by_criterion)
