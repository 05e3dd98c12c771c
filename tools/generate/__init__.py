"""The generator: conformance suites from the model's endpoint graph.

One module per concept: ``drivable`` (how each edge is driven on a stack),
``paths`` (walks from CLOSED, realised as scenario steps), one module per
coverage criterion (``states``, ``transitions``, ``pairs``, ``wmethod``,
``tour``), one per emitter (``emit_pytest``, ``emit_packetdrill``),
``stateful`` (Hypothesis lockstep walks) and ``play`` (the pytest fixture
the generated files use). ``build_suite`` (``build``) picks a criterion;
``Suite`` (``suite``) is what every criterion returns.
"""

from __future__ import annotations

from tcpcheck.tools.generate.build import ALL_CRITERIA, CRITERIA, TWO_SIDED_CRITERIA, build_suite, load_drive_model
from tcpcheck.tools.generate.suite import Suite

__all__ = ["ALL_CRITERIA", "CRITERIA", "TWO_SIDED_CRITERIA", "Suite", "build_suite", "load_drive_model"]
