"""The tcpcheck model: the RFC 9293 machine loaded from ``specs/``, the
endpoint graph, the composed two-endpoint system, properties and engines.

The model does no I/O beyond reading spec files and needs no privileges.
Names are imported on first use, so that loading the spec does not pay for
networkx or Z3.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "InputError": "tcpcheck.model.errors",
    "ModelOptions": "tcpcheck.model.compose",
    "build_system": "tcpcheck.model.compose",
    "wire_alphabet": "tcpcheck.model.compose",
    "endpoint_graph": "tcpcheck.model.graph",
    "Property": "tcpcheck.model.properties",
    "load_properties": "tcpcheck.model.properties",
    "Spec": "tcpcheck.model.spec",
    "Transition": "tcpcheck.model.spec",
    "load_spec": "tcpcheck.model.spec",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'model' has no attribute {name!r}")
