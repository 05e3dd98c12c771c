"""Running many tasks in this process, or in N worker processes that each
own a world of their own (a stack, a loopback harness: each a private
network namespace), like pytest-xdist workers.

Both runners (``batch.run_scenarios``, ``loopback.batch.run_pairs``) go
through ``run_batch``; what a parallel run promises:

* Workers die with their parent, however it ends (SIGKILL included): each
  asks the kernel for SIGKILL when its parent goes (``PR_SET_PDEATHSIG``)
  and checks the parent has not already gone. A worker's namespace and its
  TUN device are held by that worker only, so the kernel frees them when it
  dies; a trace instance is removed by its watchdog, which sees end-of-file.
* Ctrl-C stops the run at once: workers ignore SIGINT (set while SIGINT is
  still blocked, so a Ctrl-C during the fork cannot run the parent's handler
  in a child); the parent kills its workers, reaps them and re-raises
  ``KeyboardInterrupt`` (the command line prints one line, exit 130).
* An error in a worker (no CAP_SYS_ADMIN, no TUN) is raised in the parent as
  the same exception, so the command line says it in one line; a worker that
  dies on its own is ``WorkerDied``.

Workers are forked, never spawned: the caller has made no namespace thread
yet, each worker makes its world in ``setup``, and the callables need not be
picklable (the tasks and results are, they travel over a pipe).
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import pickle
import signal
from collections import deque
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from multiprocessing.connection import Connection, wait
from typing import Any, TypeVar

W = TypeVar("W")
T = TypeVar("T")
R = TypeVar("R")
I = TypeVar("I")  # noqa: E741 (the info a world describes itself with)

PR_SET_PDEATHSIG = 1
# A worker asked to stop closes its world (a trace instance, a namespace);
# past this it is killed, which frees the same things less politely.
STOP_SECONDS = 10.0
_DESCRIBE = -1


class WorkerDied(RuntimeError):
    """A worker process ended without being asked to."""


def run_batch(
    tasks: Sequence[T],
    setup: Callable[[], AbstractContextManager[W]],
    work: Callable[[W, T], R],
    describe: Callable[[W], I],
    jobs: int = 1,
    on_result: Callable[[R], None] | None = None,
) -> tuple[I, list[R]]:
    """``describe(world)`` and ``work(world, task)`` for every task, where
    ``world`` is what ``setup()`` enters: once here (``jobs`` <= 1) or once
    per worker process. Results come back in the order of ``tasks``, and
    ``on_result`` sees them in that order as they become known."""
    if jobs <= 1:
        results: list[R] = []
        with setup() as world:
            info = describe(world)
            for task in tasks:
                result = work(world, task)
                results.append(result)
                if on_result:
                    on_result(result)
        return info, results
    return _Pool(setup, work, describe, min(jobs, max(1, len(tasks)))).run(tasks, on_result)


def die_with_parent(parent: int) -> None:
    """Have the kernel SIGKILL this process when ``parent`` (which forked
    it) ends; end now if it already has."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"prctl(PR_SET_PDEATHSIG): {os.strerror(errno)}")
    if os.getppid() != parent:  # it ended before the request was made
        os._exit(1)


class _Pool:
    def __init__(self, setup: Callable[[], AbstractContextManager[W]], work: Callable[[W, T], R],
                 describe: Callable[[W], I], jobs: int) -> None:
        self.setup, self.work, self.describe, self.jobs = setup, work, describe, jobs
        self.procs: list[Any] = []
        self.conns: list[Connection] = []

    def run(self, tasks: Sequence[T], on_result: Callable[[R], None] | None) -> tuple[I, list[R]]:
        try:
            self._start()
            return self._drive(tasks, on_result)
        except BaseException:
            self._kill()
            raise

    # -- processes -------------------------------------------------------------

    def _start(self) -> None:
        context = multiprocessing.get_context("fork")
        parent = os.getpid()
        # Blocked across the forks: a Ctrl-C now waits for the parent's
        # handler, after every child has set SIGINT to be ignored.
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            for n in range(self.jobs):
                mine, theirs = context.Pipe()
                self.conns.append(mine)
                proc = context.Process(target=self._serve, args=(theirs, parent, list(self.conns), mask),
                                       name=f"tcpcheck-worker-{n}", daemon=True)
                proc.start()
                self.procs.append(proc)
                theirs.close()  # the worker's end: its death is end-of-file here
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)

    def _serve(self, conn: Connection, parent: int, siblings: list[Connection], mask: set[Any]) -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        die_with_parent(parent)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        for other in siblings:  # the parent's ends, copied by the fork: only the parent reads them
            other.close()
        try:
            with self.setup() as world:
                while (message := conn.recv()) is not None:
                    index, task = message
                    try:
                        value: Any = self.describe(world) if index == _DESCRIBE else self.work(world, task)
                    except Exception as exc:
                        conn.send((index, False, _portable(exc)))
                    else:
                        conn.send((index, True, value))
        except EOFError:
            pass  # the parent is gone or gave up
        except Exception as exc:
            try:
                conn.send((None, False, _portable(exc)))
            except OSError:
                pass

    def _kill(self) -> None:
        for proc in self.procs:
            if proc.is_alive():
                proc.kill()
        for proc in self.procs:
            proc.join(STOP_SECONDS)
        for conn in self.conns:
            conn.close()
        self.procs, self.conns = [], []

    def _stop(self) -> None:
        for conn in self.conns:
            try:
                conn.send(None)
            except OSError:
                pass
        for proc in self.procs:
            proc.join(STOP_SECONDS)
        self._kill()

    # -- work ---------------------------------------------------------------------

    def _drive(self, tasks: Sequence[T], on_result: Callable[[R], None] | None) -> tuple[I, list[R]]:
        pending: deque[tuple[int, Any]] = deque([(_DESCRIBE, None), *enumerate(tasks)])
        idle = list(self.conns)
        busy: dict[Connection, int] = {}
        done: dict[int, Any] = {}
        shown = 0
        while pending or busy:
            while pending and idle:
                conn = idle.pop()
                message = pending.popleft()
                try:
                    conn.send(message)
                except OSError:
                    pass  # it is gone: what it said before (its error) or end-of-file is read below
                busy[conn] = message[0]
            for ready in wait(list(busy)):
                assert isinstance(ready, Connection)
                try:
                    index, ok, value = ready.recv()
                except EOFError:
                    raise WorkerDied(self._death(ready)) from None
                if not ok:
                    raise value
                del busy[ready]
                idle.append(ready)
                done[index] = value
            while shown in done and shown < len(tasks):
                if on_result:
                    on_result(done[shown])
                shown += 1
        self._stop()
        return done[_DESCRIBE], [done[n] for n in range(len(tasks))]

    def _death(self, conn: Connection) -> str:
        proc = self.procs[self.conns.index(conn)]
        proc.join(STOP_SECONDS)
        code = proc.exitcode
        how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit status {code}"
        return f"worker process {proc.pid} ended in the middle of the run ({how}); nothing it held is left behind"


def _portable(exc: BaseException) -> BaseException:
    """``exc`` if it survives the pipe, else a RuntimeError saying the same."""
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")
    return exc
