"""What a coverage criterion produces: scenarios, and the coverage reached."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tcpcheck.tools.scenario import Scenario


@dataclass(frozen=True)
class Suite:
    """A criterion's scenarios with what they cover and what they cannot.

    ``goals`` are the items the criterion asks for (states, transition ids,
    pairs, test sequences); ``covered`` those the scenarios reach;
    ``not_drivable`` the goals (or transitions) that cannot be driven on the
    stack, with the reason.
    """

    criterion: str
    profile: str
    scenarios: tuple[Scenario, ...]
    goals: tuple[str, ...]
    covered: tuple[str, ...]
    not_drivable: dict[str, str] = field(default_factory=dict)
    disabled: dict[str, str] = field(default_factory=dict)  # transitions outside the model under its options
    notes: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)  # criterion-specific numbers (e.g. the tour optimum)

    @property
    def steps(self) -> int:
        """Total steps over all scenarios."""
        return sum(len(s.steps) for s in self.scenarios)

    @property
    def coverage(self) -> float:
        """Covered goals / goals (1.0 when there are none)."""
        return len(set(self.covered) & set(self.goals)) / len(self.goals) if self.goals else 1.0

    def summary(self) -> dict[str, Any]:
        """Numbers for the command line and the benchmark."""
        return {
            "criterion": self.criterion,
            "profile": self.profile,
            "scenarios": len(self.scenarios),
            "steps": self.steps,
            "goals": len(self.goals),
            "covered": len(set(self.covered) & set(self.goals)),
            "coverage": round(self.coverage, 4),
            "slow_scenarios": sum(1 for s in self.scenarios if s.slow),
            "not_drivable": dict(self.not_drivable),
            **self.extra,
        }
