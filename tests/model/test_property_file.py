"""specs/properties.toml's tables are validated: RFC sections that exist, requirements that
name real properties (or say why not), every property stating a requirement, configurations."""

from __future__ import annotations

from pathlib import Path

import pytest

from tcpcheck.model import InputError
from tcpcheck.model.properties import load_property_file

EMBEDDED = (Path(__file__).resolve().parents[2] / "specs" / "properties.toml").read_text()
PROP = '[[property]]\nname = "p"\nrfc = "RFC 9293 §3.6"\nkind = "invariant"\nexpr = "true"\nexpect = "holds"\n\n'
REQ = '[[requirement]]\nid = "r"\nrfc = "RFC 9293 §3.6"\ntext = "t"\nproperties = ["p"]\n\n'


def load(tmp_path: Path, text: str) -> str:
    path = tmp_path / "p.toml"
    path.write_text(text)
    with pytest.raises(InputError) as info:
        load_property_file(path)
    message = str(info.value)
    assert message.startswith(str(path)) and "\n" not in message
    return message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (PROP.replace('rfc = "RFC 9293 §3.6"\n', ""), "needs a string field 'rfc'"),
        (PROP.replace("§3.6", "§3.66"), "RFC 9293 has no section '3.66'"),
        (PROP.replace('"RFC 9293 §3.6"', '"section 3.6"'), "must start with the RFC it cites"),
        (PROP + REQ.replace('properties = ["p"]', 'properties = ["q"]'), "no property 'q' in this file"),
        (PROP + REQ.replace('properties = ["p"]', ""), "either 'properties'"),
        (PROP + REQ.replace('properties = ["p"]', 'properties = ["p"]\nreason = "r"'), "not both or neither"),
        (PROP + PROP.replace('"p"', '"q"') + REQ, "property 'q' states no requirement"),
        (PROP + '[[configuration]]\nname = "c"\nbound = 9\n', "an integer from 1 to 6"),
        (PROP + '[[configuration]]\nname = "c"\nbound = 2\noptions = { note3 = "yes" }\n', "true or false"),
        (PROP + '[[confguration]]\nname = "c"\n', "unknown top-level table 'confguration'"),
        (PROP + '[[configuration]]\nname = "c"\nbound = 2\nprofile = "../tcp"\n', "must name a shipped profile: "),
        (PROP + '[[configuration]]\nname = "c"\nbound = 2\nprofile = "linux"\noptions = { note3 = true }\n',
         "name a profile or list 'options', not both"),
        (PROP.replace('expect = "holds"', 'expect = "holds"\nonly = 3'), "'only'"),
    ],
)
def test_bad_tables_are_one_clear_line(tmp_path: Path, text: str, message: str) -> None:
    assert message in load(tmp_path, text)


def test_embedded_file_loads_with_its_three_configurations() -> None:
    pf = load_property_file()
    assert [c.name for c in pf.configurations] == ["default", "loss", "implementation", "linux"]
    assert pf.configuration("implementation").flags() == "-k 2 --loss --option implementation=on"
    assert "[[requirement]]" in EMBEDDED and "[[configuration]]" in EMBEDDED


def test_a_configuration_naming_a_profile_runs_the_options_the_profile_declares(tmp_path: Path) -> None:
    from tcpcheck.tools.runner.profile import load_profile

    linux = load_profile().options
    assert linux  # the Linux profile does set options (implementation on, Note 3 off)
    assert load_property_file().configuration("linux").options == linux
    path = tmp_path / "p.toml"
    path.write_text(PROP + REQ + '[[configuration]]\nname = "c"\nbound = 2\nprofile = "linux"\n')
    assert load_property_file(path).configuration("c").model_options().spec_options == linux


def test_only_names_an_option_and_limits_where_a_property_applies(tmp_path: Path) -> None:
    from tcpcheck.model import ModelOptions, build_system, load_spec
    from tcpcheck.model.explicit import check, explore

    spec = load_spec()
    path = tmp_path / "p.toml"
    path.write_text(PROP.replace('expect = "holds"', 'expect = "holds"\nonly = ["implementation"]\neach = true')
                    .replace('expr = "true"', 'expr = "self.state != TIME_WAIT"'))
    (prop,) = load_property_file(path).properties
    off = check(explore(build_system(spec, ModelOptions(bound=1), [prop])), prop)
    assert (off.verdict, off.note) == ("skipped", "does not apply with implementation off")
    on = check(explore(build_system(spec, ModelOptions(bound=1, spec_options={"implementation": True}), [prop])), prop)
    assert on.verdict == "violated"  # it applies, and TIME_WAIT is reachable
    path.write_text(PROP.replace('expect = "holds"', 'expect = "holds"\nonly = ["implementaton"]'))
    with pytest.raises(InputError, match="unknown option 'implementaton'"):
        build_system(spec, ModelOptions(bound=1), load_property_file(path).properties)
