"""Settings a scenario needs (its ``sysctls``) and whether the stack can
provide them (issue 15): the adapter sets them (Linux: any sysctl of the
namespace), or the profile's [[setting]] says the stack has them always;
otherwise the scenario is ``not drivable`` with the reason, never run,
never a pass or a deviation. The user-space stacks are checked in
test_lwip.py and test_pytcp.py (check_settings_it_lacks_are_not_drivable)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from tcpcheck.model.errors import InputError
from tcpcheck.tools.runner.execute import execute, not_drivable
from tcpcheck.tools.runner.harness import Harness
from tcpcheck.tools.runner.profile import ANY, Deviation, Profile, Setting, load_profile, profile_path
from tcpcheck.tools.runner.stacks.model import ModelStack
from tcpcheck.tools.runner.suite import default_suite

SUITE = {s.name: s for s in default_suite()}


def _with(profile: Profile, **settings: str) -> Profile:
    return dataclasses.replace(profile, settings={k: Setting(k, v, "why") for k, v in settings.items()})


def test_a_stack_that_cannot_set_it_needs_a_setting_entry() -> None:
    """The model stack sets nothing: what it has is its profile's [[setting]]."""
    stack = ModelStack()
    base = dataclasses.replace(stack.profile(), settings={})
    scenario = SUITE["no_time_wait_fin_again"]  # needs tcp_max_tw_buckets = 0
    assert not_drivable(scenario, base, stack) == \
        "needs tcp_max_tw_buckets = 0: model cannot set it, and no [[setting]] in its profile says it has it"
    assert not_drivable(scenario, _with(base, tcp_max_tw_buckets="0"), stack) == ""
    assert not_drivable(scenario, _with(base, tcp_max_tw_buckets=ANY), stack) == ""
    assert not_drivable(scenario, _with(base, tcp_max_tw_buckets="8"), stack) == \
        "needs tcp_max_tw_buckets = 0: model cannot set it, and it behaves as tcp_max_tw_buckets = 8 (why)"
    result = execute(stack, scenario, base)
    assert (result.verdict, result.steps) == ("not drivable", [])


def test_the_model_stack_has_only_the_timer_settings() -> None:
    """It fires its timers itself (tcp_fin_timeout only shortens one on Linux);
    it has no TIME_WAIT-less mode and no RFC 1337 switch to set."""
    stack = ModelStack()
    assert execute(stack, SUITE["fin_wait_2_orphan_timeout"], stack.profile()).verdict == "pass"
    assert execute(stack, SUITE["rst_in_time_wait_rfc1337"], stack.profile()).verdict == "not drivable"


def test_linux_sets_any_sysctl_it_has(tcp_harness: Harness) -> None:
    profile = tcp_harness.profile()
    assert not profile.settings and tcp_harness.can_set("tcp_max_tw_buckets")
    assert execute(tcp_harness, SUITE["no_time_wait_fin_again"], profile).verdict == "deviation"
    unknown = dataclasses.replace(SUITE["passive_close"], sysctls={"tcp_no_such_setting": "1"})
    assert not tcp_harness.can_set("tcp_no_such_setting")
    result = execute(tcp_harness, unknown, profile)
    assert (result.verdict, result.steps) == ("not drivable", [])
    assert result.note.startswith("needs tcp_no_such_setting = 1: linux cannot set it")


@pytest.mark.parametrize(("table", "row", "message"), [
    ("setting", 'name = "tcp_rfc1337"\nvalue = "1"', "missing 'reference'"),
    ("setting", 'name = "tcp_rfc1337"\nvalue = 1\nreference = "r"', "missing 'value' (a string)"),
    ("setting", 'name = "tcp_rfc1337"\nvalue = "1"\nreference = "r"\nwhy = "x"', "unknown field 'why'"),
    # [[timer]]: a timer's full length, which the runner's timer checks use
    ("timer", 'name = "time_wait"\nlength_ms = "60 s"\nreference = "r"', "length_ms must be a positive whole"),
    ("timer", 'name = "time_wait"\nlength_ms = 0\nreference = "r"', "length_ms must be a positive whole"),
    ("timer", 'name = "time_wait"\nlength_ms = 60000', "missing 'reference'"),
    ("timer", 'name = "time_wiat"\nlength_ms = 60000\nreference = "r"', "unknown timer 'time_wiat'"),
])
def test_bad_setting_and_timer_entries_are_one_located_error(table: str, row: str, message: str,
                                                             tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text(f'[profile]\nname = "p"\nstack = "s"\n\n[[{table}]]\n{row}\n')
    with pytest.raises(InputError) as err:
        load_profile(path)
    assert message in str(err.value) and f"[[{table}]] #1" in str(err.value)


@pytest.mark.parametrize("name", ["lwip", "pytcp"])
def test_the_user_space_profiles_say_what_they_have(name: str) -> None:
    settings = load_profile(profile_path(name)).settings
    assert settings["tcp_rfc1337"].value == "1" and "rst_ignored_in_time_wait" in settings["tcp_rfc1337"].reference
    assert settings["tcp_fin_timeout"].value == ANY and "tcp_max_tw_buckets" not in settings


def test_the_linux_profile_gives_time_wait_its_full_length() -> None:
    assert load_profile(profile_path("linux")).timer_lengths == {"time_wait": 60000}


def test_a_non_rfc_transition_taken_is_a_failure_unless_the_profile_documents_it() -> None:
    """The model runs the implementation transitions because a profile turns
    that option on; a stack taking one without an "extension" entry fails.
    The model stack's own profile runs the spec, where they are its own."""
    stack = ModelStack()
    timeout = "FIN_WAIT_2--timeout_fin_wait_2(implementation)-->CLOSED"
    assert execute(stack, SUITE["fin_wait_2_orphan_timeout"], stack.profile()).verdict == "pass"
    as_a_stack = dataclasses.replace(stack.profile(), runs_the_spec=False)
    result = execute(stack, SUITE["fin_wait_2_orphan_timeout"], as_a_stack)
    assert result.verdict == "fail"
    last = result.steps[-1]
    assert (last.verdict, last.transition, last.step) == ("fail", timeout, f"{timeout} is not in RFC 9293")
    assert 'no [[deviation]] kind = "extension"' in last.note
    entry = Deviation("orphan_timeout", "tcp_fin_timeout", kind="extension", transition=timeout)
    documented = dataclasses.replace(as_a_stack, deviations=(entry,))
    result = execute(stack, SUITE["fin_wait_2_orphan_timeout"], documented)
    assert (result.verdict, result.deviations) == ("deviation", ["orphan_timeout"])


def test_the_model_stack_is_not_handed_what_the_spec_has_no_name_for() -> None:
    """DATA and the variants that place a sequence number (in the window, an old
    incarnation's) are the timed model's cases: on the model stack the scenario is
    not drivable, with the step and the reason, where it used to fail. A bad ACK
    field is the spec's own vocabulary (which of our SYN and FIN a segment
    acknowledges) and is still played: the stack drops the RST,ACK as RFC 9293
    §3.10.7.3 says, and an unacceptable SYN,ACK it should answer with a RST, which
    the spec does not, fails."""
    stack = ModelStack()
    profile = stack.profile()
    for name, why in (("data_both_ways", "inject DATA: the spec's segments carry no data"),
                      ("rst_in_window_challenge_ack",
                       "inject RST (in_window): the spec has no sequence numbers, which RST (in_window) is about")):
        assert not_drivable(SUITE[name], profile, stack) == why
        assert execute(stack, SUITE[name], profile).verdict == "not drivable"
    assert execute(stack, SUITE["syn_sent_rst_bad_ack"], profile).verdict == "pass"
    assert execute(stack, SUITE["syn_sent_unacceptable_ack"], profile).verdict == "fail"
