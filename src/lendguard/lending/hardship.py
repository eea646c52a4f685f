"""The hardship plan calculator (R20, R28, R33 step 3–4): what a borrower in difficulty would
pay under a term extension, a lower instalment, or waived interest and penalties — with the
plan's true cost shown by the APR engine.

A plan is an annuity on the balance the borrower still owes (plus any penalties and overdue
interest that are *not* waived) at the plan's rate: 0 when interest is waived (R28 asks to
reduce, waive or cancel further interest while an arrangement runs), else the reduced or the
contract rate. The borrower picks a term or an affordable instalment; the term follows.
"""

from __future__ import annotations

import calendar
import math
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, model_validator

from lendguard.kit.bounds import PlausibleDate
from lendguard.kit.money import MAX_AMOUNT, DecimalNumber, Money
from lendguard.lending.apr import DATE_SCHEMA, money_schema

CENT = Decimal("0.01")
# The longest plan, however it is asked for (a term, or an instalment the term follows from):
# a plan is computed month by month, and an instalment of a cent on a large balance asked for
# a term of millions of months (the request never finished).
MAX_TERM_MONTHS = 600

# Amounts read as kit.money reads them (a decimal string or a JSON number, never a boolean, up
# to one trillion), as the contract states them.
Balance = Annotated[
    Money,
    Field(gt=0, le=MAX_AMOUNT, decimal_places=4),
    WithJsonSchema(money_schema(positive=True, decimals=4)),
]
Charge = Annotated[
    Money,
    Field(ge=0, le=MAX_AMOUNT, decimal_places=4),
    WithJsonSchema(money_schema(positive=False, decimals=4)),
]
AnnualRate = Annotated[
    DecimalNumber,
    Field(ge=0, le=1000),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "minimum": 0, "maximum": 1000},
                {"type": "string", "pattern": "^(?:0|[1-9][0-9]{0,2})(?:\\.[0-9]{1,8})?$"},
            ],
            "examples": ["18"],
        }
    ),
]


class HardshipRequest(BaseModel):
    """A hardship plan to quote or offer: exactly one of ``term_months`` and
    ``target_instalment`` (the term then follows), at most 600 months either way."""

    # The contract states no other field. "Exactly one of" stays in the description: a
    # top-level oneOf beside the properties made client generators give up on the body's type.
    model_config = ConfigDict(json_schema_extra={"additionalProperties": False})

    customer_id: str = Field(min_length=1, max_length=128)
    product: Literal["loan", "credit_card"] = "loan"
    jurisdiction: Literal["CN", "UK", "US"] = "CN"
    balance: Balance = Field(description="principal still owed")
    overdue_interest: Charge = Decimal(0)
    penalties: Charge = Decimal(0)
    contract_rate_percent: AnnualRate = Field(description="annual nominal rate")
    plan_rate_percent: AnnualRate | None = Field(
        default=None, description="a reduced rate for the plan; default contract"
    )
    waive_interest: bool = False
    waive_penalties: bool = False
    term_months: int | None = Field(default=None, ge=1, le=MAX_TERM_MONTHS)
    target_instalment: Balance | None = None
    start_date: Annotated[PlausibleDate, WithJsonSchema(DATE_SCHEMA)]
    # UK (R28): a debt-advice signpost in the arrangement letter, and why interest still
    # accrues if it does.
    debt_advice_signposted: bool = False
    interest_justification: str | None = Field(default=None, max_length=2000)

    @model_validator(mode="after")
    def _term_or_instalment(self) -> HardshipRequest:
        if (self.term_months is None) == (self.target_instalment is None):
            raise ValueError("give exactly one of term_months or target_instalment")
        return self


class PlanError(ValueError):
    """A plan that cannot exist (an instalment that never repays the balance)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def add_months(start: date, months: int) -> date:
    """The same day of the month ``months`` later, clamped to the month's last day."""
    index = start.year * 12 + start.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(start.day, last))


def _cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def quote(request: HardshipRequest, term_cap_months: int | None) -> dict[str, Any]:
    """The plan: instalment, term, dated schedule, totals, what is waived, and findings
    (``PLAN_TERM_ABOVE_CAP``; for UK plans ``ARRANGEMENT_BALANCE_ESCALATING`` and
    ``NO_DEBT_ADVICE_SIGNPOST``). The APR fields are filled by :func:`with_cost`."""
    owed = request.balance
    waived = Decimal(0)
    if request.waive_penalties:
        waived += request.penalties + request.overdue_interest
    else:
        owed += request.penalties + request.overdue_interest
    rate = (
        Decimal(0)
        if request.waive_interest
        else (
            request.plan_rate_percent
            if request.plan_rate_percent is not None
            else request.contract_rate_percent
        )
    )
    monthly = rate / Decimal(1200)
    if request.term_months is not None:
        term = request.term_months
    else:
        assert request.target_instalment is not None
        term = _term_for(owed, monthly, request.target_instalment)
    instalment = _annuity(owed, monthly, term)
    schedule: list[dict[str, Any]] = []
    remaining = owed
    total_interest = Decimal(0)
    for k in range(1, term + 1):
        interest = _cents(remaining * monthly)
        pay = instalment if k < term else _cents(remaining + interest)
        principal = pay - interest
        remaining -= principal
        total_interest += interest
        schedule.append(
            {"date": add_months(request.start_date, k).isoformat(), "amount": float(pay)}
        )
    contract_monthly = request.contract_rate_percent / Decimal(1200)
    contract_interest = _annuity(owed, contract_monthly, term) * term - owed
    if rate < request.contract_rate_percent:
        waived += max(Decimal(0), _cents(contract_interest - total_interest))
    findings: list[dict[str, str]] = []
    if request.product == "credit_card" and term_cap_months is not None and term > term_cap_months:
        findings.append(
            {
                "code": "PLAN_TERM_ABOVE_CAP",
                "requirement": "R20",
                "message": f"{term} instalments; a credit-card hardship plan may have at most "
                f"{term_cap_months}",
            }
        )
    if request.jurisdiction == "UK":
        if rate > 0 and not request.interest_justification:
            findings.append(
                {
                    "code": "ARRANGEMENT_BALANCE_ESCALATING",
                    "requirement": "R28",
                    "message": "interest still accrues during the arrangement with no recorded "
                    "justification",
                }
            )
        if not request.debt_advice_signposted:
            findings.append(
                {
                    "code": "NO_DEBT_ADVICE_SIGNPOST",
                    "requirement": "R28",
                    "message": "the arrangement letter does not signpost free debt advice",
                }
            )
    return {
        "customer_id": request.customer_id,
        "product": request.product,
        "jurisdiction": request.jurisdiction,
        "amount_owed": float(owed),
        "plan_rate_percent": float(rate),
        "term_months": term,
        "instalment": float(instalment),
        "schedule": schedule,
        "total_paid": float(sum(Decimal(str(p["amount"])) for p in schedule)),
        "total_interest": float(total_interest),
        "waived": float(waived),
        "findings": findings,
        "allowed": not any(f["code"] == "PLAN_TERM_ABOVE_CAP" for f in findings),
    }


def _annuity(owed: Decimal, monthly: Decimal, term: int) -> Decimal:
    if monthly == 0:
        return _cents(owed / term)
    factor = (1 + monthly) ** term
    if factor == 1:
        # A rate too small to move 1 + monthly at Decimal's 28 digits (a billionth of a percent
        # a year): the interest is below a cent on any balance, and the division was by zero.
        return _cents(owed / term)
    return _cents(owed * monthly * factor / (factor - 1))


def _term_for(owed: Decimal, monthly: Decimal, instalment: Decimal) -> int:
    """The fewest months in which ``instalment`` repays ``owed`` at ``monthly``."""
    if monthly == 0:
        return _bounded_term(math.ceil(owed / instalment), instalment)
    interest = owed * monthly
    if instalment <= interest:
        raise PlanError(
            "target_instalment",
            f"an instalment of {instalment} does not cover the monthly interest of "
            f"{_cents(interest)}: the balance would never fall",
        )
    m = float(monthly)
    # log1p, not log(1 + m): at a rate of a millionth of a percent 1 + m is 1.0 in floats and
    # the term was a division by zero (a 500).
    share = float(owed) * m / float(instalment)
    if share >= 1:  # the float rounding of the Decimal check above
        raise PlanError(
            "target_instalment",
            f"an instalment of {instalment} does not cover the monthly interest of "
            f"{_cents(interest)}: the balance would never fall",
        )
    n = -math.log1p(-share) / math.log1p(m)
    return _bounded_term(math.ceil(n - 1e-9), instalment)


def _bounded_term(months: float, instalment: Decimal) -> int:
    if months > MAX_TERM_MONTHS:
        raise PlanError(
            "target_instalment",
            f"an instalment of {instalment} would take more than {MAX_TERM_MONTHS} months",
        )
    return max(1, int(months))
