"""Which spec transitions fire in an explored state space.

A transition that fires in no configuration is one no property can say
anything about: a fault there is invisible to the checker. The project's
configurations (specs/properties.toml) together fire every transition of the
embedded spec, and a test keeps it so.
"""

from __future__ import annotations

import numpy as np

from tcpcheck.model.explicit import StateSpace


def fired(space: StateSpace) -> frozenset[str]:
    """Ids of the spec transitions taken on some reachable edge of ``space``."""
    commands = space.system.commands
    step = space.vector_successors()
    used: set[int] = set()
    for _, _, words in space.chunks():
        used.update(np.unique(step(words)[1]).tolist())  # the commands only: no successor looked up
    return frozenset(t for cmd in used for t in commands[cmd].action.transitions)
