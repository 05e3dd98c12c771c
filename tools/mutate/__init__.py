"""Mutation analysis: how many faulty machines each generated suite kills
on the model stack, and how many the properties catch.

One module per concept: ``suites`` (the generated suites and their
reference runs on the unmutated spec), ``kill`` (a suite against one mutant
on the model stack), ``equivalence`` (is a mutant distinguishable at all by
a drivable walk?), ``catch`` (does some property tell it from the spec?),
``analysis`` (all of it for every mutant, in worker processes) and
``report`` (tables and JSON). The mutants themselves are
``tcpcheck.model.mutation``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tcpcheck.tools.mutate.analysis import Analysis, analyse

__all__ = ["Analysis", "analyse"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from tcpcheck.tools.mutate import analysis

        return getattr(analysis, name)
    raise AttributeError(name)
