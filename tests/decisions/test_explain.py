"""The borrower's explanation (PIPL Art. 24): what the endpoint says for the three themes of
issue #15 (a scam cue, over-indebtedness, a ring member), and the rules behind it: a sentence for
every code, meta-reasons left out, headlines that fit the measure, no doubled punctuation, a
rule's own sentence from the version that decided, never an internal description."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest

from fixtures import MISSING, T0, Api, default_ruleset, make_event, reason_codes
from lendguard.decisions.engine import GENERIC_MESSAGES
from lendguard.decisions.explain import (
    ACTION_TEXT,
    BORROWING_HEADLINE,
    GENERIC_REASON_TEXT,
    GUARDRAIL_TEXT,
    MEASURE_TEXT,
    META_REASONS,
    REASON_TEXT,
    explain,
)
from lendguard.decisions.rules.lint import text_problems
from lendguard.decisions.rules.loader import Measure, parse_ruleset

LATIN = re.compile(r"[A-Za-z]")
DOUBLED = re.compile(r"[。；，、：][。；，、：]")


def explanation(api: Api, decision: dict[str, Any], locale: str = "zh-CN") -> dict[str, Any]:
    response = api.client.get(
        f"/v1/decisions/{decision['decision_id']}/explanation",
        params={"locale": locale},
        headers=api.admin,
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def assert_readable_chinese(text: str) -> None:
    """What issue #15 found in the text a borrower read: none of it is left."""
    assert not LATIN.search(text), text
    assert not re.search(r"R\d+", text), text
    assert "_" not in text, text
    assert "placeholder" not in text.lower(), text
    assert not DOUBLED.search(text), text
    assert "。；" not in text


# -- the three themes, over HTTP ----------------------------------------------------------------


def scam_cue_decision(api: Api) -> dict[str, Any]:
    customer = "cue-1"
    api.decide(
        make_event(
            customer_id=customer,
            occurred_at=T0 - timedelta(days=20),
            payee_id="landlord",
            amount="3000",
        )
    )
    api.decide(
        make_event(
            type="contact",
            customer_id=customer,
            occurred_at=T0,
            amount=None,
            currency=None,
            payee_id=None,
            attributes={"conversation_cues": ["scam_victim"]},
        )
    )
    decision = api.decide(
        make_event(
            customer_id=customer,
            occurred_at=T0 + timedelta(minutes=5),
            amount="800",
            payee_id="new-payee-1",
        )
    )
    assert "SCAM_CUE_IN_CONVERSATION" in reason_codes(decision)
    return decision


def over_indebted_decision(api: Api) -> dict[str, Any]:
    decision = api.decide(
        make_event(
            type="application",
            customer_id="stretched-1",
            amount="5000",
            payee_id=MISSING,
            customer={
                "credit": {
                    "missed_payment_months": ["2025-02", "2024-12", "2024-10"],
                    "active_lenders": 5,
                }
            },
        )
    )
    assert {"OVER_INDEBTED", "MULTI_LENDER"} <= reason_codes(decision)
    assert "CREDIT_FREEZE" in decision["measures"]
    return decision


def ring_member_decision(api: Api) -> dict[str, Any]:
    def gang(n: int, kind: str, minutes: float, **extra: Any) -> dict[str, Any]:
        return make_event(
            type=kind,
            customer_id=f"gang-{n}",
            occurred_at=T0 + timedelta(minutes=minutes),
            device_id="gang-phone-1",
            phone="+86-139-0000-0001",
            ip="192.168.9.1",
            payee_id=None,
            **extra,
        )

    created = (T0 - timedelta(days=1)).isoformat()
    for n in range(5):
        api.decide(
            gang(n, "registration", n, amount=None, currency=None, customer={"created_at": created})
        )
    decision = api.decide(gang(5, "application", 10, amount="5000.00"))
    assert "RING_MEMBER" in reason_codes(decision)
    return decision


class TestTheThreeThemes:
    def test_scam_cue(self, app_client: Api) -> None:
        decision = scam_cue_decision(app_client)
        body = explanation(app_client, decision)
        text = body["text"]
        assert_readable_chinese(text)
        assert text.startswith(ACTION_TEXT[decision["action"]]["zh-CN"])
        assert REASON_TEXT["SCAM_CUE_IN_CONVERSATION"]["zh-CN"] in text
        # the rule's internal description (the assistant, the parameter) never reaches the text
        assert "scam_cue_hours" not in text
        assert "assistant" not in text
        assert "回电" in text
        english = explanation(app_client, decision, "en")["text"]
        assert REASON_TEXT["SCAM_CUE_IN_CONVERSATION"]["en"] in english
        assert not text_problems(english, "en")

    def test_over_indebted_gets_a_borrowing_headline(self, app_client: Api) -> None:
        decision = over_indebted_decision(app_client)
        body = explanation(app_client, decision)
        text = body["text"]
        assert_readable_chinese(text)
        assert text.startswith(BORROWING_HEADLINE["help"]["zh-CN"])
        assert ACTION_TEXT[decision["action"]]["zh-CN"] not in text  # not the scam headline
        for code in ("OVER_INDEBTED", "MULTI_LENDER"):
            assert REASON_TEXT[code]["zh-CN"] in text
        assert "帮扶" in text
        assert MEASURE_TEXT["CREDIT_FREEZE"]["zh-CN"] in text
        english = explanation(app_client, decision, "en")["text"]
        assert english.startswith(BORROWING_HEADLINE["help"]["en"])
        assert "R30" not in english
        assert "placeholder" not in english

    def test_ring_member(self, app_client: Api) -> None:
        decision = ring_member_decision(app_client)
        body = explanation(app_client, decision)
        text = body["text"]
        assert_readable_chinese(text)
        assert text.startswith(ACTION_TEXT[decision["action"]]["zh-CN"])
        assert REASON_TEXT["RING_MEMBER"]["zh-CN"] in text
        listed = [r["code"] for r in body["reasons"]]
        assert not set(listed) & META_REASONS
        assert "black industry" not in text


# -- the rules of the text, on the pure function -----------------------------------------------


def stored(
    reasons: list[dict[str, Any]],
    action: str = "intercept",
    measures: list[str] | None = None,
    guardrails: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    return {
        "decision_id": "dec_1",
        "action": action,
        "reasons": reasons,
        "measures": measures or [],
        "guardrails": guardrails or [],
        "ruleset_version": 1,
        "model_version": None,
    }


def reason(
    code: str,
    category: str = "fraud",
    action: str = "allow",
    values: dict[str, Any] | None = None,
    rule_id: str | None = "r",
    description: str = "internal: R33 placeholder scam_cue_hours",
) -> dict[str, Any]:
    return {
        "code": code,
        "category": category,
        "rule_id": rule_id,
        "action": action,
        "weight": 10,
        "description": description,
        "values": values or {"amount": 1.0},
    }


def test_every_code_the_shipped_rules_and_the_engine_raise_has_both_sentences() -> None:
    """50 rule codes (21 of them fell back to internal descriptions before) and the lists'."""
    codes = {rule.reason for rule in default_ruleset().rules}
    codes |= {"DENY_LISTED", "ALLOW_LISTED"} | set(GENERIC_MESSAGES)
    assert len(codes) >= 50
    for code in sorted(codes):
        for locale in ("zh-CN", "en"):
            sentence = REASON_TEXT[code][locale]
            assert not text_problems(sentence, locale), (code, locale)
    for table in (ACTION_TEXT, GUARDRAIL_TEXT, MEASURE_TEXT, GENERIC_REASON_TEXT):
        for texts in table.values():
            assert not text_problems(texts["zh-CN"], "zh-CN")
    assert set(Measure) <= set(MEASURE_TEXT)


def test_meta_reasons_are_not_listed() -> None:
    decision = stored(
        [
            reason("VERY_HIGH_COMBINED_RISK", action="intercept", values={"score": 85}),
            reason(
                "CUSTOM_ESCALATION",
                action="intercept",
                values={"score": 85, "my_threshold": 70},
            ),
            reason("SCREEN_SHARING", action="dissuade"),
        ]
    )
    body = explain(decision, "zh-CN")
    assert [r["code"] for r in body["reasons"]] == ["SCREEN_SHARING"]
    assert REASON_TEXT["VERY_HIGH_COMBINED_RISK"]["zh-CN"] not in body["text"]


def test_only_meta_reasons_still_say_why_in_plain_words() -> None:
    body = explain(stored([reason("HIGH_COMBINED_RISK", values={"score": 70})], "dissuade"), "en")
    assert body["reasons"] == []
    assert GENERIC_REASON_TEXT["dissuade"]["en"] in body["text"]


def test_zh_sentences_are_joined_without_doubled_punctuation() -> None:
    decision = stored(
        [reason("NEW_PAYEE"), reason("SCREEN_SHARING", action="dissuade"), reason("CALL_ACTIVE")],
        "dissuade",
        ["DELAY", "VERIFY"],
        [{"code": "VULNERABLE_HUMAN_CALLBACK", "detail": "x"}],
    )
    text = explain(decision, "zh-CN")["text"]
    assert_readable_chinese(text)
    assert "。；" not in text
    assert "；原因" not in text
    assert REASON_TEXT["NEW_PAYEE"]["zh-CN"] + REASON_TEXT["SCREEN_SHARING"]["zh-CN"] in text
    english = explain(decision, "en")["text"]
    assert ".." not in english
    assert ". ." not in english


def test_a_next_step_several_reasons_share_is_said_once() -> None:
    """NEW_PAYEE, STUDENT_CUSTOMER and BALANCE_DRAIN all end in the same next step; the
    borrower reads it once, while each reason keeps its whole sentence in ``reasons``."""
    codes = ["NEW_PAYEE", "STUDENT_CUSTOMER", "BALANCE_DRAIN"]
    decision = stored([reason(c, action="dissuade") for c in codes], "dissuade", ["VERIFY"])
    for loc in ("zh-CN", "en"):
        body = explain(decision, loc)
        splitter = r"(?<=[。！？])" if loc == "zh-CN" else r"(?<=[.!?])\s+"
        said = [s.strip() for s in re.split(splitter, body["text"]) if s.strip()]
        assert len(said) == len(set(said)), [s for s in said if said.count(s) > 1]
        for code, item in zip(codes, body["reasons"], strict=True):
            assert item == {"code": code, "text": REASON_TEXT[code][loc]}
        # what each reason saw is still there
        for code in codes:
            assert re.split(splitter, REASON_TEXT[code][loc])[0].strip() in body["text"]


def test_an_unknown_code_never_shows_its_internal_description() -> None:
    body = explain(stored([reason("HOUSE_RULE_7", action="intercept")]), "zh-CN")
    assert body["reasons"] == [
        {"code": "HOUSE_RULE_7", "text": GENERIC_REASON_TEXT["intercept"]["zh-CN"]}
    ]
    assert "internal" not in body["text"]
    assert "R33" not in body["text"]


@pytest.mark.parametrize(
    ("code", "category", "measures", "headline"),
    [
        ("OVER_INDEBTED", "wellbeing", ["CREDIT_FREEZE", "HARDSHIP_PLAN_OFFERED"], "help"),
        ("FINANCIAL_DIFFICULTY", "wellbeing", ["CREDIT_FREEZE"], "pause"),
        ("SUITABILITY_MISMATCH", "compliance", ["VERIFY"], "check"),
        ("AFFORDABILITY_MISSING", "compliance", ["VERIFY"], "check"),
    ],
)
def test_a_responsible_lending_pause_is_not_a_scam_headline(
    code: str, category: str, measures: list[str], headline: str
) -> None:
    decision = stored([reason(code, category, "dissuade")], "dissuade", measures)
    for locale in ("zh-CN", "en"):
        text = explain(decision, locale)["text"]
        assert text.startswith(BORROWING_HEADLINE[headline][locale])
        assert ACTION_TEXT["dissuade"][locale] not in text


def test_a_fraud_hold_beside_a_credit_freeze_keeps_the_hold_headline() -> None:
    decision = stored(
        [
            reason("RING_MEMBER", "fraud", "intercept"),
            reason("OVER_INDEBTED", "wellbeing", "dissuade"),
        ],
        "intercept",
        ["DELAY", "CREDIT_FREEZE"],
    )
    assert explain(decision, "zh-CN")["text"].startswith(ACTION_TEXT["intercept"]["zh-CN"])


CUSTOM = """\
name: house
rules:
  - id: house-hold
    category: fraud
    when: is_outflow and amount >= 1
    action: intercept
    reason: HOUSE_HOLD
    weight: 50
    measures: [DELAY]
    message: {zh-CN: "这笔付款已暂缓。", en: "This payment is on hold."}
    explanation:
      zh-CN: "这笔付款触发了本机构的额外核实；核实可以防止资金被骗走。请按提示完成核实。"
      en: "This payment needs our extra check; it keeps your money safe. Confirm when asked."
"""


def test_a_rules_own_sentence_comes_from_the_version_that_decided(app_client: Api) -> None:
    created = app_client.client.post(
        "/v1/rulesets", json={"source": CUSTOM}, headers=app_client.admin
    )
    assert created.status_code == 201, created.text
    version = created.json()["version"]
    activated = app_client.client.post(
        f"/v1/rulesets/{version}/activate", headers=app_client.approver
    )
    assert activated.status_code == 200, activated.text
    decision = app_client.decide(make_event(amount="5"))
    assert reason_codes(decision) == {"HOUSE_HOLD"}
    sentence = parse_ruleset(CUSTOM).rules[0].explanation
    assert explanation(app_client, decision)["reasons"] == [
        {"code": "HOUSE_HOLD", "text": sentence["zh-CN"]}
    ]
    # the version is no longer live: its sentence is still the one explained
    app_client.client.post("/v1/rulesets/1/activate", headers=app_client.approver)
    assert app_client.services.decisions.ruleset_version == 1
    assert sentence["en"] in explanation(app_client, decision, "en")["text"]

    # the customer's own explain request (PIPL Art. 24 through the privacy desk) reads the
    # same sentence from the same version
    created = app_client.client.post(
        "/v1/privacy/requests",
        json={
            "customer_id": decision["customer_id"],
            "kind": "explain",
            "details": {"decision_id": decision["decision_id"], "locale": "zh-CN"},
        },
        headers=app_client.admin,
    )
    assert created.status_code == 201, created.text
    request_id = created.json()["id"]
    app_client.client.post(
        f"/v1/privacy/requests/{request_id}/verify",
        json={"method": "sms_code"},
        headers=app_client.admin,
    )
    fulfilled = app_client.client.post(
        f"/v1/privacy/requests/{request_id}/fulfil", headers=app_client.admin
    )
    assert fulfilled.status_code == 200, fulfilled.text
    assert fulfilled.json()["result"]["explanation"]["reasons"] == [
        {"code": "HOUSE_HOLD", "text": sentence["zh-CN"]}
    ]
