"""The lending area's HTTP contract: request bodies as the OpenAPI document states them, and the
answers of the APR engine, the offer check, the hardship-plan calculator and the rescue ladder.

Amounts are read by :mod:`lendguard.kit.money` (a decimal string or a JSON number, the same
amount either way); :func:`lendguard.lending.apr.money_schema` states that in the contract with
the real bounds, so a client generator offers both spellings and every amount the schema allows
is accepted. The request models live beside the code that reads them (``apr.Schedule``,
``offers.Offer``, ``hardship.HardshipRequest``).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel

from lendguard.lending.apr import MAX_SCHEDULES, Schedule

# -- POST /v1/lending/apr --------------------------------------------------------------------------


ScheduleList = Annotated[list[Schedule], Field(min_length=1, max_length=MAX_SCHEDULES)]


class SchedulesByKey(
    RootModel[Annotated[dict[str, ScheduleList], Field(min_length=1, max_length=1)]]
):
    """An object whose one key holds the schedules (``{"examples": [...]}``, as in
    ``appendix_j_examples.json``); errors then name ``KEY[i].field``."""

    # A key that names a schedule field makes the object one schedule (apr._SCHEDULE_KEYS).
    model_config = ConfigDict(
        json_schema_extra={
            "propertyNames": {"not": {"enum": ["payments", "amount_financed", "advance_date"]}}
        }
    )


class AprRequest(RootModel[Schedule | ScheduleList | SchedulesByKey]):
    """One schedule, a list of up to 1,000, or an object whose one key holds that list. Read by
    the APR engine itself, so a bad entry is named ``schedules[i].field`` (or
    ``KEY[i].field``)."""


class Tolerance(BaseModel):
    """R21: the disclosed APR against the exact Appendix J APR."""

    disclosed_apr_percent: float
    exact_apr_percent: float
    tolerance_points: float = Field(description="0.125 regular, 0.25 irregular")
    irregular: bool
    irregular_reasons: list[str]
    ok: bool
    code: Literal["APR_OUT_OF_TOLERANCE"] | None


class AprMethods(BaseModel):
    """How each rate is computed."""

    apr_percent: str
    irr_periodic: str
    apr_simple: str
    apr_compound: str


class AprAnswer(BaseModel):
    """One schedule's rates, in percent to 4 decimals."""

    id: str
    apr_percent: float = Field(description="Appendix J actuarial APR (US disclosure)")
    irr_periodic: float = Field(description="IRR of the borrower's cash flows per unit period")
    apr_simple: float = Field(description="the IRR annualised simply (单利)")
    apr_compound: float | None = Field(
        description="the IRR compounded over a year (复利); null when it is past any float"
    )
    unit_periods_per_year: float
    unit_period: str
    principal_disbursed: float
    fees_total: float
    method: AprMethods
    tolerance: Tolerance | None = Field(
        default=None, description="present when the schedule carries disclosed_apr_percent"
    )


AprAnswers = list[AprAnswer]


# -- POST /v1/lending/offers/check -----------------------------------------------------------------


class Finding(BaseModel):
    """One finding of the offer check, with the requirement and the policy value behind it."""

    model_config = ConfigDict(extra="allow")

    code: str
    requirement: str
    message: str
    policy: dict[str, Any] | None = Field(
        default=None, description="the policy value, its version and source"
    )
    severity: Literal["warn"] | None = None
    computed: dict[str, float] | None = None
    missing: list[str] | None = None


class OfferCheck(BaseModel):
    id: str
    as_of: date
    jurisdiction: Literal["CN", "US", "UK"]
    policy_version: str | None
    cost: AprAnswer
    findings: list[Finding]
    compliant: bool


# -- hardship plans --------------------------------------------------------------------------------


class PlanPayment(BaseModel):
    date: date
    amount: float


class PlanFinding(BaseModel):
    code: Literal[
        "PLAN_TERM_ABOVE_CAP", "ARRANGEMENT_BALANCE_ESCALATING", "NO_DEBT_ADVICE_SIGNPOST"
    ]
    requirement: str
    message: str


class PlanCost(BaseModel):
    """The plan's true cost through the APR engine (R33: its cost is shown)."""

    apr_percent: float
    apr_simple: float
    apr_compound: float | None
    method: AprMethods


class PlanQuote(BaseModel):
    customer_id: str
    product: Literal["loan", "credit_card"]
    jurisdiction: Literal["CN", "UK", "US"]
    amount_owed: float
    plan_rate_percent: float
    term_months: int
    instalment: float
    schedule: list[PlanPayment]
    total_paid: float
    total_interest: float
    waived: float
    findings: list[PlanFinding]
    allowed: bool = Field(description="false when a finding blocks the plan (R20's term cap)")
    cost: PlanCost


class ProposedPlan(PlanQuote):
    id: str
    status: Literal["proposed"]


class PlanDecision(BaseModel):
    id: str
    status: Literal["agreed", "declined"]
    decided_at: datetime


# -- the rescue ladder -----------------------------------------------------------------------------


class StepCount(BaseModel):
    count: int
    customers: int = Field(description="distinct customers")


class PlanCounts(BaseModel):
    proposed: int
    agreed: int
    declined: int


class RescueSummary(BaseModel):
    steps: dict[str, StepCount] = Field(description="per R33 step, e.g. CREDIT_FREEZE")
    plans: PlanCounts


class RescueStep(BaseModel):
    step: str
    at: datetime
    source: str
    detail: dict[str, Any] | None


class RescuePlan(BaseModel):
    id: str
    status: Literal["proposed", "agreed", "declined"]
    term_months: int
    instalment: float
    created_at: datetime
    decided_at: datetime | None


class ConductFlagView(BaseModel):
    id: int
    flag: str
    since: datetime
    until: datetime | None
    active: bool
    reason: str | None
    source: str | None
    actor: str | None


class RescueCustomer(BaseModel):
    customer_id: str
    steps: list[RescueStep]
    plans: list[RescuePlan]
    flags: list[ConductFlagView]
