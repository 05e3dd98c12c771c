"""Every transition of the embedded spec fires in some configuration of specs/properties.toml.

A transition that fires in no configuration is one in which no property can
see a fault. The table names the configuration that first exercises each
transition the default configuration does not (the configurations are tried
in the file's order), so that the project's mutant tests, which run in every
configuration, reach every transition.
"""

from __future__ import annotations

from tcpcheck.model.coverage import fired

from .conftest import CONFIGURATIONS, config_space

NOT_IN_DEFAULT = {
    # copies that only a lost ACK makes the peer retransmit
    "FIN_WAIT_1--FIN_ACK_OF_FIN-->TIME_WAIT": "loss",  # Note 2: our FIN's ACK lost, the peer's FIN acks it
    "CLOSE_WAIT--FIN-->CLOSE_WAIT": "loss",
    "CLOSING--FIN-->CLOSING": "loss",
    "LAST_ACK--FIN-->LAST_ACK": "loss",
    "ESTABLISHED--SYN_ACK-->ESTABLISHED": "loss",
    # a listener meets an ACK only when a RST overtakes it or a peer reopens from TIME_WAIT
    "LISTEN--ACK-->LISTEN": "implementation",
    "FIN_WAIT_2--timeout_fin_wait_2(implementation)-->CLOSED": "implementation",
    "TIME_WAIT--SYN(implementation)-->SYN_RCVD": "implementation",
}


def test_each_transition_fires_in_its_configuration(spec) -> None:  # type: ignore[no-untyped-def]
    assert CONFIGURATIONS[0] == "default"
    by_config = {c: fired(config_space(c)) for c in CONFIGURATIONS}
    first = {t.id: next((c for c in CONFIGURATIONS if t.id in by_config[c]), None) for t in spec.transitions}
    assert first == {t.id: NOT_IN_DEFAULT.get(t.id, "default") for t in spec.transitions}


def test_fired_reads_the_edges_not_the_commands() -> None:
    # a transition the spec has but the reachable space never takes is not counted
    sp = config_space("default")
    declared = {t for c in sp.system.commands for t in c.action.transitions}
    assert "TIME_WAIT--SYN(implementation)-->SYN_RCVD" not in declared
    assert "LISTEN--ACK-->LISTEN" in declared and "LISTEN--ACK-->LISTEN" not in fired(sp)
