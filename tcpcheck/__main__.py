"""``python -m tcpcheck`` and the ``tcpcheck`` script: the command line.

Ctrl-C anywhere ends with one line, ``tcpcheck: interrupted``, and exit
status 130. This module imports nothing heavy before it takes SIGINT over,
so an interrupt while the command line is still loading ends the same way.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from types import FrameType
from typing import Any

RETRY_SECONDS = 0.05
# After a Ctrl-C the work unwinds (progress lines erased, temporary files
# removed); if it has not ended after this long (a long Z3 call takes
# KeyboardInterrupt only when it returns), the process ends at once.
GRACE_SECONDS = 5.0
MESSAGE = "tcpcheck: interrupted\n"

_interrupts = 0
_retrying = False


def _exit_now() -> None:
    if sys.stderr.isatty():
        sys.stderr.write("\r\x1b[2K\x1b[?25h")  # erase a progress line, show the cursor again
    sys.stderr.write(MESSAGE)
    sys.stderr.flush()
    os._exit(130)


def _later(seconds: float, action: Any, *args: Any) -> None:
    timer = threading.Timer(seconds, action, args)
    timer.daemon = True
    timer.start()


def _interrupt(signum: int, frame: FrameType | None) -> None:
    """Raise KeyboardInterrupt where it cannot be lost.

    Never inside a ``__del__``: Python prints and drops an exception raised
    there ("Exception ignored in ..."). Measured: Z3's objects free
    themselves in ``__del__`` so often that a Ctrl-C during ``verify
    --engine z3`` was lost one time in four. In such a frame the signal is
    sent again a moment later instead. A second Ctrl-C ends at once.
    """
    global _interrupts, _retrying
    if _retrying:
        _retrying = False
    else:
        _interrupts += 1
        if _interrupts == 1:
            # Objects torn down half-built while we unwind may complain; that is noise now.
            sys.unraisablehook = lambda unraisable: None
            _later(GRACE_SECONDS, _exit_now)
        else:
            _exit_now()
    depth, f = 0, frame
    while f is not None and depth < 64:
        if f.f_code.co_name == "__del__":
            _retrying = True
            _later(RETRY_SECONDS, signal.pthread_kill, threading.main_thread().ident, signal.SIGINT)
            return
        f, depth = f.f_back, depth + 1
    raise KeyboardInterrupt


def main() -> None:
    """Run the ``tcpcheck`` command line."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, _interrupt)
    try:
        from tcpcheck.tools.cli import main as command_line

        command_line()
    except KeyboardInterrupt:
        _leave_interrupted()
    except Exception:
        # After a Ctrl-C, whatever surfaces is its echo: ctypes (Z3's
        # bindings) wraps a KeyboardInterrupt raised while it converts an
        # argument into ArgumentError("argument 1: KeyboardInterrupt").
        if not _interrupts:
            raise
        _leave_interrupted()


def _leave_interrupted() -> None:
    # A SIGINT still on its way (the retry sent for one that landed in a
    # __del__, a second Ctrl-C) would otherwise raise KeyboardInterrupt
    # during interpreter shutdown, outside any handler, and Python then
    # ends by SIGINT (status -2) instead of 130: seen once in CI under Z3.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.stderr.write(MESSAGE)
    sys.exit(130)


if __name__ == "__main__":
    main()
