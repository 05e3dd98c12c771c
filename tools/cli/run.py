"""``tcpcheck run``: play scenarios against a TCP stack (Linux by default)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from tcpcheck.model.errors import InputError
from tcpcheck.tools.cli.kit import check_output_dir, check_output_file, one_line_errors, table
from tcpcheck.tools.cli.live import progress_bar

if TYPE_CHECKING:
    from tcpcheck.tools.scenario import Scenario


@click.command()
@click.argument("suite", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON document instead of the matrix.")
@click.option("--pcap", "pcap_dir", type=click.Path(file_okay=False), help="Write one pcap per scenario here.")
@click.option("--slow", is_flag=True, help="Also run scenarios that wait for Linux's fixed 60 s TIME_WAIT.")
@click.option("-j", "--jobs", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Worker processes, each with its own stack (for Linux, its own network namespace).")
@click.option("--stack", "stack_name", type=click.Choice(["linux", "model"]), default="linux", show_default=True,
              help="The stack under test: the Linux kernel, or a spec run in-process (no root).")
@click.option("--spec", "spec_path", type=click.Path(dir_okay=False),
              help="With --stack model: the spec or mutant file it runs (default: the embedded one).")
@click.option("--list", "list_only", is_flag=True,
              help="List the scenarios (after -k) with the transitions each covers; run nothing.")
@click.option("-k", "keyword", metavar="EXPR",
              help="Only scenarios matching EXPR, as pytest -k: words (case-insensitive substrings of the "
                   "name, the transitions covered, or 'slow') with and, or, not, parentheses.")
@click.option("--junit-xml", "junit_path", type=click.Path(dir_okay=False), metavar="FILE",
              help="Also write the results as JUnit XML (one testcase per scenario) for CI systems.")
@one_line_errors
def run(suite: tuple[str, ...], as_json: bool, pcap_dir: str | None, slow: bool, jobs: int, stack_name: str,
        spec_path: str | None, list_only: bool, keyword: str | None, junit_path: str | None) -> None:
    """Run conformance scenarios against a TCP stack.

    Each SUITE is a scenario name of the built-in suite or a JSON scenario
    file (the format of tools/scenario.schema.json, as 'tcpcheck generate
    --format json' writes it); without any, the built-in suite runs. On
    Linux (the default) every packet goes through a TUN device inside a
    private network namespace; the host is untouched; needs root (not for
    --list). --stack model plays the same scenarios against the spec itself
    (or a mutant, --spec), in-process. Exit status 0 iff no scenario failed,
    2 for bad input, 130 when interrupted.
    """
    from tcpcheck.model.spec import load_spec
    from tcpcheck.tools.runner.netns import NamespaceUnavailable
    from tcpcheck.tools.runner.profile import load_profile
    from tcpcheck.tools.runner.report import matrix_rows, summary, to_json

    spec = load_spec()
    from tcpcheck.tools.runner.execute import needs_slow
    from tcpcheck.tools.runner.stacks import unavailable

    if spec_path and stack_name != "model":
        raise InputError("--spec", "goes with --stack model (the spec the model stack runs)")
    stack_options: dict[str, object] = {}
    if stack_name == "model":
        from tcpcheck.tools.runner.stacks.model import ModelStack

        stack_options = {"spec": spec_path} if spec_path else {}
        profile = ModelStack(**stack_options).profile()  # type: ignore[arg-type]
        waits = lambda s: False  # noqa: E731 (the model's timers fire when asked)
    else:
        profile = load_profile(known_transitions={t.id for t in spec.transitions})
        waits = needs_slow
    scenarios = _select(suite, {t.id for t in spec.transitions})
    deselected = 0
    if keyword is not None:
        from tcpcheck.tools.cli.keywords import compile_keywords

        matches = compile_keywords(keyword)
        kept = [s for s in scenarios if matches(_keywords(s, waits(s)))]
        deselected = len(scenarios) - len(kept)
        scenarios = kept
    if list_only:
        _list(scenarios, deselected, as_json, waits)
        return
    if junit_path:
        check_output_file(junit_path, "--junit-xml")
    if pcap_dir:
        check_output_dir(pcap_dir, "--pcap")
    chosen = [s for s in scenarios if slow or not waits(s)]
    not_run = [s for s in scenarios if waits(s) and not slow]
    reason = unavailable(stack_name)
    if reason:
        raise InputError("run", reason)
    from tcpcheck.tools.runner.batch import run_scenarios

    try:
        with progress_bar(len(chosen), "tcpcheck run") as advance:
            info, results = run_scenarios(chosen, profile, jobs=jobs, pcap_dir=pcap_dir,
                                          on_result=lambda r: advance(f"{r.scenario}: {r.verdict}"),
                                          stack=stack_name, stack_options=stack_options)
    except NamespaceUnavailable as exc:
        raise InputError("run", str(exc)) from None
    rows = matrix_rows(spec, profile, results, not_run)
    if junit_path:
        from tcpcheck.tools.pictures.diagram import write_atomic
        from tcpcheck.tools.runner.junit import junit_xml

        write_atomic(junit_path, junit_xml(info, profile, results, not_run))
    if as_json:
        click.echo(json.dumps(to_json(info, profile, results, rows), indent=2))
    else:
        click.echo(f"stack: {info.title()} (profile {profile.name}); settings in force:")
        click.echo("  " + " ".join(f"{k.rsplit('/', 1)[-1]}={v}" for k, v in info.sysctls.items()))
        click.echo()
        click.echo(table(("transition", "scenario", "verdict", "note"), rows))
        s = summary(results, rows)
        click.echo()
        click.echo(f"{s['scenarios']} scenarios: {s['pass']} pass, {s['deviation']} deviation, {s['fail']} fail"
                   f" in {s['seconds']:.2f} s"
                   + (f", {len(not_run)} not run (slow: use --slow)" if not_run else "")
                   + (f", {deselected} deselected by -k" if deselected else "")
                   + f"; {len(spec.transitions)} transitions: "
                   + ", ".join(f"{n} {v}" for v, n in s["transitions"].items()))
        if pcap_dir:
            click.echo(f"pcaps: {os.path.abspath(pcap_dir)}")
        if junit_path:
            click.echo(f"JUnit XML: {junit_path}")
    raise SystemExit(1 if any(r.verdict == "fail" for r in results) else 0)


def _keywords(scenario: Scenario, slow: bool) -> list[str]:
    """What -k matches against: the name, the transitions covered, and 'slow'."""
    return [scenario.name, *scenario.transitions, *(["slow"] if slow else [])]


def _list(scenarios: list[Scenario], deselected: int, as_json: bool, needs_slow: Any) -> None:
    if as_json:
        click.echo(json.dumps({"scenarios": [{"name": s.name, "transitions": list(s.transitions),
                                              "steps": len(s.steps), "slow": needs_slow(s),
                                              "description": s.description} for s in scenarios],
                               "deselected": deselected}, indent=2))
        return
    rows = [(s.name, len(s.steps), "slow" if needs_slow(s) else "", ", ".join(s.transitions) or "(none)")
            for s in scenarios]
    click.echo(table(("scenario", "steps", "slow", "transitions covered"), rows))
    slow = sum(1 for s in scenarios if needs_slow(s))
    click.echo()
    click.echo(f"{len(scenarios)} scenarios" + (f" ({slow} slow: run with --slow)" if slow else "")
               + (f"; {deselected} deselected by -k" if deselected else ""))


def _select(names: tuple[str, ...], transition_ids: set[str]) -> list[Scenario]:
    from tcpcheck.tools.runner.netns import sysctl_exists
    from tcpcheck.tools.runner.suite import default_suite, load_suite

    builtin = {s.name: s for s in default_suite()}
    if not names:
        return list(builtin.values())
    out: list[Scenario] = []
    for name in names:
        if name in builtin:
            out.append(builtin[name])
        elif Path(name).suffix == ".json" or os.sep in name or Path(name).exists():
            out.extend(load_suite(name))
        else:
            raise InputError(name, f"unknown scenario; use a JSON suite file or one of: {', '.join(builtin)}")
    for scenario in out:
        unknown = [t for t in scenario.transitions if t not in transition_ids]
        if unknown:
            raise InputError(f"scenario {scenario.name}", f"unknown transition {unknown[0]!r} "
                             "(ids are FROM--event-->TO as specs/tcp.toml builds them)")
        bad = [k for k in scenario.sysctls if not sysctl_exists(k)]
        if bad:
            raise InputError(f"scenario {scenario.name}", f"unknown sysctl {bad[0]!r} (e.g. tcp_rfc1337 or "
                             "net/ipv4/tcp_fin_timeout)")
    return out
