"""Fixtures for the loopback tests that need the kernel: root, tracefs, nft."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

REQUIRE_ENV = "TCPCHECK_REQUIRE_NETNS"


def unavailable(reason: str) -> None:
    """Skip, or fail when CI requires the kernel tests to run."""
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{reason} ({REQUIRE_ENV}=1 makes this a failure)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def tracing() -> None:
    """Tracing works here (root, tracefs), else skip."""
    from tcpcheck.tools.runner.tracer import unavailable_reason

    reason = unavailable_reason()
    if reason:
        unavailable(reason)


@pytest.fixture
def private_lo() -> Iterator[Any]:
    """A private namespace with only lo (root needed)."""
    from tcpcheck.tools.runner.netns import NamespaceUnavailable, NetNamespace

    if os.geteuid() != 0:
        unavailable("needs root (a private network namespace)")
    try:
        ns = NetNamespace(tun=False)
    except NamespaceUnavailable as exc:
        unavailable(str(exc))
        raise
    yield ns
    ns.close()
