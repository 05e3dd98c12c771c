"""What the census and the capture checker say about a state comes from the
spec: the closer roles are derived from the transitions (and change when a
mutant changes them), the new state fields are validated."""

from __future__ import annotations

from pathlib import Path

import pytest

from tcpcheck.model import InputError, load_spec
from tcpcheck.model.explain import ACTIVE, PASSIVE, closer_roles, story, waits_for

MUTANTS = Path(__file__).resolve().parents[1] / "mutants"


def test_closer_roles_of_the_rfc_machine() -> None:
    roles = closer_roles(load_spec(), {"implementation": True})
    assert {s for s, r in roles.items() if r == {ACTIVE}} == {"FIN_WAIT_1", "FIN_WAIT_2", "CLOSING", "TIME_WAIT"}
    assert {s for s, r in roles.items() if r == {PASSIVE}} == {"CLOSE_WAIT", "LAST_ACK"}
    assert roles["ESTABLISHED"] == frozenset() and roles["CLOSED"] == {ACTIVE, PASSIVE}


def test_a_mutant_changes_the_roles() -> None:
    # The passive closer goes to TIME_WAIT: the census must no longer say
    # that only the active closer holds TIME_WAIT.
    roles = closer_roles(load_spec(MUTANTS / "close_wait_close_to_time_wait.toml"))
    assert roles["TIME_WAIT"] == {ACTIVE, PASSIVE}
    assert story(load_spec(MUTANTS / "close_wait_close_to_time_wait.toml"), "TIME_WAIT").role_text() == ""


def test_what_a_state_waits_for() -> None:
    spec = load_spec()
    assert [t.id for t in waits_for(spec, "CLOSE_WAIT")] == ["CLOSE_WAIT--close-->LAST_ACK"]
    assert [t.id for t in waits_for(spec, "FIN_WAIT_2", {"implementation": True})] == [
        "FIN_WAIT_2--FIN-->TIME_WAIT", "FIN_WAIT_2--timeout_fin_wait_2(implementation)-->CLOSED"]
    assert [s.name for s in spec.states if s.sends_data] == ["ESTABLISHED", "CLOSE_WAIT"]
    assert spec.state("LISTEN").arrival == "RFC 9293 §3.10.7.2"


@pytest.mark.parametrize("field, value, message", [
    ("sends_data", '"yes"', "field 'sends_data': must be a bool"),
    ("waits", '"FIN"', "field 'waits': unknown field"),
])
def test_state_fields_are_validated(tmp_path: Path, field: str, value: str, message: str) -> None:
    text = (Path(load_spec().path)).read_text()
    text = text.replace('name = "CLOSE_WAIT"\n', f'name = "CLOSE_WAIT"\n{field} = {value}\n', 1)
    text = text.replace('sends_data = true\n\n[[state]]\nname = "CLOSING"', '\n[[state]]\nname = "CLOSING"') \
        if field == "sends_data" else text
    bad = tmp_path / "bad.toml"
    bad.write_text(text)
    with pytest.raises(InputError) as err:
        load_spec(bad)
    assert message in str(err.value) and "[[state]] #8" in str(err.value)
