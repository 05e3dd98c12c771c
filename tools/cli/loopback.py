"""``tcpcheck run --loopback``: both endpoints real, on ``lo``."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from tcpcheck.model.errors import InputError
from tcpcheck.tools.cli.kit import check_output_dir, table
from tcpcheck.tools.cli.live import progress_bar
from tcpcheck.tools.scenario import Scenario


def builtin_suite() -> dict[str, Scenario]:
    """The generated loopback suite (``tcpcheck generate --criterion loopback``)."""
    from tcpcheck.model.spec import load_spec
    from tcpcheck.tools.generate.drivable import load_drive_model
    from tcpcheck.tools.generate.loopback import loopback_suite

    return {s.name: s for s in loopback_suite(load_drive_model(load_spec(), "linux")).scenarios}


def select(names: tuple[str, ...]) -> list[Scenario]:
    """Scenario names of the built-in suite, or JSON suite files."""
    from tcpcheck.tools.runner.suite import load_suite

    files = [n for n in names if Path(n).suffix == ".json" or os.sep in n or Path(n).exists()]
    out: list[Scenario] = []
    builtin = builtin_suite() if len(files) < len(names) or not names else {}
    if not names:
        return list(builtin.values())
    for name in names:
        if name in files:
            loaded = load_suite(name)
            one_sided = [s.name for s in loaded if not s.loopback]
            if one_sided:
                raise InputError(name, f"scenario {one_sided[0]!r} is one-sided ('loopback' is not true): run it "
                                 "without --loopback")
            out.extend(loaded)
        elif name in builtin:
            out.append(builtin[name])
        else:
            raise InputError(name, "unknown loopback scenario; use a JSON suite file or one of: "
                             + ", ".join(list(builtin)[:8]) + ", ...")
    return out


def run_loopback(names: tuple[str, ...], as_json: bool, pcap_dir: str | None, jobs: int, trace: bool) -> None:
    """Run, print, and exit: 0 iff no scenario failed."""
    from tcpcheck.model.spec import load_spec
    from tcpcheck.tools.runner.loopback.batch import run_pairs
    from tcpcheck.tools.runner.loopback.pair import LoopbackUnavailable, unavailable_reason
    from tcpcheck.tools.runner.loopback.report import property_totals, rows, summary, to_json
    from tcpcheck.tools.runner.netns import NamespaceUnavailable
    from tcpcheck.tools.runner.profile import load_profile
    from tcpcheck.tools.runner.workers import WorkerDied

    spec = load_spec()
    profile = load_profile(known_transitions={t.id for t in spec.transitions}, known_signals=spec.told_calls)
    scenarios = select(names)
    reason = unavailable_reason()
    if reason:
        raise InputError("run --loopback", reason)
    if pcap_dir:
        check_output_dir(pcap_dir, "--pcap")
    try:
        with progress_bar(len(scenarios), "tcpcheck run --loopback") as advance:
            info, results = run_pairs(scenarios, spec, profile, jobs=jobs, trace=trace, pcap_dir=pcap_dir,
                                      on_result=lambda r: advance(r.scenario))
    except (LoopbackUnavailable, NamespaceUnavailable, WorkerDied, OSError) as exc:
        raise InputError("run --loopback", str(exc)) from None
    if as_json:
        click.echo(json.dumps(to_json(info, profile, results), indent=2))
    else:
        click.echo(f"loopback: Linux {info['kernel']}, A and B on lo at {' and '.join(info['addresses'])} "  # type: ignore
                   f"(profile {profile.name})")
        click.echo(f"observed with: {info['observer']}")
        click.echo()
        click.echo(table(("scenario", "verdict", "A", "B", "note"), rows(results)))
        click.echo()
        props = [(p["property"], p["kind"], p["verdict"], p["runs"], p["states"]) for p in property_totals(results)]
        click.echo(table(("pair property", "kind", "on the observed runs", "runs", "states checked"), props))
        s = summary(results)
        click.echo()
        click.echo(f"{s['scenarios']} scenarios: {s['pass']} pass, {s['deviation']} deviation, {s['fail']} fail; "
                   f"{s['events']} events in {s['seconds']:.2f} s")
        if pcap_dir:
            click.echo(f"pcaps: {os.path.abspath(pcap_dir)}")
    raise SystemExit(1 if any(r.verdict == "fail" for r in results) else 0)
