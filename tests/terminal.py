"""Running the command line as a person would: stderr on a pseudo-terminal
(where progress is drawn), stdout on a pipe, optionally a Ctrl-C."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass


@dataclass
class Outcome:
    returncode: int
    stdout: str
    stderr: str  # what the terminal received, escape sequences included


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tcpcheck(*args: str, tty: bool = True, interrupt_after: float | None = None, timeout: float = 120.0,
             cwd: str | None = None) -> Outcome:
    """``python -m tcpcheck ARGS`` with stderr on a pseudo-terminal (``tty``)
    or a pipe; SIGINT once the process has used ``interrupt_after`` seconds
    of CPU (past its start-up, however loaded the machine is) when given."""
    command = [sys.executable, "-m", "tcpcheck", *args]
    env = {**os.environ, "COLUMNS": "160", "TERM": "xterm"}
    if tty:
        master, slave = os.openpty()
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=slave, stdin=subprocess.DEVNULL, env=env,
                                cwd=cwd)
        os.close(slave)
        readers = [master]
    else:
        master = -1
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                env=env, cwd=cwd)
        assert proc.stderr is not None
        readers = [proc.stderr.fileno()]
    assert proc.stdout is not None
    err_fd, out_fd = readers[0], proc.stdout.fileno()
    readers.append(out_fd)
    chunks: dict[int, bytes] = {fd: b"" for fd in readers}
    start = time.monotonic()
    interrupted = False
    try:
        while readers:
            if time.monotonic() - start > timeout:
                raise TimeoutError(f"tcpcheck {' '.join(args)} ran past {timeout} s")
            if interrupt_after is not None and not interrupted and cpu_seconds(proc.pid) >= interrupt_after:
                proc.send_signal(signal.SIGINT)
                interrupted = True
            ready, _, _ = select.select(readers, [], [], 0.05)
            for fd in ready:
                try:
                    data = os.read(fd, 65536)
                except OSError:  # EIO: the terminal's other side closed
                    data = b""
                if data:
                    chunks[fd] += data
                else:
                    readers.remove(fd)
        proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if master >= 0:
            os.close(master)
        proc.stdout.close()
        if proc.stderr is not None:
            proc.stderr.close()
    return Outcome(proc.returncode, chunks[out_fd].decode(errors="replace"), chunks[err_fd].decode(errors="replace"))


_ESCAPE = re.compile(r"\x1b\[(\??)(\d*)([A-Za-z])")


def screen(raw: str) -> list[str]:
    """The lines a terminal shows after ``raw`` (a small emulator: text,
    carriage return, newline, cursor up, erase line; other sequences are
    ignored), without the trailing empty ones."""
    rows, row, col, i = [""], 0, 0, 0
    while i < len(raw):
        m = _ESCAPE.match(raw, i)
        if m:
            private, count, command = m.groups()
            if not private and command == "A":
                row = max(0, row - int(count or 1))
            elif not private and command == "K":
                rows[row] = "" if count == "2" else rows[row][:col]
            i = m.end()
            continue
        ch = raw[i]
        i += 1
        if ch == "\r":
            col = 0
        elif ch == "\n":
            row, col = row + 1, 0
            if row == len(rows):
                rows.append("")
        else:
            line = rows[row].ljust(col)
            rows[row] = line[:col] + ch + line[col + 1:]
            col += 1
    while rows and not rows[-1].strip():
        rows.pop()
    return rows
