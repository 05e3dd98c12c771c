"""``tcpcheck run --crowd``: the scenarios with several connections."""

from __future__ import annotations

import json
import os

import click

from tcpcheck.model.errors import InputError
from tcpcheck.tools.cli.kit import check_output_dir, table


def run_crowd_cli(names: tuple[str, ...], as_json: bool, pcap_dir: str | None, list_only: bool) -> None:
    """Run the named multi-connection scenarios (all by default) on Linux,
    print, and exit: 0 iff none failed."""
    from tcpcheck.tools.runner.crowd import CROWD, run_crowd

    known = {s.name: s for s in CROWD}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise InputError(unknown[0], f"unknown --crowd scenario; use one of: {', '.join(known)}")
    chosen = [known[n] for n in names] if names else list(CROWD)
    if list_only:
        if as_json:
            click.echo(json.dumps([{"name": s.name, "description": s.description, "sysctls": s.sysctls}
                                   for s in chosen], indent=2))
        else:
            click.echo(table(("scenario", "sysctls (in the namespace)", "description"),
                             [(s.name, " ".join(f"{k}={v}" for k, v in s.sysctls.items()), s.description)
                              for s in chosen]))
        return
    from tcpcheck.tools.runner.netns import NamespaceUnavailable, unavailable_reason
    from tcpcheck.tools.runner.pcap import write_pcaps
    from tcpcheck.tools.runner.stacks.linux import LinuxStack

    reason = unavailable_reason()
    if reason:
        raise InputError("run --crowd", reason)
    if pcap_dir:
        check_output_dir(pcap_dir, "--pcap")
    try:
        with LinuxStack(trace=False) as stack:
            results = [run_crowd(stack, s) for s in chosen]
    except (NamespaceUnavailable, OSError) as exc:
        raise InputError("run --crowd", str(exc)) from None
    if pcap_dir:
        write_pcaps(pcap_dir, results)
    failed = sum(r.verdict == "fail" for r in results)
    if as_json:
        click.echo(json.dumps({"results": [r.to_json() for r in results],
                               "summary": {"scenarios": len(results), "fail": failed,
                                           "pass": len(results) - failed}}, indent=2))
    else:
        for r in results:
            click.echo(f"{r.scenario}: {r.verdict} in {r.seconds:.3f} s"
                       + (f" ({', '.join(f'{k}={v}' for k, v in r.sysctls.items())})" if r.sysctls else ""))
            click.echo(table(("step", "verdict", "seen (sock_diag)", "note"),
                             [(s.step, s.verdict + (f": {s.observed}" if s.observed else ""), s.state, s.note)
                              for s in r.steps if s.state or s.verdict != "pass"]))
            click.echo()
        click.echo(f"{len(results)} scenarios: {len(results) - failed} pass, {failed} fail")
        if pcap_dir:
            click.echo(f"pcaps: {os.path.abspath(pcap_dir)}")
    raise SystemExit(1 if failed else 0)
