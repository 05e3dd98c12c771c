"""The property language: precedence, typing, and errors with columns."""

from __future__ import annotations

import pytest

from tcpcheck.model import ModelOptions, build_system, load_spec
from tcpcheck.model.compose import property_env
from tcpcheck.model.expr import ExprError, parse, typecheck
from tcpcheck.model.gcl import evaluate

SYSTEM = build_system(load_spec(), ModelOptions(bound=2))
ENV = property_env(SYSTEM)


def state_with(**values: str) -> tuple[int, ...]:
    s = list(SYSTEM.init)
    for key, value in values.items():
        var = SYSTEM.index(key.replace("_", ".", 1))
        s[var] = SYSTEM.vars[var].values.index(value)
    return tuple(s)


def holds(text: str, state: tuple[int, ...]) -> bool:
    return bool(evaluate(typecheck(parse(text), ENV), state))


def test_implication_is_right_associative_and_loosest() -> None:
    s = state_with(A_state="TIME_WAIT", A_fin_first="false", A_sent_rst="true")
    assert holds("A.state == TIME_WAIT -> A.fin_first or A.sent_rst", s)
    assert not holds("A.state == TIME_WAIT -> A.fin_first", s)
    assert holds("false -> false -> false", s)  # false -> (false -> false)


def test_iff_membership_and_channels() -> None:
    s = state_with(A_state="CLOSE_WAIT", B_state="FIN_WAIT_2")
    assert holds("A.state in {CLOSE_WAIT, LAST_ACK}", s)
    assert holds("B.state not in {CLOSE_WAIT, LAST_ACK}", s)
    assert holds("AB.empty and BA.len == 0", s)
    assert holds("(A.state == ESTABLISHED) <-> (B.state == ESTABLISHED)", s)


@pytest.mark.parametrize(
    "text, message, column",
    [
        ("A.state == TIMEWAIT", "unknown name 'TIMEWAIT'", 12),
        ("A.stat == CLOSED", "unknown name 'A.stat'", 1),
        ("A.state and true", "type clash", 1),
        ("A.fin_first < 2", "compares numbers", 13),
        ("A.state == ", "expected a name", 12),
        ("(A.fin_first", "expected ')'", 13),
        ("A.fin_first $ 1", "unexpected character '$'", 13),
        ("A.state", "must be true or false", 1),
    ],
)
def test_errors_say_what_and_where(text: str, message: str, column: int) -> None:
    with pytest.raises(ExprError) as info:
        typecheck(parse(text), ENV)
    assert message in str(info.value)
    assert info.value.column + 1 == column
