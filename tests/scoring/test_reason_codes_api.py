"""Model reason codes over HTTP (issue #22): a decision scored by a live model carries each top
reason's stable code and its text in zh-CN and en, the event type by name (never "8.0"), in the
decision, when read back, and in the plain-language explanation in both languages."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import update

# The same small model as the unit tests beside this file.
from test_reason_codes import TRANSFER, type_model

from fixtures import Api, make_event
from lendguard.decisions.explain import MODEL_INTRO
from lendguard.decisions.rules.lint import text_problems
from lendguard.decisions.scoring.events import MODEL_FEATURES
from lendguard.models.decision import DecisionRecord

# Every scored event goes to remind or more, so the model's reasons are attached.
MODEL_REMIND_RULES = """\
name: model-remind
rules:
  - id: model-any
    category: fraud
    when: model_score >= 0
    action: remind
    reason: MODEL_ANY
    weight: 10
    message:
      zh-CN: "请留意"
      en: "Please take care"
    explanation: {zh-CN: "请留意本次操作。", en: "Please take care with this action."}
"""

TYPE_TEXTS = {"zh-CN": "操作类型：转账", "en": "Kind of action: transfer"}
TYPE_PHRASE = {"zh-CN": "操作类型（转账）", "en": "kind of action (transfer)"}


@pytest.fixture(scope="module")
def upload() -> dict[str, Any]:
    booster, calibration, card = type_model().parts()
    return {"booster": booster, "calibration": calibration, "card": card}


def live(api: Api, upload: dict[str, Any]) -> None:
    """The model registered, approved by a second person, and a rule set that reminds."""
    registered = api.client.post("/v1/models", json=upload, headers=api.admin)
    assert registered.status_code == 201, registered.text
    version = registered.json()["version"]
    activated = api.client.post(f"/v1/models/{version}/activate", headers=api.approver)
    assert activated.status_code == 200, activated.text
    created = api.client.post(
        "/v1/rulesets", json={"source": MODEL_REMIND_RULES}, headers=api.admin
    )
    assert created.status_code == 201, created.text
    ruleset = created.json()["version"]
    on = api.client.post(f"/v1/rulesets/{ruleset}/activate", headers=api.approver)
    assert on.status_code == 200, on.text


def assert_coded(reasons: list[dict[str, Any]]) -> None:
    assert reasons
    for reason in reasons:
        assert set(reason) == {"feature", "code", "text", "texts", "value", "contribution"}
        assert reason["feature"] in MODEL_FEATURES
        assert reason["code"].startswith("MODEL_")
        assert set(reason["texts"]) == {"zh-CN", "en"}
        assert reason["text"] == reason["texts"]["en"]
        for loc, text in reason["texts"].items():
            assert text_problems(text, loc) == []
            assert "8.0" not in text


def test_decisions_and_explanations_carry_codes_and_the_event_type_by_name(
    app_client: Api, upload: dict[str, Any]
) -> None:
    live(app_client, upload)
    decision = app_client.decide(make_event(amount="8000.00"))
    assert decision["action"] == "remind"
    reasons = decision["model_reasons"]
    assert_coded(reasons)
    by_code = {r["code"]: r for r in reasons}
    assert by_code["MODEL_EVENT_TYPE"]["texts"] == TYPE_TEXTS
    assert by_code["MODEL_EVENT_TYPE"]["value"] == TRANSFER
    assert by_code["MODEL_AMOUNT"]["texts"] == {
        "zh-CN": "本次金额：8,000.00",
        "en": "Amount of this action: 8,000.00",
    }
    stored = app_client.client.get(
        f"/v1/decisions/{decision['decision_id']}", headers=app_client.admin
    )
    assert stored.status_code == 200, stored.text
    assert stored.json()["model_reasons"] == reasons

    for loc in ("zh-CN", "en"):
        response = app_client.client.get(
            f"/v1/decisions/{decision['decision_id']}/explanation",
            params={"locale": loc},
            headers=app_client.admin,
        )
        assert response.status_code == 200, response.text
        explanation = response.json()
        listed = {r["code"]: r["text"] for r in explanation["reasons"]}
        assert "MODEL_ANY" in listed
        for reason in reasons:
            assert listed[reason["code"]] == reason["texts"][loc]
        text = explanation["text"]
        assert MODEL_INTRO[loc] in text
        assert TYPE_PHRASE[loc] in text
        assert "8.0" not in text
        assert text_problems(text, loc) == []

    # A decision logged before the codes (a feature description with the raw number) reads
    # back with its code and texts, in the decision and in the explanation.
    decision = app_client.decide(make_event(amount="9000.00", customer_id="cust-old"))
    assert_coded(decision["model_reasons"])
    legacy = [{"feature": "type", "text": "event type: 8.0", "value": TRANSFER, "contribution": 1}]
    with app_client.services.decisions.db.begin() as conn:
        conn.execute(
            update(DecisionRecord)
            .where(DecisionRecord.decision_id == decision["decision_id"])
            .values(model_reasons=legacy)
        )
    stored = app_client.client.get(
        f"/v1/decisions/{decision['decision_id']}", headers=app_client.admin
    ).json()
    assert stored["model_reasons"] == [
        {
            "feature": "type",
            "code": "MODEL_EVENT_TYPE",
            "text": TYPE_TEXTS["en"],
            "texts": TYPE_TEXTS,
            "value": TRANSFER,
            "contribution": 1.0,
        }
    ]
    explanation = app_client.client.get(
        f"/v1/decisions/{decision['decision_id']}/explanation",
        params={"locale": "zh-CN"},
        headers=app_client.admin,
    ).json()
    assert {"code": "MODEL_EVENT_TYPE", "text": TYPE_TEXTS["zh-CN"]} in explanation["reasons"]
    assert TYPE_PHRASE["zh-CN"] in explanation["text"]
