"""``tcpcheck generate``: conformance suites from the model, as pytest files
and packetdrill scripts."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import click

from tcpcheck.tools.cli.kit import one_line_errors, table

# As tools/generate/build.py names them (kept here so --help imports no model).
CRITERIA = ("states", "transitions", "pairs", "w", "wp", "tour", "loopback")
TWO_SIDED = ("loopback",)  # packetdrill scripts play one endpoint: these suites have none
FORMATS = ("pytest", "packetdrill", "json", "all")  # all: pytest and packetdrill, what generated_tests/ holds
DEFAULT_EXTRA_STATES = 1


def regenerate_command(criterion: str, profile: str, extra_states: int) -> str:
    """The command line that regenerates one criterion's files (written into
    them; it names no output folder, so the bytes do not depend on it)."""
    extra = f" --extra-states {extra_states}" if criterion in ("w", "wp") else ""
    return f"tcpcheck generate --criterion {criterion}{extra} --profile {profile}"


def render(
    criteria: tuple[str, ...],
    profile: str,
    extra_states: int,
    fmt: str,
    spec_path: str | None = None,
    strict: bool = True,
    advance: Any = None,
) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """Every output file (relative path -> text) and a summary per criterion.

    With ``strict`` off, a criterion the model cannot serve (W and Wp need a
    deterministic machine) is skipped with a note instead of failing.
    ``advance(name)`` is called as each criterion is done (a progress bar)."""
    from tcpcheck.model.errors import InputError
    from tcpcheck.model.spec import load_spec
    from tcpcheck.tools.generate import build_suite, load_drive_model
    from tcpcheck.tools.generate.emit_json import emit_json, json_name
    from tcpcheck.tools.generate.emit_packetdrill import emit_packetdrill_suite
    from tcpcheck.tools.generate.emit_pytest import CONFTEST, emit_pytest, file_name
    from tcpcheck.tools.generate.paths import Explorer

    spec = load_spec(spec_path)
    model = load_drive_model(spec, profile)
    explorer = Explorer(model)
    files: dict[str, str] = {}
    summaries: list[dict[str, Any]] = []
    if fmt in ("pytest", "all"):
        files["conftest.py"] = CONFTEST
    for criterion in criteria:
        t0 = time.perf_counter()
        try:
            suite = build_suite(model, criterion, extra_states, explorer)
        except InputError as exc:
            if strict:
                raise
            summaries.append({"criterion": criterion, "skipped": exc.message})
            if advance:
                advance(criterion)
            continue
        seconds = time.perf_counter() - t0
        command = regenerate_command(criterion, model.profile_name, extra_states)
        written = []
        if fmt in ("pytest", "all"):
            name = file_name(suite)
            files[name] = emit_pytest(suite, spec, command)
            written.append(name)
        if fmt in ("packetdrill", "all") and criterion not in TWO_SIDED:
            scripts = emit_packetdrill_suite(suite, model.profile, command)
            files.update(scripts)
            written.append(f"packetdrill/{criterion}_*.pkt ({len(scripts) - 1}; the rest in {criterion}.txt)")
        if fmt == "json":
            files[json_name(suite)] = emit_json(suite, command)
            written.append(json_name(suite))
        summaries.append({**suite.summary(), "seconds": round(seconds, 4), "written": written})
        if advance:
            advance(criterion)
    return files, summaries


def write_atomically(out: Path, files: dict[str, str], criteria: tuple[str, ...], fmt: str) -> None:
    """Write ``files`` into ``out`` and remove the files of the regenerated
    criteria that this run no longer writes; every other file in ``out`` is
    left alone and the folder itself is never replaced
    (``tcpcheck.tools.outputs.write_files``)."""
    from tcpcheck.tools.outputs import write_files

    stale: list[str] = []
    for criterion in criteria:
        if fmt in ("pytest", "all"):
            stale.append(f"test_generated_{criterion}.py")
        if fmt in ("packetdrill", "all") and (out / "packetdrill").is_dir() \
                and not (out / "packetdrill").is_symlink():
            stale += [f"packetdrill/{old.name}" for old in sorted((out / "packetdrill").glob(f"{criterion}_*.pkt"))]
        if fmt == "json":
            stale.append(f"json/{criterion}.json")
    write_files(out, files, [rel for rel in stale if rel not in files])


@click.command()
@click.option("--criterion", "criteria", multiple=True, type=click.Choice(CRITERIA),
              help="Coverage criterion (repeatable; default: all of them).")
@click.option("--extra-states", "extra_states", type=click.IntRange(0, 4), default=DEFAULT_EXTRA_STATES,
              show_default=True, metavar="M", help="W/Wp: extra implementation states the suite must catch.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="all", show_default=True,
              help="What to write: pytest files, packetdrill scripts, JSON scenario suites that "
                   "'tcpcheck run' reads (json/CRITERION.json), or all: pytest and packetdrill.")
@click.option("--profile", default="linux", show_default=True, metavar="NAME",
              help="Stack profile under specs/profiles/ (or a .toml path, or 'none' for the bare RFC machine).")
@click.option("--spec", "spec_path", type=click.Path(dir_okay=False),
              help="Spec TOML (default: the embedded RFC 9293 machine).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="generated_tests", show_default=True,
              help="Folder to write into.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout.")
@one_line_errors
def generate(criteria: tuple[str, ...], extra_states: int, fmt: str, profile: str, spec_path: str | None,
             out_dir: str, as_json: bool) -> None:
    """Generate conformance suites from the model and write them.

    Each scenario starts from CLOSED on a fresh connection; transitions a
    stack cannot be driven through are listed with the reason.
    """
    from tcpcheck.tools.cli.kit import check_output_dir
    from tcpcheck.tools.cli.live import progress_bar

    chosen = tuple(c for c in CRITERIA if c in criteria) if criteria else CRITERIA
    check_output_dir(out_dir, "--out")  # before the work, not after it
    t0 = time.perf_counter()
    with progress_bar(len(chosen), "tcpcheck generate") as advance:
        files, summaries = render(chosen, profile, extra_states, fmt, spec_path, strict=bool(criteria),
                                  advance=advance)
    skipped = [s for s in summaries if "skipped" in s]
    summaries = [s for s in summaries if "skipped" not in s]
    chosen = tuple(c for c in chosen if c not in {s["criterion"] for s in skipped})
    write_atomically(Path(out_dir), files, chosen, fmt)
    seconds = time.perf_counter() - t0
    if as_json:
        click.echo(json.dumps({"out": out_dir, "files": len(files), "seconds": round(seconds, 4),
                               "suites": summaries, "skipped": skipped}, indent=2))
        sys.exit(0)
    rows = [(s["criterion"], s["scenarios"], s["steps"], f"{s['covered']}/{s['goals']}",
             f"{100 * s['coverage']:.1f} %", s["slow_scenarios"], len(s["not_drivable"]), f"{s['seconds']:.3f}")
            for s in summaries]
    click.echo(table(("criterion", "scenarios", "steps", "covered", "coverage", "slow", "not drivable", "s"), rows))
    for s in summaries:
        if s["criterion"] == "tour":
            click.echo(f"tour: {s['steps']} steps; Chinese-postman optimum {s['optimum']}")
    # Transitions only: undrivable pairs and sequences are in the files.
    transitions = {k: v for s in summaries for k, v in s["not_drivable"].items() if "-->" in k and " ; " not in k
                   and " " not in k}
    if transitions:
        click.echo("")
        click.echo(f"not drivable on {summaries[0]['profile']} (with the reason):")
        for k, v in transitions.items():
            click.echo(f"  {k}: {v}")
    for s in skipped:
        click.echo(f"skipped {s['criterion']}: {s['skipped']}")
    click.echo("")
    for s in summaries:
        click.echo(f"wrote {', '.join(f'{out_dir}/{w}' for w in s['written'])}")
    click.echo(f"{len(files)} files in {out_dir} ({seconds:.2f} s)")
