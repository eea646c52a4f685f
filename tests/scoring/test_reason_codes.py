"""Model reason codes (issue #22): every model feature has a stable code and a text in zh-CN and
en that a customer can read; categories are shown by name, never by the number the model sees;
reasons stored before the codes are read in today's form; the explanation lists them."""

from __future__ import annotations

from typing import Any

import lightgbm as lgb
import numpy as np
import pytest

from lendguard.decisions.explain import MODEL_INTRO, explain
from lendguard.decisions.rules.lint import text_problems
from lendguard.decisions.schemas import ModelReason
from lendguard.decisions.scoring import events as scoring_events
from lendguard.decisions.scoring.events import MODEL_FEATURES
from lendguard.decisions.scoring.explain import explain_contributions
from lendguard.decisions.scoring.model import Calibration, ScoringModel
from lendguard.decisions.scoring.reason_codes import (
    CODE_PATTERN,
    ENCODINGS,
    LOCALES,
    ReasonCodeError,
    current,
    load_catalogue,
    model_reason,
    parse_catalogue,
)
from lendguard.events.schemas import EventType

SIGN_IN = {"zh-CN": "登录", "en": "sign-in"}
TRANSFER = float(list(EventType).index(EventType.transfer))


# -- the catalogue -------------------------------------------------------------------------------


def test_every_model_feature_has_a_code_and_both_texts() -> None:
    catalogue = load_catalogue()
    missing = [name for name in MODEL_FEATURES if name not in catalogue.features]
    assert not missing, f"model features without a reason code in reason_codes.yaml: {missing}"
    for name in MODEL_FEATURES:
        reason = catalogue.features[name]
        assert CODE_PATTERN.match(reason.code)
        for loc in LOCALES:
            assert reason.label[loc], (name, loc)


def test_codes_are_unique() -> None:
    catalogue = load_catalogue()
    codes = [r.code for r in catalogue.features.values()] + [catalogue.fallback.code]
    assert len(codes) == len(set(codes))


@pytest.mark.parametrize("loc", LOCALES)
def test_texts_are_for_people(loc: str) -> None:
    """No internal names, ids or Latin words in Chinese: the customer-text lint's checks, on
    every label, every category name and a rendered text of every feature."""
    catalogue = load_catalogue()
    texts = [catalogue.fallback.label[loc]]
    for name, reason in catalogue.features.items():
        texts += [reason.label[loc], reason.text(1.0, loc), reason.text(None, loc)]
        texts += [names[loc] for names in (reason.names or {}).values()]
        assert name not in reason.text(1.0, loc)
    for text in texts:
        assert text_problems(text, loc) == [], text


def test_event_types_are_named_in_the_models_encoding() -> None:
    """The names follow the row's encoding of ``type`` exactly, every event type named."""
    assert ENCODINGS["event_type"] == {
        code: name for name, code in scoring_events._TYPE_CODE.items()
    }
    names = load_catalogue().features["type"].names
    assert names is not None
    assert set(names) == set(ENCODINGS["event_type"])


# -- values as people read them ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("feature", "value", "zh", "en"),
    [
        ("type", TRANSFER, "操作类型：转账", "Kind of action: transfer"),
        ("type", 99.0, "操作类型：其他", "Kind of action: other"),
        ("is_new_payee", 1.0, "首次向该收款方付款：是", "First payment to this payee: yes"),
        ("screen_share_active", 0.0, "操作时正在屏幕共享：否", "Screen sharing was on: no"),
        ("amount", 12000.5, "本次金额：12,000.50", "Amount of this action: 12,000.50"),
        ("local_hour", 2.0, "操作时间：2 点", "Time of day: 02:00"),
        (
            "minutes_since_disbursement",
            35.0,
            "距上次放款：35 分钟",
            "Time since the last loan payout: 35 minutes",
        ),
        (
            "minutes_since_disbursement",
            180.0,
            "距上次放款：3 小时",
            "Time since the last loan payout: 3 hours",
        ),
        (
            "minutes_since_disbursement",
            2880.0,
            "距上次放款：2 天",
            "Time since the last loan payout: 2 days",
        ),
        (
            "minutes_since_phone_change",
            None,
            "距更换手机号码：无记录",
            "Time since the phone number changed: none on record",
        ),
        ("account_age_days", 1.0, "开户时长：1 天", "Time since the account was opened: 1 day"),
        (
            "disbursement_outflow_share",
            0.83,
            "上次放款在两小时内被转出的比例：83%",
            "Share of the last loan payout sent on within two hours: 83%",
        ),
        (
            "amount_to_lifetime_max",
            3.5,
            "本次金额与以往最大单笔转出之比：3.5 倍",
            "Amount compared with the largest earlier payment out: 3.5 times",
        ),
        ("customer_age", 67.0, "客户年龄：67 岁", "Customer's age: 67"),
        (
            "payee_distinct_payer_24h",
            12.0,
            "近 24 小时向该收款方付款的客户数：12",
            "Customers paying this payee in the last 24 hours: 12",
        ),
        ("customer_age", float("nan"), "客户年龄：未知", "Customer's age: unknown"),
    ],
)
def test_values_as_people_read_them(feature: str, value: float | None, zh: str, en: str) -> None:
    reason = model_reason(feature, value, 0.1)
    assert reason["texts"] == {"zh-CN": zh, "en": en}
    assert reason["text"] == en
    assert reason["code"] == load_catalogue().features[feature].code


def test_an_unknown_feature_gets_the_fallback_never_its_name() -> None:
    reason = model_reason("some_future_feature", 3.0, 0.2)
    assert reason["code"] == "MODEL_OTHER_PATTERN"
    assert all("some_future_feature" not in text for text in reason["texts"].values())


# -- malformed catalogues ------------------------------------------------------------------------


def _raw() -> dict[str, Any]:
    return {
        "fallback": {"code": "MODEL_OTHER", "label": {"zh-CN": "其他", "en": "other"}},
        "features": {
            "amount": {
                "code": "MODEL_AMOUNT",
                "kind": "money",
                "label": {"zh-CN": "金额", "en": "amount"},
            }
        },
    }


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (lambda r: r["features"]["amount"].update(code="amount"), "features.amount.code"),
        (lambda r: r["features"]["amount"].update(kind="colour"), "features.amount.kind"),
        (lambda r: r["features"]["amount"]["label"].pop("zh-CN"), "features.amount.zh-CN"),
        (lambda r: r["features"]["amount"]["label"].update(en="  "), "features.amount.en"),
        (lambda r: r["features"]["amount"].update(code="MODEL_OTHER"), "already used"),
        (lambda r: r["features"]["amount"].update(kind="category", values="x"), ".values"),
        (
            lambda r: r.update(categories={"event_type": {"login": SIGN_IN}}),
            "event_type.registration",
        ),
        (lambda r: r.pop("fallback"), "fallback"),
    ],
)
def test_malformed_catalogue_is_refused(change: Any, where: str) -> None:
    raw = _raw()
    assert parse_catalogue(raw).features["amount"].code == "MODEL_AMOUNT"
    change(raw)
    with pytest.raises(ReasonCodeError, match=where.replace(".", r"\.")):
        parse_catalogue(raw)


# -- reasons stored before the codes ---------------------------------------------------------------


def test_a_reason_stored_before_the_codes_is_read_in_todays_form() -> None:
    legacy = {"feature": "type", "text": "event type: 8.0", "value": TRANSFER, "contribution": 0.4}
    upgraded = current(legacy)
    assert upgraded["code"] == "MODEL_EVENT_TYPE"
    assert upgraded["texts"] == {"zh-CN": "操作类型：转账", "en": "Kind of action: transfer"}
    shown = ModelReason.model_validate(legacy)
    assert shown.code == "MODEL_EVENT_TYPE"
    assert shown.text == "Kind of action: transfer"
    assert shown.contribution == 0.4
    fresh = model_reason("amount", 10.0, 0.1)
    assert current(fresh) == fresh


# -- a trained model's reasons -------------------------------------------------------------------


def type_model() -> ScoringModel:
    """A small LightGBM model where a transfer of a large amount is risky."""
    rng = np.random.default_rng(5)
    n = 2000
    rows = np.full((n, len(MODEL_FEATURES)), np.nan)
    types = rng.integers(0, len(EventType), n).astype(float)
    amounts = rng.uniform(0, 10_000, n)
    rows[:, MODEL_FEATURES.index("type")] = types
    rows[:, MODEL_FEATURES.index("amount")] = amounts
    labels = ((types == TRANSFER) & (amounts > 5_000)).astype(float)
    params = {"objective": "binary", "num_leaves": 4, "min_data_in_leaf": 5, "verbose": -1}
    booster = lgb.train(params, lgb.Dataset(rows, labels), num_boost_round=20)
    return ScoringModel(booster, Calibration.platt(1.0, 0.0), {"features": list(MODEL_FEATURES)})


def test_a_trained_models_reasons_carry_codes_and_decoded_categories() -> None:
    model = type_model()
    row = np.full(len(MODEL_FEATURES), np.nan)
    row[MODEL_FEATURES.index("type")] = TRANSFER
    row[MODEL_FEATURES.index("amount")] = 8_000.0
    reasons = explain_contributions(model, row)
    assert {r["code"] for r in reasons} == {"MODEL_EVENT_TYPE", "MODEL_AMOUNT"}
    for reason in reasons:
        assert set(reason) == {"feature", "code", "text", "texts", "value", "contribution"}
        ModelReason.model_validate(reason)
    by_code = {r["code"]: r for r in reasons}
    assert by_code["MODEL_EVENT_TYPE"]["texts"] == {
        "zh-CN": "操作类型：转账",
        "en": "Kind of action: transfer",
    }
    assert by_code["MODEL_EVENT_TYPE"]["value"] == TRANSFER
    assert all("8.0" not in t for r in reasons for t in r["texts"].values())


# -- the plain-language explanation --------------------------------------------------------------


def decision_with_model_reasons(model_reasons: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "decision_id": "dec_1",
        "action": "remind",
        "reasons": [],
        "measures": [],
        "guardrails": [],
        "ruleset_version": 1,
        "model_version": "1",
        "model_reasons": model_reasons,
    }


@pytest.mark.parametrize("loc", LOCALES)
def test_the_explanation_lists_model_reasons_in_both_languages(loc: str) -> None:
    decision = decision_with_model_reasons(
        [
            model_reason("type", TRANSFER, 0.5),
            # stored before the codes
            {
                "feature": "is_new_payee",
                "text": "first outflow: 1.0",
                "value": 1.0,
                "contribution": 0.2,
            },
        ]
    )
    words = explain(decision, loc)
    assert words["reasons"] == [
        {"code": "MODEL_EVENT_TYPE", "text": model_reason("type", TRANSFER, 0)["texts"][loc]},
        {"code": "MODEL_NEW_PAYEE", "text": model_reason("is_new_payee", 1.0, 0)["texts"][loc]},
    ]
    text = words["text"]
    assert MODEL_INTRO[loc] in text
    if loc == "zh-CN":
        assert "操作类型（转账）；首次向该收款方付款（是）。" in text
    else:
        assert "kind of action (transfer); first payment to this payee (yes)." in text
    assert "8.0" not in text
    assert "is_new_payee" not in text
    assert text_problems(text, loc) == []


def test_no_model_reasons_no_model_sentence() -> None:
    for loc in LOCALES:
        words = explain(decision_with_model_reasons([]), loc)
        assert MODEL_INTRO[loc] not in words["text"]
        assert words["reasons"] == []
