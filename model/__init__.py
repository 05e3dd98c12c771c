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
    "InputError": "model.errors",
    "ModelOptions": "model.compose",
    "build_system": "model.compose",
    "wire_alphabet": "model.compose",
    "endpoint_graph": "model.graph",
    "Property": "model.properties",
    "load_properties": "model.properties",
    "Spec": "model.spec",
    "Transition": "model.spec",
    "load_spec": "model.spec",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'model' has no attribute {name!r}")
