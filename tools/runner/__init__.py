"""The runner: plays scenarios against a TCP stack (the real Linux stack
through a TUN device inside a private network namespace, or the spec
itself in-process) and judges every step.

Modules, from the wire up:

* ``stack``   the interface every stack offers; ``stacks/`` one adapter each
              (``linux``, ``model``)
* ``netns``   the namespace, its TUN device and per-namespace sysctls
* ``packets`` IPv4/TCP build and parse with checksums; ``wire`` TUN I/O
* ``peer``    the remote peer's sequence numbers and segment vocabulary
* ``local``   socket calls on Linux; ``observe`` TCP_INFO and sock_diag
* ``harness`` one ``Conversation`` per test: the peer in front of a stack's endpoint
* ``judge``   what counts as a match (pure); ``profile`` documented deviations
* ``execute`` a scenario step by step; ``batch`` many, in N processes
* ``suite``   the built-in scenarios; ``report`` matrix and JSON; ``pcap``
* ``tracer``  a trace instance of the run's own (sock:inet_sock_set_state),
  kept by a watchdog process (``tracewatch``) that removes it whatever happens
* ``loopback`` both endpoints real, on ``lo`` (its own package)

Importing this package does no I/O; making a ``Harness`` needs root.
"""

from __future__ import annotations

__all__ = ["Harness", "execute", "load_profile", "default_suite", "run_scenarios"]

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tcpcheck.tools.runner.batch import run_scenarios
    from tcpcheck.tools.runner.execute import execute
    from tcpcheck.tools.runner.harness import Harness
    from tcpcheck.tools.runner.profile import load_profile
    from tcpcheck.tools.runner.suite import default_suite

_WHERE = {
    "Harness": "tcpcheck.tools.runner.harness",
    "execute": "tcpcheck.tools.runner.execute",
    "load_profile": "tcpcheck.tools.runner.profile",
    "default_suite": "tcpcheck.tools.runner.suite",
    "run_scenarios": "tcpcheck.tools.runner.batch",
}


def __getattr__(name: str) -> Any:
    # Lazy: the pytest plugin and the CLI import submodules only when needed.
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(name)
