"""The rescue ladder (R33) end to end on both databases, and the hardship plan calculator
(R20, R28): an over-indebted borrower's application is dissuaded with a hardship offer, marketing
to them is refused, a proposed plan pauses collection until it is agreed, and every step is
counted."""

from __future__ import annotations

from typing import Any

import pytest

from fixtures import MISSING, PINNED_NOW, Api, make_event, reason_codes

NOW = PINNED_NOW
# The flags, plans and contact checks below are read against "now": pinned for every test.
pytestmark = pytest.mark.usefixtures("pinned_clock")


def over_indebted_application(customer_id: str = "heavy-1") -> dict[str, Any]:
    """Missed payments in 3 of the last 6 months (M-1, M-3, M-5) and 5 active lenders."""
    index = NOW.year * 12 + NOW.month - 1

    def month(back: int) -> str:
        y, m = divmod(index - back, 12)
        return f"{y:04d}-{m + 1:02d}"

    return make_event(
        type="application",
        customer_id=customer_id,
        occurred_at=NOW,
        amount="8000",
        payee_id=MISSING,
        customer={
            "credit": {
                "missed_payment_months": [month(1), month(3), month(5)],
                "active_lenders": 5,
            }
        },
    )


def contact(kind: str, customer_id: str = "heavy-1", **extra: Any) -> dict[str, Any]:
    at = NOW.replace(hour=6, minute=0)  # 14:00 in Asia/Shanghai, after the pinned now
    return {
        "purpose": kind,
        "channel": "sms",
        "debtor_id": customer_id,
        "contact": "+8613800000000",
        "at": at.isoformat(),
        "timezone": "Asia/Shanghai",
        "template_text": "您好，这是一条来自贷款平台的消息。",
        **extra,
    }


COLLECTION = contact("collection", debt={"id": "loan-77"})


def plan_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "customer_id": "heavy-1",
        "product": "loan",
        "balance": "12000",
        "penalties": "300",
        "contract_rate_percent": "18",
        "waive_interest": True,
        "waive_penalties": True,
        "term_months": 24,
        "start_date": "2026-12-01",
    }
    body.update(overrides)
    return body


def codes(answer: dict[str, Any]) -> set[str]:
    return {c["code"] for c in answer["codes"]}


class TestTheFixture:
    def test_dissuaded_with_a_hardship_offer_and_marketing_refused(self, app_client: Api) -> None:
        decision = app_client.decide(over_indebted_application())
        assert decision["action"] in ("dissuade", "intercept")
        assert "OVER_INDEBTED" in reason_codes(decision)
        assert {"HARDSHIP_PLAN_OFFERED", "CREDIT_FREEZE"} <= set(decision["measures"])

        sms = app_client.client.post(
            "/v1/conduct/contacts/check", json=contact("marketing"), headers=app_client.admin
        )
        assert sms.status_code == 200, sms.text
        assert sms.json()["allowed"] is False
        assert "MARKETING_TO_DISTRESSED" in codes(sms.json())
        other = app_client.client.post(
            "/v1/conduct/contacts/check",
            json=contact("marketing", customer_id="someone-else"),
            headers=app_client.admin,
        )
        assert "MARKETING_TO_DISTRESSED" not in codes(other.json())

        summary = app_client.client.get("/v1/lending/rescue/summary", headers=app_client.admin)
        steps = summary.json()["steps"]
        assert steps["CREDIT_FREEZE"] == {"count": 1, "customers": 1}
        assert steps["MARKETING_SUPPRESSED"] == {"count": 1, "customers": 1}
        assert steps["HARDSHIP_PLAN_OFFERED"] == {"count": 1, "customers": 1}

    def test_a_second_flagged_decision_suppresses_marketing_once(self, app_client: Api) -> None:
        app_client.decide(over_indebted_application())
        app_client.decide(over_indebted_application())
        steps = app_client.client.get(
            "/v1/lending/rescue/summary", headers=app_client.admin
        ).json()["steps"]
        assert steps["CREDIT_FREEZE"]["count"] == 2
        assert steps["MARKETING_SUPPRESSED"]["count"] == 1


class TestPlans:
    def test_a_proposed_plan_pauses_collection_until_agreed(self, app_client: Api) -> None:
        analyst = app_client.key("lending:write", "lending:check")
        before = app_client.client.post(
            "/v1/conduct/contacts/check", json=COLLECTION, headers=app_client.admin
        ).json()
        assert "COLLECTION_PAUSED" not in codes(before)
        proposed = app_client.client.post(
            "/v1/lending/hardship-plans", json=plan_body(), headers=analyst
        )
        assert proposed.status_code == 201, proposed.text
        plan = proposed.json()
        assert plan["status"] == "proposed"
        paused = app_client.client.post(
            "/v1/conduct/contacts/check", json=COLLECTION, headers=app_client.admin
        ).json()
        assert paused["allowed"] is False
        assert "COLLECTION_PAUSED" in codes(paused)
        agreed = app_client.client.post(
            f"/v1/lending/hardship-plans/{plan['id']}/agree", headers=analyst
        )
        assert agreed.json()["status"] == "agreed"
        after = app_client.client.post(
            "/v1/conduct/contacts/check", json=COLLECTION, headers=app_client.admin
        ).json()
        assert "COLLECTION_PAUSED" not in codes(after)
        again = app_client.client.post(
            f"/v1/lending/hardship-plans/{plan['id']}/decline", headers=analyst
        )
        assert again.status_code == 409
        steps = app_client.client.get(
            "/v1/lending/rescue/customers/heavy-1", headers=app_client.admin
        ).json()["steps"]
        assert [s["step"] for s in steps] == [
            "HARDSHIP_PLAN_OFFERED",
            "INTEREST_WAIVED",
            "COLLECTION_PAUSED",
        ]

    def test_a_crisis_pause_outlives_an_agreed_plan(self, app_client: Api) -> None:
        """The assistant heard the customer speak of ending their life: collection is paused
        for that, and agreeing a hardship plan (which ends the plan's own pause) leaves it."""
        said = app_client.client.post(
            "/v1/assistant/analyze",
            json={"customer_id": "heavy-1", "text": "还不上了，我真的不想活了"},
            headers=app_client.admin,
        ).json()
        assert said["effects"]["crisis"]["collection_paused"] == {"set": True, "already": False}
        analyst = app_client.key("lending:write", "lending:check")
        plan = app_client.client.post(
            "/v1/lending/hardship-plans", json=plan_body(), headers=analyst
        ).json()
        agreed = app_client.client.post(
            f"/v1/lending/hardship-plans/{plan['id']}/agree", headers=analyst
        )
        assert agreed.json()["status"] == "agreed"
        after = app_client.client.post(
            "/v1/conduct/contacts/check", json=COLLECTION, headers=app_client.admin
        ).json()
        assert after["allowed"] is False
        assert "COLLECTION_PAUSED" in codes(after)
        flags = app_client.services.conduct.flags.flags("heavy-1")
        open_pauses = [
            f["source"] for f in flags if f["flag"] == "collection_paused" and f["until"] is None
        ]
        assert len(open_pauses) == 1
        assert open_pauses[0].startswith("crisis:")

    def test_proposing_needs_the_write_scope(self, app_client: Api) -> None:
        refused = app_client.client.post(
            "/v1/lending/hardship-plans", json=plan_body(), headers=app_client.key("lending:check")
        )
        assert refused.status_code == 403
        assert app_client.rows("hardship_plans") == 0


class TestCalculator:
    def quote(self, api: Api, **overrides: Any) -> Any:
        return api.client.post(
            "/v1/lending/hardship-plans/quote", json=plan_body(**overrides), headers=api.admin
        )

    def test_waived_interest_costs_nothing(self, app_client: Api) -> None:
        plan = self.quote(app_client).json()
        assert plan["plan_rate_percent"] == 0
        assert plan["instalment"] == 500.0
        assert plan["total_paid"] == 12000.0
        assert plan["cost"]["apr_percent"] == pytest.approx(0.0, abs=1e-6)
        assert plan["waived"] > 300  # the penalties and the contract interest

    def test_a_reduced_rate_shows_its_apr(self, app_client: Api) -> None:
        plan = self.quote(app_client, waive_interest=False, plan_rate_percent="6").json()
        assert plan["cost"]["apr_percent"] == pytest.approx(6.0, abs=0.01)
        assert plan["total_interest"] > 0

    def test_an_affordable_instalment_sets_the_term(self, app_client: Api) -> None:
        plan = self.quote(app_client, term_months=None, target_instalment="700").json()
        assert plan["term_months"] == 18  # 12,000 / 700 = 17.1 → 18 months at 0%
        assert plan["schedule"][-1]["amount"] <= 700
        never = self.quote(
            app_client,
            term_months=None,
            target_instalment="100",
            waive_interest=False,
            plan_rate_percent="18",
        )
        assert never.status_code == 422
        assert never.json()["errors"][0]["field"] == "target_instalment"

    @pytest.mark.parametrize(("months", "allowed"), [(60, True), (61, False)])
    def test_r20_a_credit_card_plan_at_most_60_months(
        self, app_client: Api, months: int, allowed: bool
    ) -> None:
        plan = self.quote(app_client, product="credit_card", term_months=months).json()
        assert plan["allowed"] is allowed
        assert ("PLAN_TERM_ABOVE_CAP" in {f["code"] for f in plan["findings"]}) is not allowed
        proposed = app_client.client.post(
            "/v1/lending/hardship-plans",
            json=plan_body(product="credit_card", term_months=months),
            headers=app_client.admin,
        )
        assert proposed.status_code == (201 if allowed else 422)

    def test_a_loan_is_not_capped_at_60(self, app_client: Api) -> None:
        assert self.quote(app_client, term_months=72).json()["allowed"] is True

    def test_r28_uk_arrangements(self, app_client: Api) -> None:
        escalating = self.quote(
            app_client, jurisdiction="UK", waive_interest=False, debt_advice_signposted=False
        ).json()
        found = {f["code"] for f in escalating["findings"]}
        assert found == {"ARRANGEMENT_BALANCE_ESCALATING", "NO_DEBT_ADVICE_SIGNPOST"}
        justified = self.quote(
            app_client,
            jurisdiction="UK",
            waive_interest=False,
            interest_justification="customer asked to keep the fixed rate; reviewed by a manager",
            debt_advice_signposted=True,
        ).json()
        assert justified["findings"] == []
        waived = self.quote(app_client, jurisdiction="UK", debt_advice_signposted=True).json()
        assert waived["findings"] == []

    def test_bad_requests_name_the_field(self, app_client: Api) -> None:
        both = self.quote(app_client, target_instalment="500")
        assert both.status_code == 422
        negative = self.quote(app_client, balance="-1")
        assert negative.json()["errors"][0]["field"] == "balance"
