"""The customer-text lint (issue #15): the shipped rule sets pass it; each check fires on a bad
rule with its position; ``lendguard rules lint`` and the rule-set upload refuse the same."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fixtures import Api
from lendguard.cli.main import app as cli
from lendguard.decisions.explain import REASON_TEXT
from lendguard.decisions.rules import lint as rules_lint
from lendguard.decisions.rules.lint import (
    LATIN_IN_CHINESE,
    MISSING_EXPLANATION,
    PLACEHOLDER_WORD,
    REQUIREMENT_ID,
    SNAKE_CASE_NAME,
    LintFinding,
    lint_catalogue,
    lint_ruleset,
    shipped_rulesets,
    text_problems,
)
from lendguard.decisions.rules.loader import RuleSetError, load_ruleset_file, parse_ruleset

GOOD_MESSAGE = '{zh-CN: "这笔付款已暂缓。", en: "This payment is on hold."}'
GOOD_EXPLANATION = (
    '{zh-CN: "我们多确认一步，以保护您的资金。请按提示确认。", '
    'en: "We check once more to protect your money. Confirm when asked."}'
)


def ruleset_text(message: str = GOOD_MESSAGE, explanation: str | None = GOOD_EXPLANATION) -> str:
    """Two rules: a signal with a catalogue code, then a custom rule (index 1) under test."""
    lines = [
        "name: house",
        "params:",
        "  big: 100",
        "rules:",
        "  - id: signal",
        "    category: fraud",
        "    when: is_new_payee and amount >= big",
        "    action: allow",
        "    reason: NEW_PAYEE",
        "    weight: 10",
        "  - id: house-hold",
        "    category: fraud",
        "    when: is_outflow and amount >= big",
        "    action: intercept",
        "    reason: HOUSE_HOLD",
        "    weight: 40",
        "    measures: [DELAY]",
        f"    message: {message}",
    ]
    if explanation is not None:
        lines.append(f"    explanation: {explanation}")
    return "\n".join(lines) + "\n"


def lint(text: str) -> list[LintFinding]:
    return lint_ruleset(parse_ruleset(text, file="house.yaml"), "house.yaml")


def test_every_shipped_rule_set_and_the_catalogue_have_no_findings() -> None:
    files = shipped_rulesets()
    assert any(path.name == "default.yaml" for path in files)
    for path in files:
        assert lint_ruleset(load_ruleset_file(path), str(path)) == [], path
    assert lint_catalogue() == []


def test_a_clean_custom_rule_set_passes() -> None:
    assert lint(ruleset_text()) == []


def test_a_reason_without_a_customer_sentence_is_found_at_its_position() -> None:
    (finding,) = lint(ruleset_text(explanation=None))
    assert finding.code == MISSING_EXPLANATION
    assert (finding.rule_index, finding.rule_id, finding.field) == (
        1,
        "house-hold",
        "rules[1].reason",
    )
    assert (finding.file, finding.line, finding.column) == ("house.yaml", 15, 13)
    assert "HOUSE_HOLD" in finding.message
    assert "zh-CN and en" in finding.message


def test_a_disabled_rule_and_a_score_only_escalation_need_no_sentence() -> None:
    text = ruleset_text() + (
        "  - id: off\n    category: fraud\n    enabled: false\n    when: amount >= 1\n"
        "    action: allow\n    reason: OFF_CODE\n"
        "  - id: escalate\n    category: fraud\n    when: score >= big\n    action: remind\n"
        f"    reason: HOUSE_ESCALATION\n    message: {GOOD_MESSAGE}\n"
    )
    assert lint(text) == []
    # the same rule reading a feature too is not a summary: it needs its sentence
    findings = lint(text.replace("when: score >= big", "when: score >= big and is_outflow"))
    assert [(f.rule_id, f.code) for f in findings] == [("escalate", MISSING_EXPLANATION)]


@pytest.mark.parametrize(
    ("zh", "en", "codes_zh", "codes_en"),
    [
        ("按R30要求暂缓。", "Held under R30.", {REQUIREMENT_ID}, {REQUIREMENT_ID}),
        ("超过阈值暂缓。", "Held within scam_cue_hours.", set(), {SNAKE_CASE_NAME}),
        (
            "暂缓（placeholder）。",
            "A placeholder threshold.",
            {PLACEHOLDER_WORD},
            {PLACEHOLDER_WORD},
        ),
        ("请在APP里确认。", "Confirm in the app.", {LATIN_IN_CHINESE}, set()),
        ("ＡＰＰ里确认。", "Confirm.", {LATIN_IN_CHINESE}, set()),
    ],
    ids=["requirement-id", "snake-case", "placeholder", "latin-in-zh", "full-width-latin"],
)
def test_each_text_check_fires_on_the_message_with_its_field(
    zh: str, en: str, codes_zh: set[str], codes_en: set[str]
) -> None:
    findings = lint(ruleset_text(message=json.dumps({"zh-CN": zh, "en": en}, ensure_ascii=False)))
    assert {f.code for f in findings if f.field == "rules[1].message.zh-CN"} == codes_zh
    assert {f.code for f in findings if f.field == "rules[1].message.en"} == codes_en
    assert all(f.rule_id == "house-hold" and f.line == 18 for f in findings)


# Hostile and careless texts that compiled and were stored: a customer would have read them.
@pytest.mark.parametrize(
    ("key", "texts", "field", "code"),
    [
        # full-width forms hide an id, a name or a note from an ASCII pattern, not from a reader
        ("message", '{zh-CN: "暂缓。", en: "Held under Ｒ３０."}', "en", rules_lint.REQUIREMENT_ID),
        ("message", '{zh-CN: "按Ｒ３０暂缓。", en: "Held."}', "zh-CN", rules_lint.REQUIREMENT_ID),
        (
            "explanation",
            '{zh-CN: "核实ｐｌａｃｅｈｏｌｄｅｒ。", en: "We check."}',
            "zh-CN",
            rules_lint.PLACEHOLDER_WORD,
        ),
        (
            "explanation",
            '{zh-CN: "核实。", en: "Per ｓｃａｍ＿ｃｕｅ＿ｈｏｕｒｓ."}',
            "en",
            rules_lint.SNAKE_CASE_NAME,
        ),
        # an invisible character inside an id still quotes the id, and is itself a finding
        (
            "explanation",
            '{zh-CN: "核实。", en: "Per R\\u200b30."}',
            "en",
            rules_lint.REQUIREMENT_ID,
        ),
        (
            "explanation",
            '{zh-CN: "核实\\u0007一下。", en: "We check."}',
            "zh-CN",
            rules_lint.CONTROL_CHARACTER,
        ),
        ("message", '{zh-CN: "暂缓\\u202e。", en: "Held."}', "zh-CN", rules_lint.CONTROL_CHARACTER),
        # not text: YAML reads a mapping, a list, a number, a boolean or null
        ("message", '{zh-CN: {a: 1}, en: "Held."}', "zh-CN", rules_lint.NOT_TEXT),
        ("message", '{zh-CN: "暂缓。", en: [1, 2]}', "en", rules_lint.NOT_TEXT),
        ("message", '{zh-CN: 12, en: "Held."}', "zh-CN", rules_lint.NOT_TEXT),
        ("message", '{zh-CN: ~, en: "Held."}', "zh-CN", rules_lint.NOT_TEXT),
        ("explanation", '{zh-CN: {a: 1}, en: "We check."}', "zh-CN", rules_lint.NOT_TEXT),
        ("explanation", '{zh-CN: "核实。", en: 5}', "en", rules_lint.NOT_TEXT),
        # a blank message
        ("message", '{zh-CN: "  ", en: "Held."}', "zh-CN", rules_lint.EMPTY_TEXT),
        # braces the renderer does not fill are shown to the customer as they are
        (
            "message",
            '{zh-CN: "暂缓。", en: "Held { amount }."}',
            "en",
            rules_lint.UNFILLED_PLACEHOLDER,
        ),
        ("message", '{zh-CN: "暂缓{0}。", en: "Held."}', "zh-CN", rules_lint.UNFILLED_PLACEHOLDER),
        (
            "message",
            '{zh-CN: "暂缓。", en: "Held {amount!r}."}',
            "en",
            rules_lint.UNFILLED_PLACEHOLDER,
        ),
        (
            "message",
            '{zh-CN: "暂缓｛amount｝。", en: "Held."}',
            "zh-CN",
            rules_lint.UNFILLED_PLACEHOLDER,
        ),
        (
            "explanation",
            '{zh-CN: "核实。", en: "We check { amount }."}',
            "en",
            rules_lint.UNFILLED_PLACEHOLDER,
        ),
    ],
)
def test_texts_a_customer_would_read_wrongly_are_found(
    key: str, texts: str, field: str, code: str
) -> None:
    text = ruleset_text(**{key: texts})
    findings = lint(text)
    assert code in {f.code for f in findings if f.field == f"rules[1].{key}.{field}"}, findings
    assert all(f.rule_id == "house-hold" for f in findings)


def test_a_huge_text_is_found_and_a_long_sentence_is_not() -> None:
    huge = lint(ruleset_text(explanation='{zh-CN: "' + "很" * 5000 + '。", en: "We check."}'))
    assert [(f.field, f.code) for f in huge] == [
        ("rules[1].explanation.zh-CN", rules_lint.TOO_LONG)
    ]
    longest_shipped = max(len(t) for texts in REASON_TEXT.values() for t in texts.values())
    fine = "很" * (longest_shipped * 3)
    assert lint(ruleset_text(explanation='{zh-CN: "' + fine + '。", en: "We check."}')) == []


@pytest.mark.parametrize("endpoint", ["/v1/rulesets", "/v1/rulesets/validate"])
def test_upload_refuses_a_nested_message_and_a_hidden_id(app_client: Api, endpoint: str) -> None:
    """Both compiled and were accepted: the customer would have read "{'a': 1}" and "R30"."""
    for message in ('{zh-CN: {a: 1}, en: "Held."}', '{zh-CN: "暂缓。", en: "Held, Ｒ３０."}'):
        response = app_client.client.post(
            endpoint,
            json={"source": ruleset_text(message=message), "file": "house.yaml"},
            headers=app_client.admin,
        )
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert [e["field"] for e in response.json()["errors"]][0].startswith("rules[1].message.")
    listing = app_client.client.get("/v1/rulesets", headers=app_client.admin).json()
    assert len(listing["rulesets"]) == 1  # nothing stored


@pytest.mark.parametrize(
    "source",
    [
        ruleset_text().replace("name: house", 'name: "house\\ud800"'),
        ruleset_text(message='{zh-CN: "暂缓\\ud800。", en: "Held."}'),
        ruleset_text(explanation='{zh-CN: "核实\\udfff。", en: "We check."}'),
    ],
    ids=["name", "message", "explanation"],
)
@pytest.mark.parametrize("endpoint", ["/v1/rulesets", "/v1/rulesets/validate"])
def test_a_yaml_escape_that_is_no_character_is_refused(
    app_client: Api, endpoint: str, source: str
) -> None:
    """YAML's "\\ud800" escape is half a UTF-16 pair, not a character: validate said valid and
    the upload failed with a 500 (UnicodeEncodeError storing the version)."""
    response = app_client.client.post(
        endpoint, json={"source": source, "file": "house.yaml"}, headers=app_client.admin
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    (error,) = response.json()["errors"]
    assert error["field"].startswith("house.yaml:")
    assert "not a character" in error["message"]
    listing = app_client.client.get("/v1/rulesets", headers=app_client.admin).json()
    assert len(listing["rulesets"]) == 1  # nothing stored


def test_the_explanation_is_checked_too() -> None:
    bad = '{zh-CN: "见R33，参数 big_limit 仍是 placeholder。", en: "fine text."}'
    findings = lint(ruleset_text(explanation=bad))
    assert {f.field for f in findings} == {"rules[1].explanation.zh-CN"}
    assert {f.code for f in findings} == {REQUIREMENT_ID, SNAKE_CASE_NAME, PLACEHOLDER_WORD}


def test_amounts_placeholders_and_currency_codes_are_fine_in_chinese() -> None:
    assert (
        text_problems("您正向新的收款方转出 {amount} 元（CNY 5,000.00），风险分 {score}。", "zh-CN")
        == []
    )
    assert text_problems("{minutes_since_disbursement} 分钟内", "zh-CN") == []


def test_the_loader_refuses_a_malformed_explanation() -> None:
    with pytest.raises(RuleSetError) as refused:
        parse_ruleset(ruleset_text(explanation='{zh-CN: "只有中文。"}'), file="house.yaml")
    assert "explanation needs a 'en' text" in str(refused.value)
    with pytest.raises(RuleSetError) as refused:
        parse_ruleset(
            ruleset_text(explanation='{zh-CN: "金额 {amount}。", en: "x"}'), file="house.yaml"
        )
    assert "no {placeholders}" in str(refused.value)


# -- the command ---------------------------------------------------------------------------------


def test_cli_lint_shipped_sets_passes() -> None:
    result = CliRunner().invoke(cli, ["rules", "lint", "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["findings"] == []
    assert body["problems"] == []
    assert any(name.endswith("default.yaml") for name in body["files"])


def test_cli_lint_a_bad_file_exits_1_with_positions(tmp_path: Path) -> None:
    path = tmp_path / "house.yaml"
    path.write_text(ruleset_text(explanation=None), encoding="utf-8")
    result = CliRunner().invoke(cli, ["rules", "lint", str(path), "--json"])
    assert result.exit_code == 1
    (finding,) = json.loads(result.stdout)["findings"]
    assert finding["field"] == "rules[1].reason"
    assert (finding["line"], finding["rule_id"], finding["code"]) == (
        15,
        "house-hold",
        MISSING_EXPLANATION,
    )
    plain = CliRunner().invoke(cli, ["rules", "lint", str(path)])
    assert plain.exit_code == 1
    assert f"{path}:15:13: rule 'house-hold' rules[1].reason" in plain.stderr


def test_cli_lint_reports_a_file_that_does_not_compile(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(ruleset_text().replace("action: intercept", "action: obliterate"), "utf-8")
    result = CliRunner().invoke(cli, ["rules", "lint", str(path)])
    assert result.exit_code == 1
    assert "action must be one of" in result.stderr


@pytest.mark.parametrize("as_json", [False, True])
def test_cli_lint_reports_a_file_that_is_not_utf8(tmp_path: Path, as_json: bool) -> None:
    """A rule set saved as UTF-16 or GBK was a UnicodeDecodeError traceback."""
    path = tmp_path / "gbk.yaml"
    path.write_bytes(ruleset_text().encode("utf-16"))
    result = CliRunner().invoke(cli, ["rules", "lint", str(path), *(["--json"] if as_json else [])])
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    output = json.loads(result.stdout)["problems"][0] if as_json else result.stderr
    assert f"{path}: not UTF-8 text" in output


# -- the API -------------------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", ["/v1/rulesets", "/v1/rulesets/validate"])
def test_upload_and_validate_refuse_findings_with_positions(app_client: Api, endpoint: str) -> None:
    bad = ruleset_text(
        message='{zh-CN: "按R30要求暂缓。", en: "This payment is on hold."}', explanation=None
    )
    response = app_client.client.post(
        endpoint, json={"source": bad, "file": "house.yaml"}, headers=app_client.admin
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    errors = response.json()["errors"]
    assert [e["field"] for e in errors] == ["rules[1].reason", "rules[1].message.zh-CN"]
    assert errors[0]["message"].startswith("house.yaml:15:13: rule 'house-hold'")
    assert "(MISSING_EXPLANATION)" in errors[0]["message"]
    assert errors[1]["message"].startswith("house.yaml:18:22: rule 'house-hold'")
    assert "R30" in errors[1]["message"]
    listing = app_client.client.get("/v1/rulesets", headers=app_client.admin).json()
    assert len(listing["rulesets"]) == 1  # nothing stored
    good = app_client.client.post(
        endpoint, json={"source": ruleset_text()}, headers=app_client.admin
    )
    assert good.status_code in (200, 201), good.text
