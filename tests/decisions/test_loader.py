"""Rule sets as data: the default set, and refusals that point at file, line and column."""

from __future__ import annotations

from pathlib import Path

import pytest

from lendguard.decisions.rules.loader import (
    SCORE_NAME,
    Action,
    Measure,
    RuleSetError,
    load_ruleset_file,
    parse_ruleset,
    render_message,
)
from lendguard.decisions.service import default_ruleset_text

DEFAULT_FILE = (
    Path(__file__).resolve().parents[2]
    / "src"
    / "lendguard"
    / "decisions"
    / "rules"
    / "default.yaml"
)

REQUIRED_REASONS = {
    "NEW_PAYEE",
    "DISBURSEMENT_OUTFLOW_SHARE",
    "SCREEN_SHARING",
    "CALL_ACTIVE",
    "SEVERAL_DRAWDOWNS",
    "FIRST_LARGE_TRANSFER",
    "NEW_DEVICE",
    "PHONE_CHANGED",
    "ELDERLY_CUSTOMER",
    "STUDENT_CUSTOMER",
}

VALID = """\
name: test
description: one rule
params:
  big: 5000
rules:
  - id: big-transfer
    category: fraud
    when: is_outflow and amount >= big
    action: remind
    reason: BIG_TRANSFER
    weight: 10
    measures: [VERIFY]
    message:
      zh-CN: "大额转出 {amount} 元"
      en: "A large payment of {amount}"
"""

SECOND_RULE = """\
  - id: call-transfer
    category: fraud
    when: is_outflow and call_active
    action: dissuade
    reason: CALL
    message:
      zh-CN: "通话中转账"
      en: "Payment during a call"
"""


def position(text: str, needle: str, nth: int = 1) -> tuple[int, int]:
    """1-based (line, column) of the ``nth`` occurrence of ``needle`` in ``text``."""
    index = -1
    for _ in range(nth):
        index = text.index(needle, index + 1)
    line = text.count("\n", 0, index) + 1
    column = index - (text.rfind("\n", 0, index) + 1) + 1
    return line, column


def refusal(text: str, file: str = "rules/custom.yaml") -> list[tuple[str, int, int, str]]:
    with pytest.raises(RuleSetError) as caught:
        parse_ruleset(text, file=file)
    return [(p.file, p.line, p.column, p.message) for p in caught.value.problems]


class TestDefaultRuleSet:
    def test_loads_with_at_least_20_rules(self) -> None:
        ruleset = load_ruleset_file(DEFAULT_FILE)
        assert ruleset.name == "default"
        assert len(ruleset.rules) >= 20

    def test_packaged_text_is_the_file(self) -> None:
        assert default_ruleset_text() == DEFAULT_FILE.read_text(encoding="utf-8")

    def test_covers_the_r38_r39_reason_codes(self) -> None:
        reasons = {r.reason for r in load_ruleset_file(DEFAULT_FILE).rules}
        assert REQUIRED_REASONS <= reasons

    def test_rule_ids_are_unique_and_every_acting_rule_speaks_both_locales(self) -> None:
        rules = load_ruleset_file(DEFAULT_FILE).rules
        assert len({r.id for r in rules}) == len(rules)
        for rule in rules:
            if rule.action != Action.allow:
                assert set(rule.messages) == {"zh-CN", "en"}, rule.id

    def test_score_rules_run_in_the_second_pass(self) -> None:
        ruleset = load_ruleset_file(DEFAULT_FILE)
        assert ruleset.second_pass, "the R36 ladder escalates on the combined score"
        assert all(SCORE_NAME in r.condition.names for r in ruleset.second_pass)
        assert all(SCORE_NAME not in r.condition.names for r in ruleset.first_pass)
        assert len(ruleset.first_pass) + len(ruleset.second_pass) == len(ruleset.rules)

    def test_only_referenced_features_are_computed(self) -> None:
        ruleset = load_ruleset_file(DEFAULT_FILE)
        assert {"is_new_payee", "disbursement_outflow_share", "amount"} <= ruleset.feature_names
        assert "customer_login_count_7d" not in ruleset.feature_names
        assert not set(ruleset.params) & ruleset.feature_names


class TestValidRuleSet:
    def test_parses_fields(self) -> None:
        ruleset = parse_ruleset(VALID, file="t.yaml")
        (rule,) = ruleset.rules
        assert rule.id == "big-transfer"
        assert rule.action is Action.remind
        assert rule.measures == (Measure.VERIFY,)
        assert rule.weight == 10
        assert ruleset.params == {"big": 5000}
        assert rule.condition.evaluate({"is_outflow": True, "amount": 6000.0, "big": 5000})
        assert not rule.condition.evaluate({"is_outflow": True, "amount": 10.0, "big": 5000})

    def test_disabled_rule_is_left_out(self) -> None:
        text = VALID + SECOND_RULE + "    enabled: false\n"
        assert [r.id for r in parse_ruleset(text).rules] == ["big-transfer"]

    def test_message_rendering_formats_numbers_and_unknowns(self) -> None:
        rendered = render_message(
            "{amount} / {share} / {missing} / {big}",
            {"amount": 19000.0, "share": 0.95, "missing": None},
            {"big": 5000},
        )
        assert rendered == "19,000 / 0.95 / - / 5000"


class TestRefusalPositions:
    """Each refusal names the file and the exact line and column of the offending text."""

    @pytest.mark.parametrize(
        ("old", "new", "needle", "message"),
        [
            pytest.param(
                "when: is_outflow and amount >= big",
                "when: is_outflow and amount >= big: yes",
                ": yes",
                "YAML syntax error: mapping values are not allowed here",
                id="yaml-syntax-error",
            ),
            pytest.param(
                "    category: fraud",
                "\tcategory: fraud",
                "\tcategory",
                "YAML syntax error: found character '\\t'",
                id="yaml-tab",
            ),
            pytest.param(
                "when: is_outflow and amount >= big",
                "when: is_outflow and amount >= no_such_feature",
                "no_such_feature",
                "unknown name 'no_such_feature'",
                id="unknown-feature",
            ),
            pytest.param(
                "when: is_outflow and amount >= big",
                'when: "is_outflow and amount >= bigg"',
                "bigg",
                "unknown name 'bigg'",
                id="unknown-name-double-quoted",
            ),
            pytest.param(
                "when: is_outflow and amount >= big",
                "when: '  is_outflow and amount.real >= big'",
                "amount.real",
                "'Attribute' is not allowed",
                id="attribute-single-quoted-leading-spaces",
            ),
            pytest.param(
                "when: is_outflow and amount >= big",
                "when: is_outflow and open('x')",
                "open(",
                "only the functions",
                id="forbidden-call",
            ),
            pytest.param(
                "when: is_outflow and amount >= big",
                "when: is_outflow and amount >",
                "is_outflow and amount >",
                "syntax error",
                id="expression-syntax-error",
            ),
            pytest.param(
                '"A large payment of {amount}"',
                '"A large payment of {amoutn}"',
                '"A large payment of {amoutn}"',
                "unknown placeholder '{amoutn}' in message",
                id="unknown-placeholder",
            ),
            pytest.param(
                "action: remind",
                "action: explode",
                "explode",
                "action must be one of",
                id="bad-action",
            ),
            pytest.param(
                "measures: [VERIFY]",
                "measures: [VERIFY, TELEPORT]",
                "[VERIFY, TELEPORT]",
                "unknown measure 'TELEPORT'",
                id="bad-measure",
            ),
            pytest.param(
                "category: fraud",
                "category: mischief",
                "mischief",
                "category must be one of",
                id="bad-category",
            ),
            pytest.param(
                "reason: BIG_TRANSFER",
                "reason: big transfer",
                "big transfer",
                "UPPER_SNAKE_CASE",
                id="bad-reason",
            ),
            pytest.param(
                "weight: 10",
                "weight: 101",
                "101",
                "weight must be an integer from 0 to 100",
                id="bad-weight",
            ),
            pytest.param(
                '      zh-CN: "大额转出 {amount} 元"\n',
                "",
                'en: "A large',
                "message needs a 'zh-CN' text",
                id="missing-zh-CN",
            ),
            pytest.param(
                "  big: 5000",
                "  big: 5000\n  amount: 1",
                "amount: 1",
                "parameter 'amount' shadows a feature name",
                id="param-shadows-feature",
            ),
            pytest.param(
                "description: one rule",
                "descripton: one rule",
                "descripton",
                "unknown key 'descripton'",
                id="unknown-top-level-key",
            ),
            pytest.param(
                "    weight: 10",
                "    wieght: 10",
                "wieght",
                "unknown rule key 'wieght'",
                id="unknown-rule-key",
            ),
        ],
    )
    def test_refused_at_the_offending_text(
        self, old: str, new: str, needle: str, message: str
    ) -> None:
        assert old in VALID
        text = VALID.replace(old, new)
        line, column = position(text, needle)
        problems = refusal(text)
        assert len(problems) == 1, problems
        file, got_line, got_column, got_message = problems[0]
        assert file == "rules/custom.yaml"
        assert message in got_message
        assert (got_line, got_column) == (line, column)

    def test_duplicate_rule_id_points_at_the_second_rule(self) -> None:
        text = VALID + SECOND_RULE.replace("id: call-transfer", "id: big-transfer")
        problems = refusal(text)
        assert [(p[1], p[2]) for p in problems] == [position(text, "id: big-transfer", nth=2)]
        assert "duplicate rule id 'big-transfer'" in problems[0][3]

    def test_missing_required_key_points_at_the_rule(self) -> None:
        text = VALID.replace("    reason: BIG_TRANSFER\n", "")
        problems = refusal(text)
        assert [(p[1], p[2], p[3]) for p in problems] == [
            (*position(text, "id: big-transfer"), "rule is missing 'reason'")
        ]

    def test_every_problem_is_reported_at_once(self) -> None:
        text = VALID.replace("action: remind", "action: explode") + SECOND_RULE.replace(
            "when: is_outflow and call_active", "when: is_outflow and bogus"
        )
        problems = refusal(text)
        assert [(p[1], p[2]) for p in problems] == [
            position(text, "explode"),
            position(text, "bogus"),
        ]

    def test_problem_string_is_file_line_column_message(self) -> None:
        text = VALID.replace("action: remind", "action: explode")
        with pytest.raises(RuleSetError) as caught:
            parse_ruleset(text, file="custom.yaml")
        line, column = position(text, "explode")
        assert str(caught.value.problems[0]).startswith(f"custom.yaml:{line}:{column}: action")

    def test_file_name_comes_from_the_path(self, tmp_path: Path) -> None:
        path = tmp_path / "broken.yaml"
        path.write_text(VALID.replace("action: remind", "action: explode"), encoding="utf-8")
        with pytest.raises(RuleSetError) as caught:
            load_ruleset_file(path)
        assert caught.value.problems[0].file == str(path)

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("- just\n- a list\n", "a rule set must be a mapping with 'rules'"),
            ("name: x\n", "missing 'rules'"),
            ("name: x\nrules: []\n", "'rules' must be a non-empty list"),
        ],
    )
    def test_shape_errors(self, text: str, message: str) -> None:
        assert message in refusal(text)[0][3]


class TestMultiLineConditions:
    """Long conditions are written over several lines; errors still point at the text."""

    @pytest.mark.parametrize(
        "when",
        [
            pytest.param(
                "|\n      (is_outflow\n       and amount >= big\n       and bogus)",
                id="literal-block",
            ),
            pytest.param(
                "|-\n      (is_outflow and\n         bogus)",
                id="literal-block-strip",
            ),
            pytest.param("|\n      bogus and is_outflow", id="literal-block-first-line"),
            pytest.param(
                "|\n      (is_outflow and\n        amount > > 1)",
                id="literal-block-syntax-error",
            ),
            pytest.param(">\n      is_outflow\n      and bogus", id="folded-block"),
            pytest.param("is_outflow\n      and bogus", id="plain-multi-line"),
        ],
    )
    def test_position_inside_a_multi_line_condition(self, when: str) -> None:
        text = VALID.replace("when: is_outflow and amount >= big", f"when: {when}")
        needle = "> 1" if "> > 1" in when else "bogus"
        problems = refusal(text)
        assert [(p[1], p[2]) for p in problems] == [position(text, needle)]

    def test_valid_literal_block_compiles(self) -> None:
        text = VALID.replace(
            "when: is_outflow and amount >= big",
            "when: |\n      (is_outflow\n       and amount >= big)",
        )
        (rule,) = parse_ruleset(text).rules
        assert rule.condition.names == {"is_outflow", "amount", "big"}
