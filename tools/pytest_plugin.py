"""pytest plugin of tcpcheck (registered through the ``pytest11`` entry point).

Fixtures:

* ``tcp_harness`` (per worker process): the stack under test
  (``tcpcheck.tools.runner.stack.Stack``): by default Linux, a private
  network namespace with a TUN device (pytest-xdist workers each get their
  own); ``--tcpcheck-stack model`` runs a spec in-process instead
  (``--tcpcheck-spec FILE`` for another spec or a mutant), no root needed.
* ``tcp_conversation``: a fresh 4-tuple for one test; the sysctls of a
  ``@pytest.mark.tcpcheck_sysctls(name="value")`` mark apply inside the
  namespace for the test's duration (Linux).
* ``tcp_stack`` / ``tcp_peer``: the stack under test and the remote peer.
* ``tcp_loopback`` (per worker process): two real endpoints on ``lo`` in a
  private namespace, traced (``runner.loopback``).

Without root or TUN the runner's tests are skipped with one line saying
why; with ``TCPCHECK_REQUIRE_NETNS=1`` (CI) that is a failure instead.
This module imports only the standard library and pytest at load time: it
is loaded by every pytest run in the environment, so everything it
registers is namespaced (``--tcpcheck-*``, ``tcpcheck_*``) and nothing
runs until a test asks for one of its fixtures.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

REQUIRE_ENV = "TCPCHECK_REQUIRE_NETNS"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("tcpcheck")
    group.addoption("--tcpcheck-pcap", metavar="DIR", default=None,
                    help="write one pcap per runner test into DIR (Wireshark opens them)")
    group.addoption("--tcpcheck-stack", metavar="NAME", default="linux",
                    help="the stack under test: linux (default; needs root), lwip (needs root and liblwip-dev), "
                         "pytcp (needs root and the pytcp extra) or model (a spec run in-process)")
    group.addoption("--tcpcheck-spec", metavar="FILE", default=None,
                    help="with --tcpcheck-stack model: the spec or mutant file to run (default: the embedded one)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "tcpcheck_sysctls(**values): namespace sysctls for one runner test")


def skip_or_fail(reason: str) -> None:
    """Skip the test because the runner cannot work here (one line why);
    with TCPCHECK_REQUIRE_NETNS=1 (CI) fail it instead."""
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{reason} ({REQUIRE_ENV}=1 makes this a failure)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def tcp_harness(request: pytest.FixtureRequest) -> Iterator[Any]:
    """The per-process stack under test (``--tcpcheck-stack``)."""
    name = request.config.getoption("--tcpcheck-stack")
    spec = request.config.getoption("--tcpcheck-spec")
    if name != "linux" or spec:
        stack = _other_stack(name, spec)
        yield stack
        stack.close()
        return
    from tcpcheck.tools.runner.netns import NamespaceUnavailable, unavailable_reason

    reason = unavailable_reason()
    if reason:
        skip_or_fail(reason)
    from tcpcheck.tools.runner.harness import Harness

    try:
        harness = Harness()
    except NamespaceUnavailable as exc:
        skip_or_fail(str(exc))
        raise  # not reached: skip or fail raised
    yield harness
    harness.close()


def _other_stack(name: str, spec: str | None) -> Any:
    from tcpcheck.model.errors import InputError
    from tcpcheck.tools.runner.stacks import STACKS, make_stack, unavailable

    if name not in STACKS:
        raise pytest.UsageError(f"--tcpcheck-stack {name!r}: use one of {', '.join(STACKS)}")
    if spec and name != "model":
        raise pytest.UsageError("--tcpcheck-spec goes with --tcpcheck-stack model")
    reason = unavailable(name)
    if reason:
        skip_or_fail(reason)
    try:
        return make_stack(name, spec=spec) if spec else make_stack(name)
    except InputError as exc:
        raise pytest.UsageError(f"--tcpcheck-spec: {exc}") from None


@pytest.fixture(scope="session")
def tcp_loopback() -> Iterator[Any]:
    """The per-process loopback harness: a private namespace with only lo,
    the hold rule and the run's trace instance (``LoopbackHarness``)."""
    from tcpcheck.tools.runner.loopback.pair import LoopbackHarness, LoopbackUnavailable, unavailable_reason

    reason = unavailable_reason()
    if reason:
        skip_or_fail(reason)
    try:
        harness = LoopbackHarness()
    except (LoopbackUnavailable, OSError) as exc:
        skip_or_fail(str(exc))
        raise  # not reached: skip or fail raised
    yield harness
    harness.close()


@pytest.fixture
def tcp_conversation(tcp_harness: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """One test's flow; writes its pcap on teardown with --tcpcheck-pcap."""
    sysctls: dict[str, str] = {}
    for mark in request.node.iter_markers("tcpcheck_sysctls"):
        sysctls.update({k: str(v) for k, v in mark.kwargs.items()})
    conv = tcp_harness.conversation(sysctls)
    try:
        yield conv
    finally:
        packets = list(conv.packets)  # before the teardown's own packets
        conv.close()
        directory = request.config.getoption("--tcpcheck-pcap")
        if directory:
            from tcpcheck.tools.runner.pcap import pcap_name, write_pcap

            write_pcap(os.path.join(directory, pcap_name(request.node.nodeid)), packets)


@pytest.fixture
def tcp_stack(tcp_conversation: Any) -> Any:
    """The stack under test: socket calls and ``.state``."""
    from tcpcheck.tools.runner.drive import StackHandle

    return StackHandle(tcp_conversation)


@pytest.fixture
def tcp_peer(tcp_conversation: Any) -> Any:
    """The remote peer: ``.send(segment)`` and ``.expect(segment)``."""
    from tcpcheck.tools.runner.drive import PeerHandle

    return PeerHandle(tcp_conversation)
