"""The APR engine: Regulation Z Appendix J (every worked example), China's annualised IRR (PBOC
and withheld-interest vectors), R21 tolerance, validation, the CLI and POST /v1/lending/apr,
plus Hypothesis round trips (a schedule built from a known rate gives that rate back)."""

from __future__ import annotations

import json
import math
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from fixtures import Api
from lendguard.cli.main import app as cli_app
from lendguard.errors import ValidationFailed
from lendguard.lending.apr import (
    MAX_SCHEDULES,
    OUT_OF_TOLERANCE,
    Schedule,
    Span,
    Unit,
    appendix_j_apr,
    apr_answers,
    apr_tolerance_check,
    compute,
    irregularities,
    parse_schedule,
    parse_schedules,
    span,
)

SHARED_EXAMPLES = (
    Path(__file__).resolve().parents[3] / "shared/data/regz-apr/appendix_j_examples.json"
)
PROBLEM = "application/problem+json"


# -- schedule builders (independent of the engine's own date stepping) ---------------------------


def add_months(d: date, n: int) -> date:
    """``d`` plus ``n`` months; only used with days that exist in every month (≤ 28)."""
    year, month0 = divmod(d.year * 12 + d.month - 1 + n, 12)
    return date(year, month0 + 1, d.day)


def monthly(first: date, count: int, amount: float, step: int = 1) -> list[tuple[date, float]]:
    return [(add_months(first, k * step), amount) for k in range(count)]


def every_days(first: date, count: int, amount: float, days: int) -> list[tuple[date, float]]:
    return [(first + timedelta(days=days * k), amount) for k in range(count)]


def semimonthly(first: date, count: int, amount: float) -> list[tuple[date, float]]:
    """1st and 16th, starting on ``first`` (a 1st or a 16th)."""
    out = []
    half = 0 if first.day == 1 else 1
    for k in range(count):
        months, h = divmod(half + k, 2)
        out.append(
            (add_months(first.replace(day=1), months).replace(day=1 if h == 0 else 16), amount)
        )
    return out


def schedule_dict(
    id: str,
    amount: float,
    advance: date,
    payments: list[tuple[date, float]],
    per_year: float,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "id": id,
        "amount_financed": amount,
        "advance_date": advance.isoformat(),
        "payments": [{"date": d.isoformat(), "amount": a} for d, a in payments],
        "unit_periods_per_year": per_year,
        **extra,
    }


def D(text: str) -> date:
    return date.fromisoformat(text)


# V1-V11: Regulation Z Appendix J (c) examples, built from the regulation's own description
# (requirements §6), and V12 (c)(5)(i) with its 'term' unit period (365/255 per year).
APPENDIX_J: list[tuple[dict[str, Any], float]] = [
    (schedule_dict("c1i", 5000, D("1978-01-10"), monthly(D("1978-02-10"), 24, 230.0), 12), 9.69),
    (schedule_dict("c1ii", 6000, D("1978-02-10"), monthly(D("1978-04-01"), 36, 200.0), 12), 11.82),
    (
        schedule_dict("c1iii", 5000, D("1978-02-23"), semimonthly(D("1978-03-01"), 24, 219.17), 24),
        10.34,
    ),
    (
        schedule_dict("c1iv", 10000, D("1978-05-23"), monthly(D("1978-10-01"), 40, 385.0, 3), 4),
        8.97,
    ),
    (
        schedule_dict("c1v", 500, D("1978-03-20"), every_days(D("1978-04-21"), 30, 17.60, 7), 52),
        14.96,
    ),
    (
        schedule_dict(
            "c2i",
            5000,
            D("1978-01-10"),
            [(D("1978-02-10"), 250.0), *monthly(D("1978-03-10"), 23, 230.0)],
            12,
        ),
        10.08,
    ),
    (
        schedule_dict(
            "c2ii",
            400,
            D("1978-03-18"),
            [(D("1978-04-20"), 39.50), *every_days(D("1978-05-18"), 11, 38.31, 28)],
            13,
        ),
        28.50,
    ),
    (
        schedule_dict(
            "c3i",
            5000,
            D("1978-01-10"),
            [*monthly(D("1978-02-10"), 23, 230.0), (D("1980-01-10"), 280.0)],
            12,
        ),
        10.50,
    ),
    (
        schedule_dict(
            "c3ii",
            200,
            D("1978-04-03"),
            [*every_days(D("1978-04-11"), 19, 9.50, 14), (D("1979-01-02"), 30.0)],
            26,
        ),
        12.22,
    ),
    (
        schedule_dict(
            "c4i",
            5000,
            D("1978-01-10"),
            [
                (D("1978-02-10"), 250.0),
                *monthly(D("1978-03-10"), 22, 230.0),
                (D("1980-01-10"), 280.0),
            ],
            12,
        ),
        10.90,
    ),
    (
        schedule_dict(
            "c4ii",
            8000,
            D("1978-01-10"),
            [
                (D("1978-03-01"), 449.36),
                *monthly(D("1978-05-01"), 18, 465.0, 2),
                (D("1981-05-01"), 200.0),
            ],
            6,
        ),
        7.30,
    ),
    (
        schedule_dict("c5i", 1000, D("1978-01-03"), [(D("1978-09-15"), 1080.0)], 365 / 255),
        11.45,
    ),
]


def answer_of(raw: dict[str, Any]) -> dict[str, Any]:
    (answer,) = apr_answers(raw)
    return answer


def field_errors(exc: pytest.ExceptionInfo[ValidationFailed]) -> dict[str, str]:
    return {e.field: e.message for e in exc.value.errors}


# -- Appendix J ---------------------------------------------------------------------------------


class TestAppendixJ:
    @pytest.mark.parametrize(("raw", "expected"), APPENDIX_J, ids=[r["id"] for r, _ in APPENDIX_J])
    def test_worked_example(self, raw: dict[str, Any], expected: float) -> None:
        apr = answer_of(raw)["apr_percent"]
        assert abs(apr - expected) <= 0.01
        assert round(apr, 2) == expected

    def test_c4ii_counts_whole_months_then_days_over_30(self) -> None:
        # 1978-01-10 → 1978-03-01 on a two-month unit: 1 month + 22 days, not 50/60.
        unit = Unit("months", 2, 6)
        assert span(D("1978-01-10"), D("1978-03-01"), unit) == Span(0, (1 + 22 / 30) / 2)
        assert round(answer_of(APPENDIX_J[10][0])["apr_percent"], 2) == 7.30

    def test_term_unit_given_to_four_decimals(self) -> None:
        raw = dict(APPENDIX_J[11][0], unit_periods_per_year=1.4314)
        answer = answer_of(raw)
        assert round(answer["apr_percent"], 2) == 11.45
        assert answer["irr_periodic"] == pytest.approx(8.0, abs=1e-9)
        assert answer["unit_period"] == "term (255 days)"

    @pytest.mark.skipif(not SHARED_EXAMPLES.exists(), reason="shared vectors not checked out")
    def test_shared_file_as_wrapped_list(self) -> None:
        data = json.loads(SHARED_EXAMPLES.read_text(encoding="utf-8"))
        answers = apr_answers(data)
        assert len(answers) == 11
        for answer, example in zip(answers, data["appendix_j_examples"], strict=True):
            assert answer["id"] == example["id"]
            assert round(answer["apr_percent"], 2) == example["expected_apr_percent"]
        built = {r["id"]: r["payments"] for r, _ in APPENDIX_J}
        for example in data["appendix_j_examples"]:
            assert example["payments"] == built[example["id"]], example["id"]

    @pytest.mark.parametrize(
        ("start", "end", "unit", "expected"),
        [
            # semimonth: 02-23 → 03-01 is 6 days, /15
            ("1978-02-23", "1978-03-01", Unit("semimonth", 1, 24), Span(0, 6 / 15)),
            ("1978-02-23", "1978-03-16", Unit("semimonth", 1, 24), Span(1, 6 / 15)),
            ("1978-02-16", "1978-03-16", Unit("semimonth", 1, 24), Span(2, 0.0)),
            # weeks: 33 days on a 1-week unit
            ("1978-03-20", "1978-04-22", Unit("days", 7, 52), Span(4, 5 / 7)),
            # 4 weeks
            ("1978-03-18", "1978-04-20", Unit("days", 28, 13), Span(1, 5 / 28)),
            # months: clamped to the month end when counting back from the 31st
            ("1978-01-31", "1978-03-31", Unit("months", 1, 12), Span(2, 0.0)),
            ("1978-02-10", "1978-04-01", Unit("months", 1, 12), Span(1, 19 / 30)),
            # quarter with a long first period: 4 months 9 days
            ("1978-05-23", "1978-10-01", Unit("months", 3, 4), Span(1, (1 + 9 / 30) / 3)),
            # year: days/365
            ("2023-10-26", "2023-11-30", Unit("years", 1, 1), Span(0, 35 / 365)),
            ("2020-01-10", "2021-03-01", Unit("years", 1, 1), Span(1, 51 / 365)),
            ("1978-01-10", "1978-01-10", Unit("months", 1, 12), Span(0, 0.0)),
        ],
    )
    def test_span(self, start: str, end: str, unit: Unit, expected: Span) -> None:
        got = span(D(start), D(end), unit)
        assert got.whole == expected.whole
        assert got.fraction == pytest.approx(expected.fraction, abs=1e-12)

    @pytest.mark.parametrize(
        ("advance", "first", "per_year", "step", "expected"),
        [
            # extra edge cases of FSharp.Finance.Personal (tests/AprUsActuarialTests.fs)
            ("1978-06-23", "1978-10-01", 4, "q", 9.15),
            ("1978-07-23", "1978-10-01", 4, "q", 9.32),
            ("2023-10-26", "2023-11-30", 365, 1, 94.15),
            ("2023-10-28", "2023-11-30", 52, 7, 176.52),
            ("2023-11-23", "2023-11-30", 52, 7, 412.40),
            ("2023-11-24", "2023-11-30", 52, 7, 434.30),
            ("2023-10-26", "2023-11-30", 1, "y", 78.34),
        ],
    )
    def test_more_unit_periods(
        self, advance: str, first: str, per_year: int, step: int | str, expected: float
    ) -> None:
        if step == "q":
            payments = monthly(D(first), 40, 385.0, 3)
            amount = 10000.0
        elif step == "y":
            payments = monthly(D(first), 5, 500.0, 12)
            amount = 1000.0
        else:
            assert isinstance(step, int)
            payments = every_days(D(first), 5, 220.0 if step == 1 else 250.0, step)
            amount = 1000.0
        raw = schedule_dict("x", amount, D(advance), payments, per_year)
        assert round(answer_of(raw)["apr_percent"], 2) == expected

    def test_v13_three_monthly_payments(self) -> None:
        t0 = D("2024-01-15")
        raw = schedule_dict("v13", 975, t0, monthly(add_months(t0, 1), 3, 340.0), 12)
        assert answer_of(raw)["apr_percent"] == 27.4849

    def test_multiple_advances_on_one_time_scale(self) -> None:
        t0 = D("2024-01-10")
        payments = monthly(D("2024-02-10"), 24, 230.0)
        single = schedule_dict("one", 5000, t0, payments, 12)
        split = schedule_dict(
            "two",
            5000,
            t0,
            payments,
            12,
            advances=[
                {"date": "2024-01-10", "amount": 3000},
                {"date": "2024-01-10", "amount": 2000},
            ],
        )
        assert answer_of(split)["apr_percent"] == answer_of(single)["apr_percent"]
        # a later second advance costs the borrower less time on that money: higher APR
        later = dict(
            split,
            advances=[
                {"date": "2024-01-10", "amount": 3000},
                {"date": "2024-04-10", "amount": 2000},
            ],
        )
        assert answer_of(later)["apr_percent"] > answer_of(single)["apr_percent"]


# -- China: IRR of the actual cash flows --------------------------------------------------------


class TestChinaIrr:
    T0 = D("2024-01-15")

    def _monthly(self, amount: float, count: int, payment: float, **extra: Any) -> dict[str, Any]:
        return schedule_dict(
            "cn", amount, self.T0, monthly(add_months(self.T0, 1), count, payment), 12, **extra
        )

    def test_pboc_example_fee_at_disbursement(self) -> None:
        fee = [{"date": self.T0.isoformat(), "amount": 1000, "payee": "lender"}]
        answer = answer_of(self._monthly(100000, 12, 8833.30, fees=fee))
        assert round(answer["apr_simple"], 2) == 12.80
        assert round(answer["apr_compound"], 2) == 13.58
        assert answer["principal_disbursed"] == 99000
        # Appendix J takes amount_financed as given: the 10.90 % contract rate, which R2 says
        # is not an acceptable Chinese APR — the labels keep the two apart.
        assert round(answer["apr_percent"], 2) == 10.90
        assert answer["method"]["apr_simple"] == "irr_simple_annualised (单利)"
        assert answer["method"]["apr_compound"] == "irr_compound_annualised (复利)"
        assert answer["method"]["apr_percent"] == "appendix_j_actuarial"

    def test_r4_withheld_interest(self) -> None:
        answer = answer_of(self._monthly(10000, 12, 888.49, withheld=500))
        assert round(answer["apr_simple"], 2) == 21.86
        assert round(answer["apr_compound"], 2) == 24.18
        assert answer["principal_disbursed"] == 9500
        assert answer["fees_total"] == 500

    def test_withheld_equals_a_fee_at_disbursement(self) -> None:
        fee = [{"date": self.T0.isoformat(), "amount": 500, "payee": "guarantor"}]
        a = answer_of(self._monthly(10000, 12, 888.49, withheld=500))
        b = answer_of(self._monthly(10000, 12, 888.49, fees=fee))
        assert a["apr_compound"] == b["apr_compound"]

    def test_v15_fee_with_first_instalment_eu_effective_rate(self) -> None:
        fee = [{"date": add_months(self.T0, 1).isoformat(), "amount": 50, "payee": "lender"}]
        answer = answer_of(self._monthly(10000, 6, 1707.0, fees=fee))
        # EU 2008/48: time in months/12 → the compound annualisation of the monthly IRR
        assert round(answer["apr_compound"], 2) == 10.45

    def test_fee_paid_with_an_instalment_adds_to_it(self) -> None:
        first = add_months(self.T0, 1).isoformat()
        with_fee = self._monthly(
            10000, 12, 888.49, fees=[{"date": first, "amount": 30, "payee": "insurer"}]
        )
        bigger = self._monthly(10000, 12, 888.49)
        bigger["payments"][0]["amount"] = 888.49 + 30
        assert answer_of(with_fee)["irr_periodic"] == pytest.approx(
            answer_of(bigger)["irr_periodic"], abs=1e-9
        )
        # Appendix J ignores fees; China counts every payee's fee
        assert answer_of(with_fee)["apr_percent"] < answer_of(with_fee)["apr_simple"]

    def test_zero_fee_is_allowed(self) -> None:
        fee = [{"date": self.T0.isoformat(), "amount": 0, "payee": "platform"}]
        plain = answer_of(self._monthly(10000, 12, 888.49))
        assert (
            answer_of(self._monthly(10000, 12, 888.49, fees=fee))["apr_simple"]
            == plain["apr_simple"]
        )

    def test_simple_and_compound_from_the_periodic_rate(self) -> None:
        result = compute(parse_schedule(self._monthly(10000, 12, 888.49, withheld=500)))
        assert result.apr_simple == pytest.approx(result.irr_periodic * 12, rel=1e-15)
        assert result.apr_compound == pytest.approx((1 + result.irr_periodic) ** 12 - 1, rel=1e-12)


# -- R21 tolerance ------------------------------------------------------------------------------


def v17(**extra: Any) -> dict[str, Any]:
    return schedule_dict(
        "v17", 10000, D("2022-03-16"), monthly(D("2022-04-16"), 36, 322.67), 12, **extra
    )


class TestTolerance:
    def test_v17_eighth_of_a_point(self) -> None:
        schedule = parse_schedule(v17())
        ok, tolerance, exact = apr_tolerance_check(schedule, 10.12)
        assert ok
        assert tolerance == 0.125
        assert round(exact, 4) == 9.9996
        assert round(exact, 2) == 10.00
        assert not apr_tolerance_check(schedule, 10.13).ok
        assert apr_tolerance_check(schedule, 9.88).ok
        assert not apr_tolerance_check(schedule, 9.87).ok

    def test_in_the_answer(self) -> None:
        passing = answer_of(v17(disclosed_apr_percent=10.12))["tolerance"]
        assert passing["ok"]
        assert passing["code"] is None
        assert passing["tolerance_points"] == 0.125
        assert passing["exact_apr_percent"] == 9.9996
        failing = answer_of(v17(disclosed_apr_percent=10.13))["tolerance"]
        assert not failing["ok"]
        assert failing["code"] == OUT_OF_TOLERANCE
        assert "tolerance" not in answer_of(v17())

    @pytest.mark.parametrize(
        "example", ["c1i", "c1ii", "c1iii", "c1iv", "c1v", "c2i", "c2ii", "c3i", "c3ii", "c4i"]
    )
    def test_odd_first_period_or_first_final_payment_stay_regular(self, example: str) -> None:
        raw = next(r for r, _ in APPENDIX_J if r["id"] == example)
        assert irregularities(parse_schedule(raw)) == []

    def test_irregular_transactions_get_a_quarter_point(self) -> None:
        raw = v17()
        raw["payments"][10]["amount"] = 500.0  # an irregular payment mid-term
        schedule = parse_schedule(raw)
        assert irregularities(schedule) == ["irregular_payment_amounts"]
        exact = appendix_j_apr(schedule) * 100
        ok, tolerance, _ = apr_tolerance_check(schedule, exact + 0.2)
        assert ok
        assert tolerance == 0.25
        assert not apr_tolerance_check(schedule, exact + 0.26).ok

        skipped = v17()
        del skipped["payments"][5]  # a missed month: an irregular payment period
        assert irregularities(parse_schedule(skipped)) == ["irregular_payment_periods"]

        split = v17(
            advances=[
                {"date": "2022-03-16", "amount": 6000},
                {"date": "2022-05-16", "amount": 4000},
            ]
        )
        assert irregularities(parse_schedule(split)) == ["multiple_advances"]

    def test_month_end_schedule_is_regular(self) -> None:
        ends = ["2023-01-31", "2023-02-28", "2023-03-31", "2023-04-30", "2023-05-31"]
        raw = schedule_dict("eom", 1000, D("2022-12-31"), [(D(d), 210.0) for d in ends], 12)
        assert irregularities(parse_schedule(raw)) == []


# -- validation ---------------------------------------------------------------------------------


class TestValidation:
    def bad(self, raw: Any) -> dict[str, str]:
        with pytest.raises(ValidationFailed) as exc:
            apr_answers(raw)
        assert exc.value.status_code == 422
        return field_errors(exc)

    def test_no_payments(self) -> None:
        assert "payments" in self.bad(v17() | {"payments": []})
        missing = v17(fees=[])
        del missing["payments"]
        assert self.bad(missing) == {"payments": "Field required"}

    def test_payment_before_the_advance(self) -> None:
        raw = v17()
        raw["payments"][0]["date"] = "2022-03-15"
        errors = self.bad(raw)
        assert "before the advance" in errors["payments[0].date"]

    def test_negative_and_zero_amounts(self) -> None:
        raw = v17()
        raw["payments"][3]["amount"] = -1
        assert "payments[3].amount" in self.bad(raw)
        assert "amount_financed" in self.bad(v17(amount_financed=0))
        assert "fees[0].amount" in self.bad(
            v17(fees=[{"date": "2022-03-16", "amount": -5, "payee": "lender"}])
        )
        assert "withheld" in self.bad(v17(withheld=-1))

    def test_fee_before_the_advance(self) -> None:
        errors = self.bad(v17(fees=[{"date": "2022-03-01", "amount": 5}]))
        assert "fees[0].date" in errors

    def test_unit_periods_per_year(self) -> None:
        assert "unit_periods_per_year" in self.bad(v17(unit_periods_per_year=10))
        # a 'term' unit needs a single payment whose term matches 365/term_days
        assert "unit_periods_per_year" in self.bad(v17(unit_periods_per_year=365 / 30))
        single = dict(APPENDIX_J[11][0], unit_periods_per_year=1.5)
        assert "unit_periods_per_year" in self.bad(single)

    def test_dates_must_be_iso(self) -> None:
        assert "advance_date" in self.bad(v17(advance_date="16/03/2022"))
        assert "advance_date" in self.bad(v17(advance_date="2022-02-30"))
        assert "advance_date" in self.bad(v17(advance_date=1647388800))

    def test_amounts_must_be_numbers(self) -> None:
        """A decimal string is a number (as in events and offers); text and booleans are not."""
        assert parse_schedule(v17(amount_financed="10000")).amount_financed == 10000.0
        assert "amount_financed" in self.bad(v17(amount_financed="ten thousand"))
        assert "amount_financed" in self.bad(v17(amount_financed=True))

    def test_withheld_cannot_swallow_the_advance(self) -> None:
        assert "withheld" in self.bad(v17(withheld=10000))

    def test_advances_must_match_amount_and_date(self) -> None:
        wrong_total = v17(advances=[{"date": "2022-03-16", "amount": 9000}])
        assert "advances" in self.bad(wrong_total)
        wrong_date = v17(
            advances=[
                {"date": "2022-03-17", "amount": 5000},
                {"date": "2022-03-18", "amount": 5000},
            ]
        )
        assert "advance_date" in self.bad(wrong_date)

    def test_several_schedules_name_the_entry(self) -> None:
        third = v17()
        third["payments"][0]["date"] = "2020-01-01"
        errors = self.bad([v17(), v17(), third])
        assert list(errors) == ["schedules[2].payments[0].date"]
        wrapped = self.bad({"description": "x", "loans": [v17(), third]})
        assert list(wrapped) == ["loans[1].payments[0].date"]

    def test_shape_of_the_body(self) -> None:
        assert "body" in self.bad("nope")
        assert "body" in self.bad({"a": [], "b": []})
        assert "schedules" in self.bad([])
        too_many = [APPENDIX_J[11][0]] * (MAX_SCHEDULES + 1)
        assert "schedules" in self.bad(too_many)
        assert len(parse_schedules([APPENDIX_J[11][0]] * MAX_SCHEDULES)) == MAX_SCHEDULES

    def test_no_solution(self) -> None:
        # the only payment falls on the advance date: no rate can discount it
        raw = schedule_dict("stuck", 1000, D("2024-01-10"), [(D("2024-01-10"), 500.0)], 12)
        errors = self.bad(raw)
        assert "no rate solves" in errors["payments"]
        errors = self.bad([v17(), raw])
        assert "schedules[1].payments" in errors

    def test_extra_fields_are_ignored(self) -> None:
        raw = v17(title="a note", expected_apr_percent=10.0, unit_period="1 month(s)")
        assert answer_of(raw)["apr_percent"] == 9.9996

    def test_direct_schedule_is_checked_before_computing(self) -> None:
        raw = v17()
        raw["payments"][0]["date"] = "2020-01-01"
        schedule = Schedule.model_validate(raw)
        with pytest.raises(ValidationFailed) as exc:
            compute(schedule)
        assert "payments[0].date" in field_errors(exc)


# -- properties: a schedule built from a known rate gives that rate back ------------------------


MONTHS = {12: 1, 6: 2, 4: 3, 2: 6}
DAYS = {52: 7, 26: 14, 13: 28, 365: 1}


@st.composite
def regular_schedules(draw: st.DrawFn) -> tuple[float, date, list[tuple[date, float, int, float]]]:
    """A schedule with an odd first period: (k, advance, [(date, amount, whole, fraction)]).

    The (whole, fraction) of each payment is worked out here by construction, not by the
    engine: e.g. a first payment M months and e days after the advance (same day of month +
    e, no clamping) is M // m whole units and (M % m + e/30)/m of one.
    """
    k = draw(st.sampled_from([12, 6, 4, 2, 1, 52, 26, 13, 365, 24]))
    n = draw(st.integers(1, 48))
    regular = draw(st.floats(10, 5000))
    first_amount = draw(st.one_of(st.none(), st.floats(1, 5000)))
    last_amount = draw(st.one_of(st.none(), st.floats(1, 5000)))
    year = draw(st.integers(1970, 2060))
    month = draw(st.integers(1, 12))
    rows: list[tuple[date, int, float]] = []
    if k in MONTHS or k == 1:
        m = MONTHS.get(int(k), 12)
        day = draw(st.integers(1, 10))
        advance = date(year, month, day)
        # yearly units count whole years then days/365, so keep the odd part to days there
        extra_months = draw(st.integers(0, 2)) * 12 if k == 1 else draw(st.integers(0, 2 * m))
        extra_days = draw(st.integers(0 if extra_months else 1, 17))
        first = add_months(advance, extra_months).replace(day=day + extra_days)
        if k == 1:
            whole0, frac0 = extra_months // 12, extra_days / 365
        else:
            whole0, frac0 = extra_months // m, (extra_months % m + extra_days / 30) / m
        rows = [(add_months(first, j * m), whole0 + j, frac0) for j in range(n)]
    elif k in DAYS:
        size = DAYS[int(k)]
        advance = date(year, month, draw(st.integers(1, 28)))
        offset = draw(st.integers(1, 3 * size))
        rows = [
            (advance + timedelta(days=offset + j * size), offset // size + j, offset % size / size)
            for j in range(n)
        ]
    else:  # semimonth, payments on the 1st and 16th
        day = draw(st.integers(1, 15))
        advance = date(year, month, day)
        skip = draw(st.integers(0, 3))
        dates = [d for d, _ in semimonthly(date(year, month, 16), n + skip, 1.0)][skip:]
        whole0, frac0 = (skip + 1, 0.0) if day == 1 else (skip, (16 - day) / 15)
        rows = [(d, whole0 + j, frac0) for j, d in enumerate(dates)]
    payments = [(d, regular, whole, frac) for d, whole, frac in rows]
    if first_amount is not None:
        payments[0] = (payments[0][0], first_amount, *payments[0][2:])
    if last_amount is not None:
        payments[-1] = (payments[-1][0], last_amount, *payments[-1][2:])
    return float(k), advance, payments


@settings(max_examples=300, deadline=None)
@given(built=regular_schedules(), apr=st.floats(0.001, 3.0))
def test_appendix_j_returns_the_rate_it_was_built_from(
    built: tuple[float, date, list[tuple[date, float, int, float]]], apr: float
) -> None:
    k, advance, payments = built
    i = apr / k
    amount = sum(p / ((1 + f * i) * (1 + i) ** t) for _, p, t, f in payments)
    raw = schedule_dict("p", amount, advance, [(d, p) for d, p, _, _ in payments], k)
    assert appendix_j_apr(parse_schedule(raw)) == pytest.approx(apr, rel=1e-9, abs=1e-12)


@settings(max_examples=200, deadline=None)
@given(
    built=regular_schedules(),
    rate=st.floats(0.0001, 0.25),
    withheld=st.floats(0, 500),
    upfront_fee=st.floats(0, 500),
    fees=st.lists(st.tuples(st.integers(0, 47), st.floats(0, 200)), max_size=5),
)
def test_china_irr_returns_the_rate_it_was_built_from(
    built: tuple[float, date, list[tuple[date, float, int, float]]],
    rate: float,
    withheld: float,
    upfront_fee: float,
    fees: list[tuple[int, float]],
) -> None:
    k, advance, payments = built
    later = [(payments[j % len(payments)], fee) for j, fee in fees]
    net = sum(p * (1 + rate) ** -(t + f) for _, p, t, f in payments)
    net += sum(fee * (1 + rate) ** -(row[2] + row[3]) for row, fee in later)
    amount = net + withheld + upfront_fee
    # Appendix J (computed alongside) must have a root above -100 %: some payment at least a
    # unit period out, or payments that cover the amount financed within the first period.
    assume(
        any(t >= 1 for _, _, t, _ in payments)
        or sum(p / (1 - f) for _, p, _, f in payments) > amount
    )
    raw = schedule_dict(
        "p",
        amount,
        advance,
        [(d, p) for d, p, _, _ in payments],
        k,
        withheld=withheld,
        fees=[{"date": advance.isoformat(), "amount": upfront_fee, "payee": "guarantor"}]
        + [{"date": row[0].isoformat(), "amount": fee, "payee": "lender"} for row, fee in later],
    )
    result = compute(parse_schedule(raw))
    assert result.irr_periodic == pytest.approx(rate, rel=1e-9)
    assert result.apr_simple == pytest.approx(rate * k, rel=1e-9)
    assert result.apr_compound == pytest.approx((1 + rate) ** k - 1, rel=1e-8)
    assert result.principal_disbursed == pytest.approx(net)


@settings(max_examples=100, deadline=None)
@given(
    n=st.integers(2, 36),
    payment=st.floats(50, 2000),
    apr=st.floats(0.01, 0.6),
    second_after=st.integers(1, 6),
    share=st.floats(0.05, 0.5),
)
def test_multiple_advances_return_the_rate(
    n: int, payment: float, apr: float, second_after: int, share: float
) -> None:
    # construction-loan shape: the advances, then the payments from the month after the last
    advance = D("2021-03-05")
    i = apr / 12
    payments = monthly(add_months(advance, second_after + 1), n, payment)
    value = sum(payment / (1 + i) ** (second_after + j + 1) for j in range(n))
    second = share * value
    first = value - second / (1 + i) ** second_after
    raw = schedule_dict(
        "multi",
        first + second,
        advance,
        payments,
        12,
        advances=[
            {"date": advance.isoformat(), "amount": first},
            {"date": add_months(advance, second_after).isoformat(), "amount": second},
        ],
    )
    schedule = parse_schedule(raw)
    assert appendix_j_apr(schedule) == pytest.approx(apr, rel=1e-9)
    assert "multiple_advances" in irregularities(schedule)


def test_advance_after_the_payments_takes_the_root_nearest_zero() -> None:
    # -A1 at 0, +50 at months 1 and 2, -A2 at month 4: the value is negative at 0 and at
    # very high rates, so the bracket comes from the grid scan; the equation has two roots
    # and the lower one is kept.
    advance = D("2021-03-05")
    i = 0.5 / 12
    second = 50.0
    first = 50 / (1 + i) + 50 / (1 + i) ** 2 - second / (1 + i) ** 4
    raw = schedule_dict(
        "late-advance",
        first + second,
        advance,
        monthly(add_months(advance, 1), 2, 50.0),
        12,
        advances=[
            {"date": advance.isoformat(), "amount": first},
            {"date": add_months(advance, 4).isoformat(), "amount": second},
        ],
    )
    rate = appendix_j_apr(parse_schedule(raw)) / 12

    def residual(r: float) -> float:
        return 50 / (1 + r) + 50 / (1 + r) ** 2 - first - second / (1 + r) ** 4

    assert residual(rate) == pytest.approx(0, abs=1e-9)
    assert rate <= i + 1e-12
    assert all(residual(r) < 0 for r in (rate * k / 100 for k in range(0, 99)))


# -- CLI ----------------------------------------------------------------------------------------


class TestCli:
    def run(self, *args: str) -> Any:
        return CliRunner().invoke(cli_app, ["lending", "apr", *args], catch_exceptions=False)

    def test_json(self, tmp_path: Path) -> None:
        path = tmp_path / "examples.json"
        raw = {"description": "Appendix J", "examples": [r for r, _ in APPENDIX_J]}
        path.write_text(json.dumps(raw), encoding="utf-8")
        result = self.run(str(path), "--json")
        assert result.exit_code == 0, result.output
        answers = json.loads(result.stdout)
        assert [round(a["apr_percent"], 2) for a in answers] == [e for _, e in APPENDIX_J]

    def test_table(self, tmp_path: Path) -> None:
        path = tmp_path / "one.json"
        path.write_text(json.dumps(v17(disclosed_apr_percent=10.13)), encoding="utf-8")
        result = self.run(str(path))
        assert result.exit_code == 0, result.output
        assert "v17" in result.stdout
        assert "9.9996" in result.stdout
        assert OUT_OF_TOLERANCE in result.stdout

    def test_bad_input_exits_2_naming_the_field(self, tmp_path: Path) -> None:
        raw = [v17(), v17()]
        raw[1]["payments"][0]["amount"] = -5
        path = tmp_path / "bad.json"
        path.write_text(json.dumps(raw), encoding="utf-8")
        result = self.run(str(path), "--json")
        assert result.exit_code == 2
        error = json.loads(result.stderr)
        assert error["errors"][0]["field"] == "schedules[1].payments[0].amount"

    def test_malformed_or_missing_file_exits_2(self, tmp_path: Path) -> None:
        path = tmp_path / "broken.json"
        path.write_text("{not json", encoding="utf-8")
        assert self.run(str(path)).exit_code == 2
        missing = self.run(str(tmp_path / "missing.json"))
        assert missing.exit_code == 2
        assert "missing.json" in missing.stderr


# -- HTTP ---------------------------------------------------------------------------------------


def test_http_apr(app_client: Api) -> None:
    client = app_client.client
    checker = app_client.key("lending:check")

    many = client.post("/v1/lending/apr", json=[r for r, _ in APPENDIX_J], headers=checker)
    assert many.status_code == 200, many.text
    assert [round(a["apr_percent"], 2) for a in many.json()] == [e for _, e in APPENDIX_J]

    one = client.post("/v1/lending/apr", json=v17(disclosed_apr_percent=10.13), headers=checker)
    assert one.status_code == 200, one.text
    (answer,) = one.json()
    assert answer["apr_percent"] == 9.9996
    assert answer["tolerance"]["code"] == OUT_OF_TOLERANCE
    assert set(answer) >= {"id", "apr_percent", "irr_periodic", "apr_simple", "apr_compound"}
    assert answer["method"]["apr_simple"].endswith("(单利)")

    wrapped = client.post(
        "/v1/lending/apr", json={"note": "x", "loans": [v17(withheld=500)]}, headers=checker
    )
    assert wrapped.status_code == 200, wrapped.text

    # least privilege: another scope is not enough, no key is unauthorised
    other = client.post("/v1/lending/apr", json=v17(), headers=app_client.key("decisions:read"))
    assert other.status_code == 403
    assert other.headers["content-type"] == PROBLEM
    assert client.post("/v1/lending/apr", json=v17()).status_code == 401


def test_http_apr_refusals(app_client: Api) -> None:
    client = app_client.client
    checker = app_client.key("lending:check")
    bad = v17()
    bad["payments"][2]["date"] = "2021-01-01"
    response = client.post("/v1/lending/apr", json=[v17(), bad], headers=checker)
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    assert [e["field"] for e in response.json()["errors"]] == ["schedules[1].payments[2].date"]

    too_many = client.post(
        "/v1/lending/apr", json=[APPENDIX_J[11][0]] * (MAX_SCHEDULES + 1), headers=checker
    )
    assert too_many.status_code == 422
    assert too_many.json()["errors"][0]["field"] == "schedules"

    malformed = client.post(
        "/v1/lending/apr",
        content=b"{",
        headers={**checker, "content-type": "application/json"},
    )
    assert malformed.status_code == 400

    stuck = schedule_dict("stuck", 1000, D("2024-01-10"), [(D("2024-01-10"), 500.0)], 12)
    unsolvable = client.post("/v1/lending/apr", json=stuck, headers=checker)
    assert unsolvable.status_code == 422
    assert unsolvable.json()["errors"][0]["field"] == "payments"


def _as_decimal_strings(schedule: dict[str, Any]) -> dict[str, Any]:
    """The schedule with every amount and rate written as a decimal string, as events take
    them (``"322.67"``)."""
    out = dict(schedule)
    for key in ("amount_financed", "unit_periods_per_year", "withheld", "disclosed_apr_percent"):
        if key in out:
            out[key] = f"{out[key]:.2f}"
    for key in ("payments", "fees", "advances"):
        if key in out:
            out[key] = [{**flow, "amount": f"{flow['amount']:.2f}"} for flow in out[key]]
    return out


def test_http_apr_takes_decimal_strings_like_numbers(app_client: Api) -> None:
    """Money is read one way everywhere: a schedule written with decimal strings (refused
    before with one error per amount) gets the answer its numbers get."""
    checker = app_client.key("lending:check")
    numbers = v17(withheld=120.5, disclosed_apr_percent=10.13)
    numbers["fees"] = [{"date": "2022-03-16", "amount": 80.0, "payee": "lender"}]
    strings = _as_decimal_strings(numbers)
    assert isinstance(strings["payments"][0]["amount"], str)
    as_numbers = app_client.client.post("/v1/lending/apr", json=numbers, headers=checker)
    as_strings = app_client.client.post("/v1/lending/apr", json=strings, headers=checker)
    assert as_strings.status_code == 200, as_strings.text
    assert as_strings.json() == as_numbers.json()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (True, "not true or false"),
        ("NaN", "finite"),
        ("1e400", "out of range"),
        ("322,67", "decimal number"),
        ("-5", "greater than 0"),
        # one trillion, as events and offers: 1e30 financed gave a negative APR, not a refusal
        (10**30, "less than or equal"),
        ("1_000", "digits 0-9"),
        ("\uff11\uff12", "digits 0-9"),
    ],
)
def test_apr_refuses_what_is_not_an_amount(value: Any, message: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        parse_schedule(v17(amount_financed=value))
    (error,) = refused.value.errors
    assert error.field == "amount_financed"
    assert message in error.message


def test_apr_is_not_nan_for_extreme_rates() -> None:
    # a payday-style 14-day loan: 15 per 100, the kind of schedule that tests the bracket
    raw = schedule_dict("payday", 100, D("2024-01-01"), [(D("2024-01-15"), 115.0)], 26)
    answer = answer_of(raw)
    assert math.isfinite(answer["apr_percent"])
    assert round(answer["apr_percent"], 2) == 390.00
