"""Shared fixtures for the model tests: the spec and explored spaces, built once."""

from __future__ import annotations

import functools

import pytest

from tcpcheck.model import ModelOptions, build_system, load_properties, load_spec
from tcpcheck.model.explicit import StateSpace, explore
from tcpcheck.model.properties import load_property_file

PROPERTY_FILE = load_property_file()
CONFIGURATIONS = [c.name for c in PROPERTY_FILE.configurations]


@functools.cache
def space(
    bound: int = 3,
    reorder: bool = False,
    loss: bool = False,
    duplicate: bool = False,
    spec_path: str | None = None,
    **spec_options: bool,
) -> StateSpace:
    """Explored state space for a configuration (cached across tests), with the embedded properties' monitors."""
    opts = ModelOptions(bound=bound, reorder=reorder, loss=loss, duplicate=duplicate, spec_options=spec_options)
    return explore(build_system(load_spec(spec_path), opts, load_properties()))


def config_space(name: str, spec_path: str | None = None) -> StateSpace:
    """The explored space of one configuration of specs/properties.toml (cached)."""
    c = PROPERTY_FILE.configuration(name)
    return space(c.bound, c.reorder, c.loss, c.duplicate, spec_path, **c.options)


@pytest.fixture(scope="session")
def spec():  # type: ignore[no-untyped-def]
    return load_spec()


@pytest.fixture(scope="session")
def props():  # type: ignore[no-untyped-def]
    return {p.name: p for p in load_properties()}
