"""One vocabulary for where a segment's numbers fall
(specs/acceptability.toml): the timed model's cases and the runner peer's
variants are named by the same entries, and each gap is written down."""

from __future__ import annotations

from pathlib import Path

import pytest

from tcpcheck.model.acceptability import MODEL_CASES, case_name, load_cases, variants
from tcpcheck.model.errors import InputError
from tcpcheck.model.spec import load_spec
from tcpcheck.model.timed import TimedOptions, build_timed_system, load_timed
from tcpcheck.tools.runner.peer import PeerFlow, SegmentError
from tcpcheck.tools.scenario import SEGMENTS


def test_every_model_case_and_every_variant_is_named_once_with_its_gaps() -> None:
    cases = load_cases()
    assert sorted(c.model for c in cases if c.model) == sorted(MODEL_CASES)
    for c in cases:
        assert set(c.segments) <= set(SEGMENTS), c.name
        # a case on one side only says why
        assert (c.model and c.segments) or c.gap, c.name
    # the model's own and the runner's default are the same entry: the plain segment
    assert case_name("own") == ""


def test_the_timed_model_names_its_cases_from_the_vocabulary() -> None:
    """The cases the timed model drops an arriving segment for carry the
    vocabulary's names (the peer's variants for the same numbers)."""
    spec = load_spec()
    system = build_timed_system(spec, load_timed(spec), TimedOptions(incarnations=2))
    ignored = {c.action.event for c in system.commands if c.action.kind == "ignore" and c.action.event}
    named = {case_name(m) for m in ("older_unacceptable", "newer_unacceptable", "old_syn")}
    assert ignored and ignored <= named, ignored - named
    assert {case_name("older_unacceptable"), case_name("newer_unacceptable")} <= ignored


def _flow() -> PeerFlow:
    return PeerFlow("10.0.0.1", 1, "10.0.0.2", 2, iss=1000)


@pytest.mark.parametrize("case", [c for c in load_cases() if c.name and c.segments], ids=lambda c: c.name)
def test_the_peer_knows_every_variant_the_vocabulary_gives_it(case: object) -> None:
    """Each (segment, variant) of the file is one the peer builds: it may
    say the flow is not ready for it, never that the variant is unknown."""
    for segment in case.segments:  # type: ignore[attr-defined]
        try:
            _flow().build(segment, case.name)  # type: ignore[attr-defined]
        except SegmentError as exc:
            assert "unknown" not in str(exc), (segment, str(exc))


def test_the_peer_refuses_a_variant_the_vocabulary_does_not_give() -> None:
    assert "old" in variants("FIN") and "old" not in variants("ACK")
    for segment, name in (("ACK", "old"), ("FIN", "in_window"), ("SYN", "sideways")):
        with pytest.raises(SegmentError, match=rf"unknown {segment} variant '{name}'.*acceptability.toml"):
            _flow().build(segment, name)


def test_a_bad_vocabulary_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "a.toml"
    bad.write_text('[[case]]\nname = "x"\nmodel = ""\nsegments = ["FIN"]\nmeaning = "m"\nrfc = "r"\n')
    with pytest.raises(InputError, match=r"\[\[case\]\] #1: an entry with no model case or no segments needs 'gap'"):
        load_cases(str(bad))
    bad.write_text('[[case]]\nname = "x"\nmodel = "older"\nsegments = []\nmeaning = "m"\nrfc = "r"\ngap = "g"\n')
    with pytest.raises(InputError, match=r"#1: model 'older': use one of own"):
        load_cases(str(bad))
