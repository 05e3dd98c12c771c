"""Where a received segment's numbers fall: the one vocabulary
(``specs/acceptability.toml``) that the timed model and the runner's peer
both use.

The timed model (``model/timed.py``) abstracts sequence numbers to
incarnations and "in the window or not"; the runner's peer builds real
numbers (``Inject(segment, variant)``). Each ``[[case]]`` names a case once:
the model's case it is (or none), the segments the peer builds for it (or
none), and, where one side has no counterpart, why.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

from tcpcheck.model.errors import InputError
from tcpcheck.model.spec import read_toml

# The cases the timed model distinguishes when a segment arrives (module
# docstring of model/timed.py); the file names each one.
MODEL_CASES = ("own", "older_acceptable", "older_unacceptable", "newer_acceptable", "newer_unacceptable", "old_syn")
CASE_FIELDS = frozenset({"name", "model", "segments", "meaning", "gap", "rfc"})


@dataclass(frozen=True)
class Case:
    """One named place a segment's numbers can fall."""

    name: str  # the peer's variant ("" for the plain segment) and the model's name for the case
    model: str  # one of MODEL_CASES, or "" (no such case in the model)
    segments: tuple[str, ...]  # segments the peer builds with this variant
    meaning: str
    rfc: str
    gap: str = ""  # why one side has no counterpart


def default_path() -> Path:
    """The shipped vocabulary file."""
    return Path(str(resources.files("tcpcheck.specs").joinpath("acceptability.toml")))


@cache
def load_cases(path: str | None = None) -> tuple[Case, ...]:
    """Read and validate the vocabulary; InputError names the entry."""
    p = Path(path) if path else default_path()
    data, _ = read_toml(p)
    if set(data) - {"case"} or not isinstance(data.get("case"), list):
        raise InputError(str(p), "needs [[case]] tables and nothing else")
    out: list[Case] = []
    seen_model: set[str] = set()
    for n, row in enumerate(data["case"], start=1):
        where = f"{p}: [[case]] #{n}"
        if not isinstance(row, dict):
            raise InputError(where, "must be a table")
        unknown = set(row) - CASE_FIELDS
        if unknown:
            raise InputError(where, f"unknown field '{sorted(unknown)[0]}'; allowed: {', '.join(sorted(CASE_FIELDS))}")
        for key in ("name", "model", "meaning", "gap", "rfc"):
            if not isinstance(row.get(key, ""), str):
                raise InputError(where, f"'{key}' must be a string")
        segments = row.get("segments", [])
        if not isinstance(segments, list) or not all(isinstance(s, str) for s in segments):
            raise InputError(where, "'segments' must be a list of segment names")
        model = row.get("model", "")
        if model and model not in MODEL_CASES:
            raise InputError(where, f"model {model!r}: use one of {', '.join(MODEL_CASES)} or \"\"")
        if model and model in seen_model:
            raise InputError(where, f"the model's case {model!r} is named twice")
        seen_model.add(model)
        if (not model or not segments) and not row.get("gap"):
            raise InputError(where, "an entry with no model case or no segments needs 'gap' (why)")
        if not row.get("meaning") or not row.get("rfc"):
            raise InputError(where, "needs 'meaning' and 'rfc'")
        name = row.get("name", "")
        if any(c.name == name for c in out):
            raise InputError(where, f"name {name!r} is used twice")
        out.append(Case(name, model, tuple(segments), row["meaning"], row["rfc"], row.get("gap", "")))
    missing = [m for m in MODEL_CASES if m not in seen_model]
    if missing:
        raise InputError(str(p), f"no entry names the model's case {missing[0]!r}")
    return tuple(out)


def case_name(model_case: str) -> str:
    """The vocabulary's name for one of the model's cases."""
    return next(c.name for c in load_cases() if c.model == model_case)


def variants(segment: str) -> tuple[str, ...]:
    """The variants the peer may build for ``segment`` (not the plain one)."""
    return tuple(c.name for c in load_cases() if c.name and segment in c.segments)


def variant(name: str) -> str:
    """``name``, checked to be a variant of the vocabulary (for the peer's
    constants: a name the file lost fails at import, not in a scenario)."""
    if not any(c.name == name and c.segments for c in load_cases()):
        raise InputError(str(default_path()), f"no [[case]] named {name!r} with segments")
    return name
