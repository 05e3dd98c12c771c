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
    from tcpcheck.model.spec import Spec
    from tcpcheck.tools.scenario import Scenario


# What ``--stack all`` runs: every real stack (the model stack is the spec
# itself, not an implementation).
ALL_STACKS = ("linux", "lwip", "pytcp")


@click.command()
@click.argument("suite", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON document instead of the matrix.")
@click.option("--pcap", "pcap_dir", type=click.Path(file_okay=False), help="Write one pcap per scenario here.")
@click.option("--slow", is_flag=True, help="Also run scenarios that wait for Linux's fixed 60 s TIME_WAIT.")
@click.option("-j", "--jobs", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Worker processes, each with its own stack (for Linux, its own network namespace).")
@click.option("--stack", "stack_name", type=click.Choice(["linux", "lwip", "pytcp", "model", "all"]), default="linux",
              show_default=True,
              help="The stack under test: the Linux kernel, lwIP 2.1.3 (Debian liblwip-dev), PyTCP 0.3.8 "
                   "(pip install 'tcpcheck[pytcp]'), a spec run "
                   f"in-process (no root), or all real stacks ({', '.join(ALL_STACKS)}) in one matrix.")
@click.option("--spec", "spec_path", type=click.Path(dir_okay=False),
              help="With --stack model: the spec or mutant file it runs (default: the embedded one).")
@click.option("--loopback", is_flag=True,
              help="Both endpoints are kernel sockets on lo (two-sided scenarios; the built-in suite is the generated "
                   "loopback suite); each run is checked against the composed model and the pair properties.")
@click.option("--crowd", is_flag=True,
              help="Only the scenarios with several connections (SYN flood with and without cookies, CLOSE_WAIT "
                   "pile, TIME_WAIT reuse, ephemeral ports exhausted; Linux plays them, states from sock_diag dumps "
                   "of the namespace): the built-in ones, or those of SUITE.")
@click.option("--no-trace", is_flag=True,
              help="Linux: observe states by sampling (TCP_INFO, sock_diag) after every step instead of tracing every "
                   "change with sock:inet_sock_set_state.")
@click.option("--list", "list_only", is_flag=True,
              help="List the scenarios (after -k) with the transitions each covers; run nothing.")
@click.option("-k", "keyword", metavar="EXPR",
              help="Only scenarios matching EXPR, as pytest -k: words (case-insensitive substrings of the "
                   "name, the transitions covered, or 'slow') with and, or, not, parentheses.")
@click.option("--junit-xml", "junit_path", type=click.Path(dir_okay=False), metavar="FILE",
              help="Also write the results as JUnit XML (one testcase per scenario) for CI systems.")
@one_line_errors
def run(suite: tuple[str, ...], as_json: bool, pcap_dir: str | None, slow: bool, jobs: int, stack_name: str,
        spec_path: str | None, loopback: bool, crowd: bool, no_trace: bool, list_only: bool, keyword: str | None,
        junit_path: str | None) -> None:
    """Run conformance scenarios against a TCP stack.

    Each SUITE is a scenario name of the built-in suite or a JSON scenario
    file (the format of tools/scenario.schema.json, as 'tcpcheck generate
    --format json' writes it); without any, the built-in suite runs. On
    Linux (the default) every packet goes through a TUN device inside a
    private network namespace; the host is untouched; needs root (not for
    --list). --stack model plays the same scenarios against the spec itself
    (or a mutant, --spec), in-process. lwIP runs in-process on a TAP device
    inside a private namespace (root, liblwip-dev); so does PyTCP (root,
    the pytcp extra), on a virtual clock the runner moves. --stack all runs every
    real stack and prints one matrix, transitions down, stacks across. With
    --loopback, A and B are both real sockets on lo in a private namespace,
    every state change is traced, and the whole run is checked against the
    composed model. The built-in suite includes scenarios with several
    connections (Linux plays them; other stacks: not drivable); --crowd
    selects only those. Exit status 0 iff no scenario failed, 2 for bad
    input or a stack that is not installed, 130 when interrupted.
    """
    if crowd and loopback:
        raise InputError("--crowd", "selects scenarios with several connections; --loopback runs two-sided ones")
    if loopback:
        from tcpcheck.tools.cli.loopback import run_loopback

        if stack_name != "linux" or spec_path:
            raise InputError("--loopback", "runs two Linux sockets on lo; it does not take --stack or --spec")
        if list_only or keyword or junit_path:
            raise InputError("--loopback", "does not take --list, -k or --junit-xml yet")
        run_loopback(suite, as_json, pcap_dir, jobs, trace=not no_trace)
    if no_trace and stack_name != "linux":
        raise InputError("--no-trace", "applies to the Linux stack (the model stack has no kernel to trace)")
    from tcpcheck.model.spec import load_spec
    from tcpcheck.tools.runner.netns import NamespaceUnavailable
    from tcpcheck.tools.runner.profile import load_profile
    from tcpcheck.tools.runner.report import matrix_rows, summary, to_json

    spec = load_spec()
    from tcpcheck.tools.runner.execute import needs_slow
    from tcpcheck.tools.runner.stacks import unavailable

    if spec_path and stack_name != "model":
        raise InputError("--spec", "goes with --stack model (the spec the model stack runs)")
    if stack_name == "all":
        _run_all(spec, _select(suite, {t.id for t in spec.transitions}, crowd), as_json, pcap_dir, slow, jobs)
    stack_options: dict[str, object] = {}
    if stack_name == "model":
        from tcpcheck.tools.runner.stacks.model import ModelStack

        stack_options = {"spec": spec_path} if spec_path else {}
        profile = ModelStack(**stack_options).profile()  # type: ignore[arg-type]
        waits = lambda s: False  # noqa: E731 (the model's timers fire when asked)
    else:
        from tcpcheck.tools.runner.profile import profile_path

        profile = load_profile(profile_path(stack_name), {t.id for t in spec.transitions}, spec.told_calls)
        # Only Linux waits for a timer it cannot shorten (its fixed 60 s
        # TIME_WAIT); lwIP and PyTCP, like the model, fire their timers when asked.
        waits = needs_slow if stack_name == "linux" else (lambda s: False)
        stack_options = {"trace": False} if no_trace and stack_name == "linux" else {}
    scenarios = _select(suite, {t.id for t in spec.transitions}, crowd)
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
    from tcpcheck.tools.runner.workers import WorkerDied

    try:
        with progress_bar(len(chosen), "tcpcheck run") as advance:
            info, results = run_scenarios(chosen, profile, jobs=jobs, pcap_dir=pcap_dir,
                                          on_result=lambda r: advance(f"{r.scenario}: {r.verdict}"),
                                          stack=stack_name, stack_options=stack_options)
    except (NamespaceUnavailable, WorkerDied, OSError) as exc:
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
        if info.observer:
            click.echo(f"states: {info.observer}")
        click.echo()
        click.echo(table(("transition", "scenario", "verdict", "note"), rows))
        s = summary(results, rows)
        click.echo()
        click.echo(f"{s['scenarios']} scenarios: {s['pass']} pass, {s['deviation']} deviation, {s['fail']} fail"
                   + (f", {s['not drivable']} not drivable" if s.get("not drivable") else "")
                   + f" in {s['seconds']:.2f} s"
                   + (f", {len(not_run)} not run (slow: use --slow)" if not_run else "")
                   + (f", {deselected} deselected by -k" if deselected else "")
                   + f"; {len(spec.transitions)} transitions: "
                   + ", ".join(f"{n} {v}" for v, n in s["transitions"].items()))
        if pcap_dir:
            click.echo(f"pcaps: {os.path.abspath(pcap_dir)}")
        if junit_path:
            click.echo(f"JUnit XML: {junit_path}")
    raise SystemExit(1 if any(r.verdict == "fail" for r in results) else 0)


def _run_all(spec: Spec, scenarios: list[Scenario], as_json: bool, pcap_dir: str | None, slow: bool,
             jobs: int) -> None:
    """Every real stack, one matrix: transitions down, stacks across (exits)."""
    from tcpcheck.tools.runner.batch import run_scenarios
    from tcpcheck.tools.runner.execute import needs_slow
    from tcpcheck.tools.runner.matrix import combine, matrix_table
    from tcpcheck.tools.runner.netns import NamespaceUnavailable
    from tcpcheck.tools.runner.profile import load_profile, profile_path
    from tcpcheck.tools.runner.report import matrix_rows, to_json
    from tcpcheck.tools.runner.stacks import unavailable
    from tcpcheck.tools.runner.workers import WorkerDied

    for name in ALL_STACKS:
        reason = unavailable(name)
        if reason:
            raise InputError(f"--stack {name}", reason)
    if pcap_dir:
        check_output_dir(pcap_dir, "--pcap")
    docs = []
    for name in ALL_STACKS:
        profile = load_profile(profile_path(name), {t.id for t in spec.transitions}, spec.told_calls)
        waits = needs_slow if name == "linux" else (lambda s: False)
        chosen = [s for s in scenarios if slow or not waits(s)]
        not_run = [s for s in scenarios if waits(s) and not slow]
        try:
            with progress_bar(len(chosen), f"tcpcheck run: {name}") as advance:
                info, results = run_scenarios(chosen, profile, jobs=jobs,
                                              pcap_dir=os.path.join(pcap_dir, name) if pcap_dir else None,
                                              on_result=lambda r: advance(f"{r.scenario}: {r.verdict}"), stack=name)
        except (NamespaceUnavailable, WorkerDied, OSError) as exc:
            raise InputError(f"--stack {name}", str(exc)) from None
        docs.append(to_json(info, profile, results, matrix_rows(spec, profile, results, not_run)))
    failed = any(r["verdict"] == "fail" for doc in docs for r in doc["results"])
    matrix = combine(spec, docs)
    if as_json:
        click.echo(json.dumps({"runs": docs, "matrix": matrix}, indent=2))
    else:
        for doc in docs:
            s = doc["summary"]
            click.echo(f"{doc['stack']['name']}: {doc['stack']['description']} (profile {doc['stack']['profile']}):"
                       f" {s['scenarios']} scenarios, {s['pass']} pass, {s['deviation']} deviation,"
                       f" {s['fail']} fail, {s.get('not drivable', 0)} not drivable in {s['seconds']:.2f} s")
        click.echo()
        header, rows = matrix_table(matrix)
        click.echo(table(header, rows))
        if pcap_dir:
            click.echo(f"pcaps: {os.path.abspath(pcap_dir)}/<stack>/")
    raise SystemExit(1 if failed else 0)


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


def _select(names: tuple[str, ...], transition_ids: set[str], crowd: bool = False) -> list[Scenario]:
    """The scenarios SUITE names (the built-in suite without any); with
    ``crowd``, only those with several connections."""
    from tcpcheck.tools.runner.netns import sysctl_exists
    from tcpcheck.tools.runner.suite import builtin_suite, crowd_suite, load_suite

    builtin = {s.name: s for s in builtin_suite()}
    if not names:
        return list(crowd_suite() if crowd else builtin.values())
    out: list[Scenario] = []
    for name in names:
        if name in builtin:
            out.append(builtin[name])
        elif Path(name).suffix == ".json" or os.sep in name or Path(name).exists():
            loaded = load_suite(name)
            two_sided = [s.name for s in loaded if s.loopback]
            if two_sided:
                raise InputError(name, f"scenario {two_sided[0]!r} is two-sided ('loopback': true): run it with "
                                 "--loopback")
            out.extend(loaded)
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
        if crowd and not scenario.connections:
            raise InputError(f"scenario {scenario.name}", "has one connection; --crowd selects the scenarios with "
                             f"several: {', '.join(s.name for s in crowd_suite())} or a JSON suite's")
    return out
