"""Stack adapters, one file each, behind the interface of ``runner.stack``.

``STACKS`` names them for ``tcpcheck run --stack`` and the pytest plugin's
``--tcpcheck-stack``; ``make_stack`` imports an adapter only when asked,
so choosing the model stack never touches namespaces, and a stack whose
library is missing fails with one line saying how to install it.
"""

from __future__ import annotations

import importlib
from typing import Any

from tcpcheck.tools.runner.stack import Stack

# name -> (module, class, what it is)
STACKS: dict[str, tuple[str, str, str]] = {
    "linux": ("tcpcheck.tools.runner.stacks.linux", "LinuxStack",
              "the Linux kernel over a TUN device in a private network namespace (needs root)"),
    "lwip": ("tcpcheck.tools.runner.stacks.lwip", "LwipStack",
             "lwIP 2.1.3 (Debian liblwip-dev) in-process over a TAP device in a private namespace (needs root)"),
    "pytcp": ("tcpcheck.tools.runner.stacks.pytcp", "PytcpStack",
              "PyTCP 0.3.8 (pip pmd-pytcp) in-process over a TAP device in a private namespace (needs root)"),
    "model": ("tcpcheck.tools.runner.stacks.model", "ModelStack",
              "a spec (or mutant spec) run in-process as the stack under test; no kernel"),
}

__all__ = ["STACKS", "make_stack", "unavailable"]


def unavailable(name: str) -> str | None:
    """Why stack ``name`` cannot run here (one line), or None."""
    if name == "linux":
        from tcpcheck.tools.runner.netns import unavailable_reason

        return unavailable_reason()
    if name == "lwip":
        from tcpcheck.tools.runner.netns import unavailable_reason
        from tcpcheck.tools.runner.stacks.lwip import lwip_unavailable

        return unavailable_reason() or lwip_unavailable()
    if name == "pytcp":
        from tcpcheck.tools.runner.netns import unavailable_reason
        from tcpcheck.tools.runner.stacks.pytcp import pytcp_unavailable

        return pytcp_unavailable() or unavailable_reason()
    return None


def make_stack(name: str, **options: Any) -> Stack:
    """A new stack called ``name`` (``options`` go to its constructor)."""
    module, cls, _ = STACKS[name]
    stack: Stack = getattr(importlib.import_module(module), cls)(**options)
    return stack
