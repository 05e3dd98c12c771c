"""Reading an input file: a regular file, of bounded size, as UTF-8 text.

Every loader (spec, mutant base, properties, timed spec, profile, scenario
suite, run.json) reads through ``read_input``, so that ``--spec /dev/zero``,
a FIFO or a device named as a mutant's ``base`` is one clear error instead
of a read that never ends or fills memory.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from tcpcheck.model.errors import InputError

MAX_INPUT_BYTES = 16 << 20  # far above any real spec, suite or run file


def read_input(path: str | Path, what: str, limit: int = MAX_INPUT_BYTES) -> str:
    """The text of ``path``; InputError (naming ``what`` the file should be)
    when it is missing, not a regular file, larger than ``limit`` or not UTF-8."""
    shown = str(path)
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; the type is checked next.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise InputError(shown, f"no such file; pass {what}") from None
    except OSError as exc:
        raise InputError(shown, f"cannot read it ({exc.strerror}); pass {what}") from None
    except ValueError:  # an embedded NUL byte in the name
        raise InputError(shown.replace("\0", "\\0"), f"not a file name; pass {what}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = "a folder" if stat.S_ISDIR(info.st_mode) else "not a regular file"
            raise InputError(shown, f"{kind}; pass {what}")
        if info.st_size > limit:
            raise InputError(shown, f"larger than {limit >> 20} MiB; pass {what}")
        chunks, size = [], 0
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:  # it grew while we read
                raise InputError(shown, f"larger than {limit >> 20} MiB; pass {what}")
    except OSError as exc:
        raise InputError(shown, f"cannot read it ({exc.strerror}); pass {what}") from None
    finally:
        os.close(fd)
    try:
        return b"".join(chunks).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(shown, f"not UTF-8 text (byte {exc.start}); pass {what}") from None


def parse_json(text: str, shown: str, what: str) -> Any:
    """A JSON document, as one InputError when it is not one: malformed,
    nested too deeply, or holding a string that is not Unicode text (JSON
    can spell a lone surrogate, ``"\\ud800"``, which no output can encode)."""
    import json

    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{shown}:{exc.lineno}", f"not valid JSON ({exc.msg}); pass {what}") from None
    except RecursionError:
        raise InputError(shown, f"not valid JSON (nested too deeply); pass {what}") from None
    stack = [data]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
        elif isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise InputError(shown, f"a string holds a lone surrogate ({value[:20]!r}); pass {what}") from None
    return data
