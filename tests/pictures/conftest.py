"""Shared fixtures for the picture tests: the spec and a run document on disk."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tcpcheck.model.spec import Spec, load_spec
from tests.pictures.samples import sample_run


@pytest.fixture(scope="session")
def spec() -> Spec:
    return load_spec()


@pytest.fixture
def run_json(tmp_path: Path) -> Path:
    path = tmp_path / "run.json"
    path.write_text(json.dumps(sample_run()))
    return path
