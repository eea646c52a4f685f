"""Conditions compiled for one event type (``specialise``): constants folded in and the parts of
every ``and``/``or`` reordered cheapest first must give the same truth value as the condition
compiled once (``compile_expression``), for every environment that agrees with the constants."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lendguard.decisions.engine import evaluate
from lendguard.decisions.features.compute import apply_event, feature_cost, open_context
from lendguard.decisions.policy import ListsView
from lendguard.decisions.rules.language import compile_expression, specialise
from lendguard.decisions.rules.loader import needs_known, parse_ruleset, score_floor
from lendguard.decisions.service import default_ruleset_text
from lendguard.decisions.state import MemoryStateStore
from lendguard.graph.index import LinkIndex
from lendguard.simulate.benchmark import build_workload

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


class TestRuleSetTables:
    """Tables the loader builds so the engine skips rules that cannot fire: the rules that
    compare the model score (while no model is active) and the second pass below its floor."""

    @pytest.mark.parametrize(
        ("source", "floor"),
        [
            ("score >= 40", 40.0),
            ("score > floor and amount > 1", 10.0),
            ("amount > 1 and score >= 20 and score >= 30", 30.0),
            ("score >= 10 or amount > 1", None),
            ("amount > 1", None),
            ("score >= word", None),
            ("score <= 40", None),
        ],
    )
    def test_score_floor(self, source: str, floor: float | None) -> None:
        params = {"floor": 10, "word": "x"}
        tree = compile_expression(source, lambda n: True).tree
        assert score_floor(tree, params) == floor

    @pytest.mark.parametrize(
        ("source", "needs"),
        [
            ("model_score >= 0.5", True),
            ("amount > 1 and model_score > cut", True),
            ("0.2 < model_score < 0.9", True),
            ("model_score >= 0.5 or amount > 1", False),
            ("coalesce(model_score, 1) > 0.5", False),
            ("amount > 1", False),
        ],
    )
    def test_needs_model_score(self, source: str, needs: bool) -> None:
        tree = compile_expression(source, lambda n: True).tree
        assert needs_known(tree, "model_score") is needs

    def test_the_engine_decides_as_with_every_rule_run(self) -> None:
        """The default rule set on a workload, with and without a model score: the same
        decisions as with the tables switched off (every rule of the type run)."""
        ruleset = parse_ruleset(default_ruleset_text(), file="default.yaml")
        assert min(ruleset.second_pass_floor_by_type.values()) > 0
        assert all(
            len(ruleset.first_pass_tests_without_model_by_type[k]) < len(tests)
            for k, tests in ruleset.first_pass_tests_by_type.items()
        )
        every = dataclasses.replace(
            ruleset,
            first_pass_tests_without_model_by_type=ruleset.first_pass_tests_by_type,
            second_pass_floor_by_type=dict.fromkeys(ruleset.second_pass_floor_by_type, -math.inf),
        )
        store, graph, lists = MemoryStateStore(engine=None), LinkIndex(), ListsView()
        hits = 0
        for i, event in enumerate(build_workload(3_000).events()):
            model_score = (None, 0.0, 0.5, 0.97)[i % 4]
            decided = []
            for rules in (ruleset, every):
                ctx = open_context(event, store.load, graph)
                ctx.model_score = model_score
                result = evaluate(ctx, rules, lists)
                decided.append((result.action, result.score, [r.as_dict() for r in result.reasons]))
            assert decided[0] == decided[1]
            hits += bool(decided[0][2])
            apply_event(event, ctx.states, ctx)
        assert hits > 50
