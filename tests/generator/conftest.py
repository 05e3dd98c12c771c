"""Shared fixtures of the generator's tests: the spec and the Linux drive model, built once."""

from __future__ import annotations

import pytest

from tcpcheck.model.spec import Spec, load_spec
from tcpcheck.tools.generate.drivable import DriveModel, load_drive_model
from tcpcheck.tools.generate.paths import Explorer


@pytest.fixture(scope="session")
def spec() -> Spec:
    return load_spec()


@pytest.fixture(scope="session")
def linux(spec: Spec) -> DriveModel:
    return load_drive_model(spec, "linux")


@pytest.fixture(scope="session")
def explorer(linux: DriveModel) -> Explorer:
    return Explorer(linux)
