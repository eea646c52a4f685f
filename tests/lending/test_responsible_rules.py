"""The decision engine's responsible-lending rules, each with its boundary: over-indebtedness
(R30), financial difficulty (R27), the R31 signals, suitability (R12) and affordability (R32),
and the rescue ladder's measures on the decision (R33)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from fixtures import MISSING, T0, EngineRun, make_event, reason_codes

# T0 is 2025-03-03: M-1 is 2025-02, M-6 is 2024-09, M-7 is 2024-08.


def application(**profile: Any) -> dict[str, Any]:
    return make_event(
        type="application",
        amount="5000",
        payee_id=MISSING,
        customer={"credit": profile} if profile else MISSING,
    )


def decide(raw: dict[str, Any]) -> Any:
    return EngineRun().decide(raw)


class TestOverIndebted:
    def test_the_fixture_is_dissuaded_with_a_hardship_offer(self) -> None:
        """Missed payments in 3 of the last 6 months and 5 active lenders, a new loan."""
        result = decide(
            application(missed_payment_months=["2025-02", "2024-12", "2024-10"], active_lenders=5)
        )
        assert result.action.value in ("dissuade", "intercept")
        assert {"OVER_INDEBTED", "MULTI_LENDER"} <= reason_codes(result)
        measures = {m.value for m in result.measures}
        assert {"HARDSHIP_PLAN_OFFERED", "CREDIT_FREEZE"} <= measures
        over = next(r for r in result.reasons if r.code == "OVER_INDEBTED")
        assert over.category == "wellbeing"
        assert "困难帮扶" in result.messages[0]["text"]
        assert "help" in result.messages[1]["text"]

    @pytest.mark.parametrize(
        ("months", "flagged"),
        [
            (["2025-02", "2024-12", "2024-10"], True),  # M-1, M-3, M-5
            (["2025-02", "2024-08"], False),  # M-1, M-7
            (["2025-02", "2024-12", "2024-08"], False),  # the third is M-7: outside
            (["2025-02", "2024-12", "2024-09"], True),  # M-6 is inside
            (["2025-03", "2025-02", "2024-12"], False),  # the event's own month is not M-1..M-6
        ],
    )
    def test_three_of_the_last_six_months(self, months: list[str], flagged: bool) -> None:
        result = decide(application(missed_payment_months=months))
        assert ("OVER_INDEBTED" in reason_codes(result)) is flagged

    def test_a_heavy_burden_said_by_the_customer_is_enough(self) -> None:
        assert "OVER_INDEBTED" in reason_codes(
            decide(application(self_reported_burden="heavy_burden"))
        )
        assert "OVER_INDEBTED" not in reason_codes(
            decide(application(self_reported_burden="somewhat"))
        )

    def test_a_limit_increase_and_a_drawdown_are_stopped_too(self) -> None:
        run = EngineRun()
        run.decide(application(missed_payment_months=["2025-02", "2025-01", "2024-11"]))
        raise_limit = make_event(
            type="limit_change",
            amount="20000",
            payee_id=MISSING,
            attributes={"direction": "increase"},
            occurred_at=T0 + timedelta(minutes=5),
        )
        assert "OVER_INDEBTED" in reason_codes(run.decide(raise_limit))
        drawdown = make_event(
            type="disbursement",
            amount="3000",
            payee_id=MISSING,
            occurred_at=T0 + timedelta(minutes=10),
        )
        assert "OVER_INDEBTED" in reason_codes(run.decide(drawdown))
        repayment = make_event(
            type="repayment", amount="300", payee_id=MISSING, occurred_at=T0 + timedelta(hours=1)
        )
        assert "OVER_INDEBTED" not in reason_codes(run.decide(repayment))

    def test_no_credit_information_means_no_flag(self) -> None:
        assert "OVER_INDEBTED" not in reason_codes(decide(application()))


class TestFinancialDifficulty:
    @pytest.mark.parametrize(
        ("field", "value", "flagged"),
        [
            ("consecutive_missed_repayments", 1, False),
            ("consecutive_missed_repayments", 2, True),
            ("adverse_credit_entries", 1, True),
            ("unpaid_judgments", 1, True),
            ("essential_bills_unpaid", True, True),
            ("borrowing_to_repay", True, True),
            ("debt_solution", True, True),
            ("debt_adviser_contact", True, True),
            ("debt_adviser_contact", False, False),
        ],
    )
    def test_each_r27_indicator(self, field: str, value: Any, flagged: bool) -> None:
        result = decide(application(**{field: value}))
        assert ("FINANCIAL_DIFFICULTY" in reason_codes(result)) is flagged
        if flagged:
            assert result.action.value == "dissuade"


class TestR31Signals:
    @pytest.mark.parametrize(
        ("profile", "code"),
        [
            ({"active_lenders": 4}, "MULTI_LENDER"),
            ({"utilisation": 0.9}, "HIGH_UTILISATION"),
            ({"inquiries_6m": 6}, "MANY_INQUIRIES"),
        ],
    )
    def test_signals_at_their_placeholder_thresholds(
        self, profile: dict[str, Any], code: str
    ) -> None:
        assert code in reason_codes(decide(application(**profile)))
        below = {k: (v - 1 if isinstance(v, int) else v - 0.01) for k, v in profile.items()}
        assert code not in reason_codes(decide(application(**below)))

    def test_a_signal_alone_never_intervenes(self) -> None:
        result = decide(application(active_lenders=9, inquiries_6m=20))
        assert result.action.value == "allow"

    def test_loan_stacking_days(self) -> None:
        stacked = application(last_repaid_other_lender_at=(T0 - timedelta(days=7)).isoformat())
        assert "LOAN_STACKING" in reason_codes(decide(stacked))
        later = application(last_repaid_other_lender_at=(T0 - timedelta(days=8)).isoformat())
        assert "LOAN_STACKING" not in reason_codes(decide(later))


def graded_application(grade: str, assessment: dict[str, Any] | None) -> dict[str, Any]:
    return make_event(
        type="application",
        amount="5000",
        payee_id=MISSING,
        attributes={"product_risk_grade": grade},
        customer={"risk_assessment": assessment} if assessment else MISSING,
    )


class TestSuitability:
    def test_a_product_above_the_customers_level(self) -> None:
        assessed = {"level": "C2", "assessed_at": (T0 - timedelta(days=10)).isoformat()}
        result = decide(graded_application("R4", assessed))
        assert "SUITABILITY_MISMATCH" in reason_codes(result)
        assert result.action.value == "dissuade"
        assert "SUITABILITY_MISMATCH" not in reason_codes(
            decide(graded_application("R2", assessed))
        )

    @pytest.mark.parametrize(("age_days", "stale"), [(364, False), (366, True)])
    def test_default_validity_of_a_year(self, age_days: int, stale: bool) -> None:
        assessed = {"level": "C3", "assessed_at": (T0 - timedelta(days=age_days)).isoformat()}
        result = decide(graded_application("R2", assessed))
        assert ("SUITABILITY_STALE" in reason_codes(result)) is stale

    def test_an_assessment_with_its_own_validity(self) -> None:
        assessed = {
            "level": "C3",
            "assessed_at": (T0 - timedelta(days=31)).isoformat(),
            "valid_days": 30,
        }
        assert "SUITABILITY_STALE" in reason_codes(decide(graded_application("R2", assessed)))

    def test_no_assessment_at_all(self) -> None:
        assert "SUITABILITY_STALE" in reason_codes(decide(graded_application("R1", None)))

    def test_ungraded_products_are_not_checked(self) -> None:
        result = decide(application())
        assert not {"SUITABILITY_STALE", "SUITABILITY_MISMATCH"} & reason_codes(result)


def limit_increase(affordability_days: int | None, **attributes: Any) -> dict[str, Any]:
    profile: Any = MISSING
    if affordability_days is not None:
        profile = {
            "affordability": {
                "assessed_at": (T0 - timedelta(days=affordability_days)).isoformat(),
                "monthly_income": "12000",
                "monthly_debt_service": "3000",
            }
        }
    return make_event(
        type="limit_change",
        amount="30000",
        payee_id=MISSING,
        customer=profile,
        attributes=attributes or {"direction": "increase"},
    )


class TestAffordability:
    @pytest.mark.parametrize(("days", "missing"), [(30, False), (31, True), (None, True)])
    def test_a_limit_increase_needs_a_recent_assessment(
        self, days: int | None, missing: bool
    ) -> None:
        result = decide(limit_increase(days))
        assert ("AFFORDABILITY_MISSING" in reason_codes(result)) is missing

    def test_an_increase_is_known_from_the_previous_limit(self) -> None:
        assert "AFFORDABILITY_MISSING" in reason_codes(
            decide(limit_increase(None, previous_limit=20000))
        )
        assert "AFFORDABILITY_MISSING" not in reason_codes(
            decide(limit_increase(None, previous_limit=50000))
        )

    def test_a_limit_change_of_unknown_direction_is_not_an_increase(self) -> None:
        raw = limit_increase(None)
        raw["attributes"] = {}
        assert "AFFORDABILITY_MISSING" not in reason_codes(decide(raw))

    def test_debt_service_to_income(self) -> None:
        run = EngineRun()
        run.decide(limit_increase(5))
        values = run.features(application(), ["debt_service_to_income"])
        assert values["debt_service_to_income"] == 0.25
