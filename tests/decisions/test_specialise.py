"""Conditions compiled for one event type (``specialise``): constants folded in and the parts of
every ``and``/``or`` reordered cheapest first must give the same truth value as the condition
compiled once (``compile_expression``), for every environment that agrees with the constants."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from lendguard.decisions.features.compute import feature_cost
from lendguard.decisions.rules.language import compile_expression, specialise

NAMES = ("a", "b", "c", "d")
VALUES = st.sampled_from([None, True, False, 0, 1, 3, 2.5, "x"])


def known(name: str) -> bool:
    return name in NAMES


@st.composite
def expressions(draw: st.DrawFn, depth: int = 0) -> str:
    if depth >= 3 or draw(st.integers(0, 3)) == 0:
        leaf = draw(st.integers(0, 2))
        name = draw(st.sampled_from(NAMES))
        if leaf == 0:
            return name
        if leaf == 1:
            op = draw(st.sampled_from([">=", "<=", "==", "!=", "<", ">"]))
            constant = draw(st.sampled_from(["1", "2.5", "None", "True", "'x'"]))
            return f"{name} {op} {constant}"
        return f"{name} in [1, 'x', True]"
    kind = draw(st.integers(0, 2))
    if kind == 2:
        return f"not ({draw(expressions(depth + 1))})"
    parts = [draw(expressions(depth + 1)) for _ in range(draw(st.integers(2, 4)))]
    joiner = " and " if kind == 0 else " or "
    return "(" + joiner.join(parts) + ")"


class _Recorder(dict[str, Any]):
    """An environment that notes the order names are first read in."""

    def __init__(self, values: dict[str, Any]) -> None:
        super().__init__()
        self.values = values
        self.order: list[str] = []

    def __missing__(self, name: str) -> Any:
        self.order.append(name)
        self[name] = self.values[name]
        return self[name]


@settings(max_examples=400, deadline=None)
@given(
    expressions(),
    st.fixed_dictionaries(dict.fromkeys(NAMES, VALUES)),
    st.sets(st.sampled_from(NAMES), max_size=2),
    st.fixed_dictionaries({n: st.integers(0, 3) for n in NAMES}),
)
def test_specialised_and_reordered_conditions_keep_their_value(
    source: str, env: dict[str, Any], fixed: set[str], costs: dict[str, int]
) -> None:
    compiled = compile_expression(source, known)
    constants = {n: env[n] for n in fixed}
    test, static = specialise(compiled, known, constants, costs.__getitem__)
    expected = bool(compiled.evaluate(env))
    assert bool(test(_Recorder(env))) == expected
    if static is not None:
        assert static == expected


def test_cheap_parts_are_read_first() -> None:
    compiled = compile_expression("d >= 1 and c >= 1 and a >= 1", known)
    costs = {"a": 0, "b": 1, "c": 2, "d": 3}
    test, _ = specialise(compiled, known, {}, costs.__getitem__)
    env = _Recorder({"a": 0, "b": 0, "c": 5, "d": 5})
    assert test(env) is False
    assert env.order == ["a"]  # false at once: c and d are never computed
    env = _Recorder({"a": 1, "b": 0, "c": 5, "d": 5})
    assert test(env) is True
    assert env.order == ["a", "c", "d"]
    # without costs the written order holds
    plain, _ = specialise(compiled, known, {})
    env = _Recorder({"a": 0, "b": 0, "c": 0, "d": 5})
    assert plain(env) is False
    assert env.order == ["d", "c"]


def test_feature_costs_put_event_fields_before_window_scans_and_the_graph() -> None:
    assert feature_cost("amount") < feature_cost("is_new_payee")
    assert feature_cost("minutes_since_disbursement") < feature_cost("is_new_payee")
    assert feature_cost("is_new_payee") < feature_cost("customer_outflow_count_1h")
    assert feature_cost("customer_outflow_count_1h") < feature_cost("ring_size")
    assert feature_cost("large_amount") == 0  # a rule-set parameter, never computed
