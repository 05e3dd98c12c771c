"""Issue 15 benchmark: what checking the user's signals costs, the
multi-connection scenarios' times, and verdict stability, serial and -j 2.
Needs root (private network namespaces with a TUN device).

    python bench/issue15_bench.py [--runs 20]

Side by side in one run: every event-driven scenario of the built-in suite
with the shipped profile (told checks after every signalling transition)
and with the same profile stripped of its [[signal]] entries (no told
checks), interleaved run by run in one namespace, so the ratio is the told
checks' own cost. Then the whole non-slow suite's wall time, serial and
-j 2; the crowd scenarios' medians; and verdict changes over --runs repeats
serial (one namespace) and -j 2 (fresh workers); the timer checks' cost
(scenarios with them, with the fixed wait they had before the profile
gave the timer's full length, and without them, interleaved; their verdict
changes count too). Run it on an older
checkout to compare (the parts that need this issue's code say "n/a").

    python bench/issue15_bench.py --before /tmp/venv-before/bin/python [--runs 20]

Before and after side by side: the interpreter given has an older
checkout installed (e.g. ``git worktree add /tmp/before afedef6`` and
``python -m venv --system-site-packages /tmp/venv-before &&
/tmp/venv-before/bin/pip install --no-deps -e /tmp/before``). Round by
round, alternating which goes first, each checkout runs every non-slow
scenario once in a fresh process and namespace of its own (this script,
run by that interpreter with ``--one-round``, so it must only use what
both checkouts have), after one untimed scenario that takes what a
process does once (timed apart, "cold"); then the whole non-slow suite,
serial and -j 2, three times each, alternated. Printed: per scenario
present at both, the medians and their ratio (after / before), the cold
first scenario, the suite's wall times and the peak memory of each side.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from typing import Any

from tcpcheck.tools.runner.batch import run_scenarios
from tcpcheck.tools.runner.execute import execute
from tcpcheck.tools.runner.harness import Harness
from tcpcheck.tools.runner.netns import kernel_release, unavailable_reason
from tcpcheck.tools.runner.profile import load_profile
from tcpcheck.tools.runner.suite import default_suite
from tcpcheck.tools.scenario import Elapse


def _median_ms(times: list[float]) -> float:
    return statistics.median(times) * 1000


def _crowd(profile: Any, runs: int) -> tuple[str, int]:
    """The scenarios with several connections: --runs times in one namespace
    (per-scenario medians, verdict changes), then --runs times each under
    -j 2 (fresh workers; changes against the serial verdicts). On a
    checkout from before they were scenarios (tools/runner/crowd.py's
    CROWD and run_crowd), the same serial measurement through those.
    (The line to print, the verdict changes.)"""
    scenarios = True
    try:
        from tcpcheck.tools.runner.suite import crowd_suite  # type: ignore[attr-defined,unused-ignore]

        chosen: list[Any] = list(crowd_suite())
        play: Any = lambda stack, c: execute(stack, c, profile)  # noqa: E731
    except ImportError:
        try:
            from tcpcheck.tools.runner.crowd import CROWD, run_crowd  # type: ignore[attr-defined,unused-ignore]
        except ImportError:
            return "n/a (no scenarios with several connections in this checkout)", 0
        chosen, play, scenarios = list(CROWD), run_crowd, False
    times: dict[str, list[float]] = defaultdict(list)
    verdicts: dict[str, set[str]] = defaultdict(set)
    with Harness(trace=False) as stack:
        for _ in range(runs):
            for c in chosen:
                r = play(stack, c)
                times[c.name].append(r.seconds)
                verdicts[c.name].add(r.verdict)
    serial = changes = sum(len(v) - 1 for v in verdicts.values())
    parallel = "n/a with -j 2 (not scenarios in this checkout)"
    if scenarios:
        start = time.perf_counter()
        _, results = run_scenarios(chosen * runs, profile, jobs=2)
        wall = time.perf_counter() - start
        seen: dict[str, set[str]] = defaultdict(set)
        for r in results:
            seen[r.scenario].add(r.verdict)
        more = sum(len(v) - 1 for v in seen.values()) + sum(1 for n, v in seen.items() if v != verdicts[n])
        parallel = f"{more} with -j 2 ({len(results)} runs in {wall:.2f} s)"
        changes += more
    return ", ".join(f"{n} {_median_ms(t):.1f} ms" for n, t in times.items()) + \
        f"; verdicts {sorted(set().union(*verdicts.values()))}, changes {serial} serial, {parallel}", \
        changes


def _peak_mib() -> tuple[float, float]:
    """ru_maxrss of this process and of its largest child, MiB."""
    return (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)


def _one_round() -> int:
    """Child of --before: every non-slow scenario once in one fresh
    namespace, each timed around execute() (what it costs the caller,
    setup and teardown of its connection included); JSON on stdout."""
    profile = load_profile()
    out: dict[str, tuple[float, str]] = {}
    suite = [s for s in default_suite() if not s.slow]
    with Harness() as stack:
        # The first scenario of a process also pays what is done once per
        # process (parsing the spec, building tables): timed apart ("cold"),
        # so that each scenario's median is its own cost.
        start = time.perf_counter()
        execute(stack, suite[0], profile)
        cold = time.perf_counter() - start
        for scenario in suite:
            start = time.perf_counter()
            r = execute(stack, scenario, profile)
            out[scenario.name] = (time.perf_counter() - start, r.verdict)
    import tcpcheck

    print(json.dumps({"scenarios": out, "cold": [suite[0].name, cold], "package": tcpcheck.__file__,
                      "peak": _peak_mib()}))
    return 0


def _suite_wall(jobs: int) -> int:
    """Child of --before: the whole non-slow suite through run_scenarios
    (what ``tcpcheck run`` does), its wall time and peak memory as JSON."""
    suite = [s for s in default_suite() if not s.slow]
    start = time.perf_counter()
    run_scenarios(suite, load_profile(), jobs=jobs)
    print(json.dumps({"wall": time.perf_counter() - start, "peak": _peak_mib()}))
    return 0


def _child(python: str, *args: str) -> dict[str, Any]:
    done = subprocess.run([python, __file__, *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"issue15_bench: {python} {' '.join(args)} failed: {done.stderr.strip()[-400:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _compare(before: str, runs: int) -> int:
    """Before and after side by side (see the module docstring)."""
    sides = {"before": before, "after": sys.executable}
    times: dict[str, dict[str, list[float]]] = {side: defaultdict(list) for side in sides}
    verdicts: dict[str, dict[str, set[str]]] = {side: defaultdict(set) for side in sides}
    peaks: dict[str, list[float]] = {side: [0.0, 0.0] for side in sides}
    colds: dict[str, list[float]] = {side: [] for side in sides}
    cold_name = ""
    packages: dict[str, str] = {}
    for i in range(runs):
        for side in (("before", "after") if i % 2 == 0 else ("after", "before")):
            got = _child(sides[side], "--one-round")
            packages[side] = got["package"]
            cold_name = got["cold"][0]
            colds[side].append(got["cold"][1])
            peaks[side][0] = max(peaks[side][0], got["peak"][0])
            for name, (seconds, verdict) in got["scenarios"].items():
                times[side][name].append(seconds)
                verdicts[side][name].add(verdict)
        print(f"round {i + 1}/{runs}", file=sys.stderr)
    walls: dict[tuple[str, int], list[float]] = defaultdict(list)
    for i in range(3):
        for jobs in (1, 2):
            for side in (("before", "after") if i % 2 == 0 else ("after", "before")):
                got = _child(sides[side], "--suite-wall", str(jobs))
                walls[side, jobs].append(got["wall"])
                peaks[side][1] = max(peaks[side][1], got["peak"][0], got["peak"][1])
    common = [n for n in times["after"] if n in times["before"]]
    print(f"kernel {kernel_release()}; {runs} rounds, alternated; before: {packages['before']}, "
          f"after: {packages['after']}")
    print(f"{'scenario':46} {'before ms':>10} {'after ms':>10} {'ratio':>6}  verdicts before / after")
    slower = []
    for name in common:
        b, a = (_median_ms(times[side][name]) for side in ("before", "after"))
        if a > b * 1.05:
            slower.append(name)
        print(f"{name:46} {b:10.2f} {a:10.2f} {a / b:6.2f}  {'/'.join(sorted(verdicts['before'][name]))} / "
              f"{'/'.join(sorted(verdicts['after'][name]))}")
    new = [n for n in times["after"] if n not in times["before"]]
    print(f"new in after ({len(new)}): " + ", ".join(f"{n} {_median_ms(times['after'][n]):.2f} ms" for n in new))
    b, a = (_median_ms(colds[side]) for side in ("before", "after"))
    print(f"{cold_name} as a process's first scenario (untimed above): {b:.2f} ms before, {a:.2f} ms after "
          f"({a / b:.2f}x)")
    total = {side: sum(_median_ms(times[side][n]) for n in common) for side in sides}
    print(f"sum of medians over the {len(common)} common scenarios: {total['before']:.1f} ms before, "
          f"{total['after']:.1f} ms after ({total['after'] / total['before']:.3f}x)")
    for jobs in (1, 2):
        b, a = (statistics.median(walls[side, jobs]) for side in ("before", "after"))
        print(f"whole non-slow suite, -j {jobs}, median of 3: {b:.3f} s before, {a:.3f} s after ({a / b:.3f}x)"
              " (after runs the scenarios new since)")
    for side in sides:
        print(f"peak memory {side:6}: {peaks[side][0]:.1f} MiB one-round process, {peaks[side][1]:.1f} MiB "
              "largest suite process or worker")
    changes = sum(len(v) - 1 for side in sides for v in verdicts[side].values())
    print(f"verdict changes within a side: {changes}; over 5% slower than before: {slower or 'none'}")
    return 0 if not slower and changes == 0 else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="repeats for medians and verdict stability")
    parser.add_argument("--crowd-only", action="store_true", help="only the scenarios with several connections")
    parser.add_argument("--before", metavar="PYTHON", help="an interpreter with an older checkout installed: "
                        "per-scenario medians and suite wall times side by side")
    parser.add_argument("--one-round", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--suite-wall", type=int, metavar="JOBS", help=argparse.SUPPRESS)
    args = parser.parse_args()
    reason = unavailable_reason()
    if reason:
        print(f"issue15_bench: {reason}", file=sys.stderr)
        return 2
    if args.one_round:
        return _one_round()
    if args.suite_wall:
        return _suite_wall(args.suite_wall)
    if args.before:
        return _compare(args.before, args.runs)
    profile = load_profile()
    if args.crowd_only:
        line, changes = _crowd(profile, args.runs)
        print(f"crowd scenarios, median           : {line}")
        print(f"peak memory (ru_maxrss)           : {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f} "
              f"MiB this process, {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024:.1f} MiB largest "
              "worker")
        return 0 if changes == 0 else 1
    silent = dataclasses.replace(profile, signals={}) if hasattr(profile, "signals") else None
    suite = [s for s in default_suite() if not s.slow]
    events = [s for s in suite if not any(isinstance(st, Elapse) for st in s.steps)]
    verdicts: dict[str, set[str]] = defaultdict(set)
    told_times: dict[str, list[float]] = defaultdict(list)
    bare_times: dict[str, list[float]] = defaultdict(list)

    # 1. Event-driven scenarios, --runs times in one namespace; with and without told checks, interleaved.
    with Harness() as harness:
        for _ in range(args.runs):
            for scenario in events:
                r = execute(harness, scenario, profile)
                told_times[r.scenario].append(r.seconds)
                verdicts[r.scenario].add(r.verdict)
                if silent is not None:
                    bare_times[scenario.name].append(execute(harness, scenario, silent).seconds)
    serial_changes = sum(len(v) - 1 for v in verdicts.values())

    # 2. The whole non-slow suite (timer scenarios too), serial and -j 2, fresh namespaces.
    walls = []
    for jobs in (1, 2):
        start = time.perf_counter()
        run_scenarios(suite, profile, jobs=jobs)
        walls.append(time.perf_counter() - start)

    # 3. Verdict stability under -j 2: the event-driven scenarios, --runs times, in fresh workers.
    parallel: dict[str, set[str]] = defaultdict(set)
    _, results = run_scenarios(events * args.runs, profile, jobs=2)
    for r in results:
        parallel[r.scenario].add(r.verdict)
    parallel_changes = sum(len(v) - 1 for v in parallel.values()) + sum(
        1 for name, v in parallel.items() if v != verdicts[name])

    crowd_line, crowd_changes = _crowd(profile, args.runs)

    # 5. The timer checks (a restart measured with sock_diag): the scenarios
    # where one is made, with and without it, interleaved in one namespace.
    timer_line = "n/a (no timer checks in this checkout)"
    timer_changes = 0
    from tcpcheck.tools.runner import execute as executor

    rule = getattr(executor, "_timer_rule", None)
    if rule is not None:
        from tcpcheck.tools.scenario import step_transitions

        timed = [s for s in events if any(rule(st, t) for st, t in zip(s.steps, step_transitions(s), strict=True))]
        with_t: dict[str, list[float]] = defaultdict(list)
        without_t: dict[str, list[float]] = defaultdict(list)
        # the wait before this change: TIMER_RUN_MS from the first reading,
        # what the runner still does without the profile's [[timer]] length
        fixed = dataclasses.replace(profile, timer_lengths={}) if hasattr(profile, "timer_lengths") else None
        fixed_t: dict[str, list[float]] = defaultdict(list)
        timer_verdicts: dict[str, set[str]] = defaultdict(set)
        with Harness() as harness:
            for _ in range(args.runs):
                for scenario in timed:
                    executor._timer_rule = rule  # type: ignore[attr-defined]
                    r = execute(harness, scenario, profile)
                    with_t[scenario.name].append(r.seconds)
                    timer_verdicts[scenario.name].add(r.verdict)
                    if fixed is not None:
                        r = execute(harness, scenario, fixed)
                        fixed_t[scenario.name].append(r.seconds)
                        timer_verdicts[scenario.name].add(r.verdict)
                    executor._timer_rule = lambda step, transition, state="": None  # type: ignore[attr-defined]
                    without_t[scenario.name].append(execute(harness, scenario, profile).seconds)
        executor._timer_rule = rule  # type: ignore[attr-defined]
        timer_changes = sum(len(v) - 1 for v in timer_verdicts.values())
        timer_line = "\n    ".join(
            f"{n}: {_median_ms(with_t[n]):.1f} ms" + (f", {_median_ms(fixed_t[n]):.1f} ms with the fixed "
                                                       f"{getattr(executor, 'TIMER_RUN_MS', '?')} ms wait"
                                                       if fixed_t else "")
            + f", {_median_ms(without_t[n]):.1f} ms without the check" for n in with_t)
        timer_line = f"(verdict changes {timer_changes})\n    " + timer_line

    medians = [_median_ms(t) for t in told_times.values()]
    print(f"kernel {kernel_release()}; {len(suite)} non-slow scenarios ({len(events)} event-driven); {args.runs} runs")
    print(f"median per event-driven scenario  : {statistics.median(medians):.3f} ms (the shipped profile)")
    if silent is not None:
        signalled = [n for n, t in told_times.items() if n in bare_times]
        ratio = sum(_median_ms(told_times[n]) for n in signalled) / sum(_median_ms(bare_times[n]) for n in signalled)
        bare = statistics.median(_median_ms(t) for t in bare_times.values())
        print(f"  without told checks, same run   : {bare:.3f} ms; sum of medians with/without: {ratio:.3f}x")
    else:
        print("  told checks                     : n/a (this checkout's profiles have no [[signal]])")
    print(f"whole non-slow suite, wall time   : {walls[0]:.3f} s serial, {walls[1]:.3f} s with -j 2")
    print(f"verdict changes over {args.runs} runs     : {serial_changes} serial (one namespace), "
          f"{parallel_changes} with -j 2 (fresh workers, against the serial verdicts)")
    print(f"crowd scenarios, median           : {crowd_line}")
    print(f"timer checks, median per scenario : {timer_line}")
    print(f"peak memory (ru_maxrss)           : {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f} MiB "
          f"this process, {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024:.1f} MiB largest worker")
    return 0 if serial_changes == 0 and parallel_changes == 0 and timer_changes == 0 and crowd_changes == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
