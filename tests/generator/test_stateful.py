"""Hypothesis lockstep walks of the model against the real Linux stack."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test

from tcpcheck.model.spec import Spec, load_spec
from tcpcheck.tools.generate.drivable import DriveModel, load_drive_model
from tcpcheck.tools.generate.stateful import Diverged, lockstep_machine
from tcpcheck.tools.runner.profile import load_profile, profile_path

SETTINGS = settings(max_examples=60, stateful_step_count=12, deadline=None, derandomize=True,
                    suppress_health_check=list(HealthCheck), database=None)


@pytest.fixture(scope="module")
def profile(spec: Spec) -> Any:
    return load_profile(profile_path("linux"), {t.id for t in spec.transitions})


def test_random_walks_agree_with_linux(linux: DriveModel, tcp_harness: Any, profile: Any) -> None:
    machine = lockstep_machine(linux, tcp_harness, profile)
    run_state_machine_as_test(machine, settings=SETTINGS)


def test_a_wrong_model_is_caught_and_shrunk_to_a_scenario(tmp_path: Path, tcp_harness: Any, profile: Any) -> None:
    # A mutant spec: a FIN in ESTABLISHED is not acknowledged. Linux does
    # acknowledge it, so some walk must fail, shrunk to connect, SYN_ACK, FIN.
    text = (Path(load_spec().path)).read_text()
    marker = 'from = "ESTABLISHED"\nevent = "FIN"\nsends = ["ACK"]'
    assert marker in text
    bad = tmp_path / "tcp.toml"
    bad.write_text(text.replace(marker, 'from = "ESTABLISHED"\nevent = "FIN"\nsends = []'))
    model = load_drive_model(load_spec(bad), "linux")
    machine = lockstep_machine(model, tcp_harness, profile)
    with pytest.raises(Diverged) as caught:
        run_state_machine_as_test(machine, settings=settings(SETTINGS, max_examples=300))
    message = str(caught.value)
    assert "ESTABLISHED--FIN-->CLOSE_WAIT" in message and '"kind": "inject"' in message
    assert "expected NONE, the stack gave ACK" in message
