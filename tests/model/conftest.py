"""Shared fixtures for the model tests: the spec and explored spaces, built once."""

from __future__ import annotations

import functools

import pytest

from tcpcheck.model import ModelOptions, build_system, load_properties, load_spec
from tcpcheck.model.explicit import StateSpace, explore


@functools.cache
def space(
    bound: int = 3,
    reorder: bool = False,
    loss: bool = False,
    duplicate: bool = False,
    spec_path: str | None = None,
    **spec_options: bool,
) -> StateSpace:
    """Explored state space for a configuration (cached across tests)."""
    opts = ModelOptions(bound=bound, reorder=reorder, loss=loss, duplicate=duplicate, spec_options=spec_options)
    return explore(build_system(load_spec(spec_path), opts))


@pytest.fixture(scope="session")
def spec():  # type: ignore[no-untyped-def]
    return load_spec()


@pytest.fixture(scope="session")
def props():  # type: ignore[no-untyped-def]
    return {p.name: p for p in load_properties()}
