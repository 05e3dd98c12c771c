"""Shared helpers: specs (embedded + every mutant), configurations, explicit verdicts, SPIN present."""

from __future__ import annotations

import functools
import shutil
from pathlib import Path

import pytest

from tcpcheck.model import ModelOptions, build_system, load_properties, load_spec
from tcpcheck.model.explicit import check, explore

ROOT = Path(__file__).resolve().parents[2]
MUTANTS = sorted((ROOT / "tests" / "mutants").glob("*.toml"))
SPECS = [None, *MUTANTS]


def spec_id(spec: Path | None) -> str:
    return "embedded" if spec is None else spec.stem


# (K, reorder, loss[, spec options as (name, value) pairs])
Config = tuple[int, bool, bool] | tuple[int, bool, bool, tuple[tuple[str, bool], ...]]


def spec_options(cfg: Config) -> dict[str, bool]:
    """The spec options of a configuration (none when it names none)."""
    return dict(cfg[3]) if len(cfg) > 3 else {}


def config_id(cfg: Config) -> str:
    k, reorder, loss = cfg[:3]
    shown = "".join(f"-{name}={'on' if on else 'off'}" for name, on in spec_options(cfg).items())
    return f"K{k}" + ("-reorder" if reorder else "") + ("-loss" if loss else "") + shown


@functools.lru_cache(maxsize=8)
def explicit_verdicts(spec: Path | None, cfg: Config) -> tuple[object, object, list]:
    """(system, space, explicit verdicts) for one spec and configuration
    (K, reorder, loss[, options: see spec_options])."""
    k, reorder, loss = cfg[:3]
    props = load_properties()
    options = ModelOptions(bound=k, reorder=reorder, loss=loss, spec_options=spec_options(cfg))
    system = build_system(load_spec(spec), options, props)
    space = explore(system)
    return system, space, [check(space, p) for p in props]


def require_spin() -> None:
    missing = [t for t in ("spin", "gcc") if shutil.which(t) is None]
    if missing:
        pytest.fail(f"missing {', '.join(missing)}: apt-get install spin gcc (.ci/run does)")
