"""Choosing a criterion: the one place that maps names to modules."""

from __future__ import annotations

from tcpcheck.model.errors import InputError
from tcpcheck.tools.generate.drivable import DriveModel, load_drive_model
from tcpcheck.tools.generate.paths import Explorer
from tcpcheck.tools.generate.suite import Suite

# One-sided suites play one endpoint against the runner's peer (any stack,
# packetdrill); two-sided ones need two real endpoints (the loopback runner).
CRITERIA = ("states", "transitions", "pairs", "w", "wp", "tour")
TWO_SIDED_CRITERIA = ("loopback",)
ALL_CRITERIA = CRITERIA + TWO_SIDED_CRITERIA

__all__ = ["ALL_CRITERIA", "CRITERIA", "TWO_SIDED_CRITERIA", "build_suite", "load_drive_model"]


def build_suite(model: DriveModel, criterion: str, extra_states: int = 0, explorer: Explorer | None = None) -> Suite:
    """The suite of ``criterion`` (one of ``CRITERIA``) for ``model``."""
    ex = explorer or Explorer(model)
    if criterion == "states":
        from tcpcheck.tools.generate.states import states_suite

        return states_suite(model, ex)
    if criterion == "transitions":
        from tcpcheck.tools.generate.transitions import transitions_suite

        return transitions_suite(model, ex)
    if criterion == "tour":
        from tcpcheck.tools.generate.tour import tour_suite

        return tour_suite(model, ex)
    if criterion == "pairs":
        from tcpcheck.tools.generate.pairs import pairs_suite

        return pairs_suite(model, ex)
    if criterion in ("w", "wp"):
        from tcpcheck.tools.generate.wmethod import w_suite

        return w_suite(model, ex, extra_states, partial=criterion == "wp")
    if criterion == "loopback":
        from tcpcheck.tools.generate.loopback import loopback_suite

        return loopback_suite(model)
    raise InputError("--criterion", f"unknown criterion {criterion!r}; use one of {', '.join(ALL_CRITERIA)}")
