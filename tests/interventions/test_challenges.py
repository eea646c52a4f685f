"""Challenges (issue #19 item 1): the decision carries bespoke questions chosen by its reasons;
the lender's app posts the answers and gets a follow-up decision linked to the first.

What the answers do is the policy's (decisions/policies/challenges.yaml): a "yes" to a scam
question intercepts and opens a case; a "no" clears no coaching evidence; a passed face check
clears the doubt about who opens the account; after a takeover-like change it waits out the
cooling-off instead. Bad answers are refused naming the field and leave no row behind.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from fixtures import MISSING, T0, Api, make_event
from lendguard.decisions.challenges import (
    ChallengeAnswerError,
    challenge_for,
    check_answers,
    follow_up,
    load_policy,
)
from lendguard.models import CaseDecision, ChallengeResponse
from lendguard.simulate.responses import answer

PARAMS = {"remind_score": 45, "dissuade_score": 60, "intercept_score": 80}


def _screen_shared(api: Api, customer: str = "cust-1") -> dict[str, Any]:
    decision = api.decide(
        make_event(
            customer_id=customer,
            amount="3000.00",
            session={"screen_share_active": True},
        )
    )
    assert decision["action"] == "dissuade", decision
    return decision


def _answers(api: Api, decision_id: str, body: dict[str, Any], headers: Any = None) -> Any:
    return api.client.post(
        f"/v1/decisions/{decision_id}/challenge", json=body, headers=headers or api.admin
    )


def _responses(api: Api) -> int:
    with api.services.decisions.db.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(ChallengeResponse)).scalar_one())


def test_a_dissuaded_outflow_carries_the_safe_account_questions_in_both_languages(
    app_client: Api,
) -> None:
    decision = _screen_shared(app_client)
    challenge = decision["challenge"]
    ids = [q["id"] for q in challenge["questions"]]
    assert ids == ["told_by_authority", "screen_watched", "purpose"]
    for question in challenge["questions"]:
        assert set(question["text"]) == {"zh-CN", "en"}
        assert all(set(o["text"]) == {"zh-CN", "en"} for o in question["options"])
    # The read shows the same challenge the answer carried.
    again = app_client.client.get(
        f"/v1/decisions/{decision['decision_id']}", headers=app_client.admin
    ).json()
    assert again["challenge"] == challenge
    assert again["follow_up"] is None


def test_an_allowed_event_carries_no_challenge(app_client: Api) -> None:
    decision = app_client.decide(make_event())
    assert decision["action"] == "allow"
    assert decision.get("challenge") is None


def test_a_yes_to_a_scam_question_intercepts_and_opens_a_case(app_client: Api) -> None:
    decision = _screen_shared(app_client)
    reader = app_client.key("challenges:answer")
    response = _answers(
        app_client,
        decision["decision_id"],
        {
            "answers": {"told_by_authority": "yes", "screen_watched": "no", "purpose": "other"},
            "locale": "en",
            "channel": "app",
        },
        reader,
    )
    assert response.status_code == 201, response.text
    follow = response.json()
    assert follow["outcome"] == "escalated"
    assert follow["action"] == "intercept"
    assert follow["follow_up_of"] == decision["decision_id"]
    assert follow["reasons"][0]["code"] == "SCAM_TOLD_BY_CUSTOMER"
    assert {m["locale"] for m in follow["messages"]} == {"zh-CN", "en"}
    # Linked both ways, and the money is held under a case.
    shown = app_client.client.get(
        f"/v1/decisions/{decision['decision_id']}", headers=app_client.admin
    ).json()
    assert shown["follow_up"]["decision_id"] == follow["decision_id"]
    with app_client.services.decisions.db.connect() as conn:
        held = conn.execute(
            select(CaseDecision.hold_status).where(
                CaseDecision.decision_id == follow["decision_id"]
            )
        ).scalar_one()
        row = conn.execute(select(*ChallengeResponse.__table__.columns)).one()
    assert held == "held"
    # The case shows the follow-up as a decision of its own (it is not in the decision log).
    case = app_client.client.get("/v1/cases", headers=app_client.admin).json()["cases"][0]
    shown_case = app_client.client.get(f"/v1/cases/{case['id']}", headers=app_client.admin)
    assert shown_case.status_code == 200, shown_case.text
    filed = {d["decision_id"]: d for d in shown_case.json()["decisions"]}
    assert filed[follow["decision_id"]]["action"] == "intercept"
    assert filed[follow["decision_id"]]["event_id"] == decision["event_id"]
    # What was shown is kept in the language shown, for the evidence pack.
    assert row.locale == "en"
    assert row.questions[0]["text"].startswith("Did someone who said they were the police")


def test_no_to_every_scam_question_clears_no_coaching_evidence(app_client: Api) -> None:
    decision = _screen_shared(app_client)
    follow = _answers(
        app_client,
        decision["decision_id"],
        {"answers": {"told_by_authority": "no", "screen_watched": "no", "purpose": "family_known"}},
    ).json()
    assert follow["outcome"] == "unchanged"
    assert follow["action"] == "dissuade"
    assert "SCREEN_SHARING" in [r["code"] for r in follow["reasons"]]


def test_a_retry_gets_the_same_follow_up_and_different_answers_conflict(app_client: Api) -> None:
    decision = _screen_shared(app_client)
    body = {"answers": {"told_by_authority": "no", "screen_watched": "no", "purpose": "bills"}}
    first = _answers(app_client, decision["decision_id"], body)
    second = _answers(app_client, decision["decision_id"], body)
    assert first.status_code == 201
    assert second.status_code == 201
    assert first.json()["decision_id"] == second.json()["decision_id"]
    other = dict(body, answers=dict(body["answers"], screen_watched="yes"))
    refused = _answers(app_client, decision["decision_id"], other)
    assert refused.status_code == 409
    assert _responses(app_client) == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (
            {"answers": {"told_by_authority": "maybe", "screen_watched": "no", "purpose": "bills"}},
            "answers.told_by_authority",
        ),
        ({"answers": {"screen_watched": "no", "purpose": "bills"}}, "answers.told_by_authority"),
        (
            {
                "answers": {
                    "told_by_authority": "no",
                    "screen_watched": "no",
                    "purpose": "bills",
                    "invented": "no",
                }
            },
            "answers.invented",
        ),
        ({"answers": {"told_by_authority": "no\u0000", "screen_watched": "no"}}, None),
        ({"answers": {"told_by_authority": "no"}, "locale": "fr"}, "locale"),
        (
            {"answers": {}, "verification": {"liveness_score": 2, "face_match_score": 0.9}},
            "verification.liveness_score",
        ),
        ({"answers": {}, "extra": 1}, "extra"),
        ({"answers": {}, "shown_at": "2200-01-01T00:00:00Z"}, "shown_at"),
    ],
)
def test_bad_answers_are_refused_naming_the_field_and_keep_nothing(
    app_client: Api, body: dict[str, Any], field: str | None
) -> None:
    decision = _screen_shared(app_client)
    response = _answers(app_client, decision["decision_id"], body)
    assert 400 <= response.status_code < 500, response.text
    if field is not None:
        assert response.status_code == 422
        fields = [e["field"] for e in response.json()["errors"]]
        assert any(f.endswith(field) for f in fields), fields
    assert _responses(app_client) == 0


def test_answers_need_the_scope_and_a_known_decision(app_client: Api) -> None:
    decision = _screen_shared(app_client)
    body = {"answers": {"told_by_authority": "no", "screen_watched": "no", "purpose": "bills"}}
    reader = app_client.key("decisions:read")
    assert _answers(app_client, decision["decision_id"], body, reader).status_code == 403
    assert _answers(app_client, "dec_unknown", body).status_code == 404
    allowed = app_client.decide(make_event())
    assert _answers(app_client, allowed["decision_id"], body).status_code == 409
    assert _responses(app_client) == 0


def test_a_passed_face_check_clears_a_shared_device_at_sign_up(app_client: Api) -> None:
    # Customers sign up one after another on one tablet: the fourth is dissuaded.
    decisions = [
        app_client.decide(
            make_event(
                type="registration",
                customer_id=f"kiosk-{i}",
                device_id="tablet-1",
                occurred_at=T0 + timedelta(minutes=5 * i),
                amount=MISSING,
                payee_id=MISSING,
            )
        )
        for i in range(4)
    ]
    flagged = decisions[-1]
    assert flagged["action"] == "dissuade", flagged
    assert flagged["challenge"]["kind"] == "verification"
    ids = [q["id"] for q in flagged["challenge"]["questions"]]
    assert ids == ["face_verification"]
    refused = _answers(app_client, flagged["decision_id"], {"answers": {}})
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "verification"
    follow = _answers(
        app_client,
        flagged["decision_id"],
        {
            "answers": {},
            "verification": {
                "liveness_score": 0.93,
                "face_match_score": 0.88,
                "vendor_reference": "fv-123",
            },
        },
    ).json()
    assert follow["outcome"] == "passed"
    assert follow["action"] == "allow"
    with app_client.services.decisions.db.connect() as conn:
        kept = conn.execute(select(ChallengeResponse.answers)).scalar_one()
    # Pass or fail and the vendor's reference; never the scores.
    assert kept == {"face_check": "passed", "face_check_reference": "fv-123"}


# -- the policy functions, without HTTP ---------------------------------------------------------


def _decision(
    action: str, codes: list[tuple[str, str, int]], event_type: str = "transfer"
) -> dict[str, Any]:
    return {
        "decision_id": "dec_1",
        "event_type": event_type,
        "action": action,
        "score": sum(w for _, _, w in codes),
        "reasons": [
            {
                "code": c,
                "category": "fraud",
                "rule_id": c.lower(),
                "action": a,
                "weight": w,
                "description": "",
                "values": {},
            }
            for c, a, w in codes
        ],
        "measures": ["DELAY"],
        "messages": [{"locale": "en", "text": "first"}],
    }


def test_a_passed_face_check_after_a_takeover_change_waits_out_the_cooling_off() -> None:
    decision = _decision("intercept", [("ACCOUNT_TAKEOVER", "intercept", 40)])
    challenge = challenge_for(decision)
    assert challenge is not None
    assert challenge["kind"] == "mixed"
    answers = {"told_by_authority": "no", "screen_watched": "no", "purpose": "bills"}
    scores = {"liveness_score": 0.9, "face_match_score": 0.9}
    result = follow_up(decision, challenge, answers, scores, PARAMS)
    assert result.action == "dissuade"
    assert "DELAY" in result.measures
    assert result.release_after_s == load_policy().cooling_off_hours * 3600
    assert [r["code"] for r in result.reasons] == ["COOLING_OFF"]
    failed = follow_up(
        decision, challenge, answers, {"liveness_score": 0.9, "face_match_score": 0.2}, PARAMS
    )
    assert failed.outcome == "failed"
    assert failed.action == "intercept"


def test_family_known_for_years_takes_the_novelty_weight_out_of_the_combined_score() -> None:
    decision = _decision(
        "dissuade",
        [
            ("HIGH_COMBINED_RISK", "dissuade", 0),
            ("NEW_PAYEE", "allow", 30),
            ("FIRST_LARGE_TRANSFER", "allow", 20),
            ("NIGHT_NEW_PAYEE", "allow", 15),
        ],
    )
    challenge = challenge_for(decision)
    assert challenge is not None
    family = {"told_by_authority": "no", "screen_watched": "no", "purpose": "family_known"}
    assert follow_up(decision, challenge, family, None, PARAMS).action == "allow"
    # The same answers with another purpose keep the combined score, and the dissuasion.
    goods = dict(family, purpose="goods_services")
    assert follow_up(decision, challenge, goods, None, PARAMS).action == "dissuade"


def test_a_scam_only_purpose_intercepts() -> None:
    decision = _decision("dissuade", [("SCREEN_SHARING", "dissuade", 30)])
    challenge = challenge_for(decision)
    assert challenge is not None
    answers = {"told_by_authority": "no", "screen_watched": "no", "purpose": "safe_account"}
    result = follow_up(decision, challenge, answers, None, PARAMS)
    assert (result.outcome, result.action) == ("escalated", "intercept")


def test_check_answers_names_the_question() -> None:
    decision = _decision("dissuade", [("SCREEN_SHARING", "dissuade", 30)])
    challenge = challenge_for(decision)
    assert challenge is not None
    with pytest.raises(ChallengeAnswerError) as caught:
        check_answers(challenge, {"told_by_authority": "no", "purpose": "bills"}, None)
    assert caught.value.field == "answers.screen_watched"


def test_only_interventions_on_listed_events_with_a_fraud_reason_carry_a_challenge() -> None:
    assert challenge_for(_decision("remind", [("SCREEN_SHARING", "remind", 30)])) is None
    assert challenge_for(_decision("dissuade", [("X", "dissuade", 1)], "login")) is None
    wellbeing = _decision("dissuade", [("OVER_INDEBTED", "dissuade", 30)], "application")
    wellbeing["reasons"][0]["category"] = "wellbeing"
    assert challenge_for(wellbeing) is None


def test_simulated_answers_follow_the_stated_model() -> None:
    decision = _decision("dissuade", [("SCREEN_SHARING", "dissuade", 30)])
    challenge = challenge_for(decision)
    assert challenge is not None
    honest = [answer(challenge, "transfer", f"e{i}", "none", seed=1)[0] for i in range(200)]
    assert all(a["told_by_authority"] == "no" and a["screen_watched"] == "no" for a in honest)
    victims = [
        answer(challenge, "transfer", f"e{i}", "fake_customer_service", seed=1)[0]
        for i in range(2000)
    ]
    told = sum(a["told_by_authority"] == "yes" for a in victims) / len(victims)
    # A coached victim of fake customer service follows the script 60% of the time.
    assert 0.35 < told < 0.45
    # Reproducible: the same seed and event give the same answers.
    assert answer(challenge, "transfer", "e1", "fake_customer_service", seed=1) == answer(
        challenge, "transfer", "e1", "fake_customer_service", seed=1
    )


def test_a_takeover_hold_waits_out_the_cooling_off_after_a_passed_face_check(
    app_client: Api, pinned_clock: Any
) -> None:
    # The customer's usual device, then a password change on a new one and money out at once.
    app_client.decide(make_event(occurred_at=T0 - timedelta(days=30), amount="50.00"))
    app_client.decide(
        make_event(
            type="device_change",
            device_id="dev-new",
            occurred_at=T0 - timedelta(minutes=1),
            amount=MISSING,
            currency=MISSING,
            payee_id=MISSING,
        )
    )
    app_client.decide(
        make_event(
            type="profile_change",
            changed="password",
            device_id="dev-new",
            occurred_at=T0,
            amount=MISSING,
            currency=MISSING,
            payee_id=MISSING,
        )
    )
    held = app_client.decide(
        make_event(
            device_id="dev-new",
            amount="2000.00",
            payee_id="payee-9",
            occurred_at=T0 + timedelta(minutes=5),
        )
    )
    assert held["action"] == "intercept", held
    assert "ACCOUNT_TAKEOVER" in [r["code"] for r in held["reasons"]]
    # The answer says how long the money may be held at most and what the customer can do.
    assert held["hold"]["business_days"] == 4
    assert set(held["hold"]["instructions"]) == {"zh-CN", "en"}
    answers = {q["id"]: "no" for q in held["challenge"]["questions"] if q["kind"] == "yes_no"}
    answers["purpose"] = "bills"
    follow = _answers(
        app_client,
        held["decision_id"],
        {"answers": answers, "verification": {"liveness_score": 0.9, "face_match_score": 0.9}},
    ).json()
    assert follow["outcome"] == "passed"
    assert follow["action"] == "dissuade"
    assert follow["release_at"] is not None
    holds = app_client.services.cases.holds
    # Still held during the cooling-off; released by the deadline sweep once it is over.
    assert app_client.services.cases.release_due_holds() == []
    assert holds.get(held["decision_id"])["hold_status"] == "held"
    pinned_clock.shift(timedelta(hours=12, minutes=1))
    assert app_client.services.cases.release_due_holds() == [held["decision_id"]]
    assert holds.get(held["decision_id"])["hold_status"] == "released"


def test_no_question_while_the_customers_own_lock_or_a_deny_list_stands() -> None:
    for code in ("MONEY_LOCKED", "SESSION_SUSPENDED", "DENY_LISTED"):
        decision = _decision("block", [(code, "block", 100), ("SCREEN_SHARING", "dissuade", 30)])
        assert challenge_for(decision) is None
    # The trusted person's confirmation alone is the customer's own choice: nothing to ask.
    trusted = _decision("intercept", [("TRUSTED_CONFIRMATION_REQUIRED", "intercept", 0)])
    assert challenge_for(trusted) is None
    both = _decision(
        "intercept",
        [("TRUSTED_CONFIRMATION_REQUIRED", "intercept", 0), ("SCREEN_SHARING", "dissuade", 30)],
    )
    challenge = challenge_for(both)
    assert challenge is not None
    assert challenge["question_sets"] == ["safe_account"]


@pytest.mark.parametrize(
    ("after", "held"), [(timedelta(hours=2), True), (timedelta(hours=13), False)]
)
def test_a_large_payment_to_someone_new_waits_out_the_cooling_off_after_a_phone_change(
    app_client: Api, after: timedelta, held: bool
) -> None:
    app_client.decide(make_event(occurred_at=T0 - timedelta(days=60), amount="50.00"))
    app_client.decide(
        make_event(
            type="profile_change",
            changed="phone",
            occurred_at=T0,
            amount=MISSING,
            currency=MISSING,
            payee_id=MISSING,
        )
    )
    decision = app_client.decide(
        make_event(amount="8000.00", payee_id="payee-new", occurred_at=T0 + after)
    )
    codes = [r["code"] for r in decision["reasons"]]
    assert ("COOLING_OFF" in codes) is held
    if held:
        assert "DELAY" in decision["measures"]
        assert decision["action"] in ("dissuade", "intercept")


def test_a_scam_told_in_a_challenge_slows_every_new_payee_for_the_next_days(
    app_client: Api, pinned_clock: Any
) -> None:
    pinned_clock.move_to(T0 + timedelta(minutes=2))
    decision = _screen_shared(app_client)
    body = {"answers": {"told_by_authority": "yes", "screen_watched": "no", "purpose": "other"}}
    assert _answers(app_client, decision["decision_id"], body).status_code == 201
    # A retry records nothing more (the cue's event is idempotent).
    assert _answers(app_client, decision["decision_id"], body).status_code == 201
    later = app_client.decide(
        make_event(amount="500.00", payee_id="payee-other", occurred_at=T0 + timedelta(hours=5))
    )
    assert "SCAM_CUE_IN_CONVERSATION" in [r["code"] for r in later["reasons"]]
    assert later["action"] == "intercept"
