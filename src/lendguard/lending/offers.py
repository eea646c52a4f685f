"""Offer and disclosure check (R1–R9, R11, R13, R21): a loan offer, product card or ad in,
findings out, each with the requirement, the policy value and the source that produced it.

The true cost comes from the APR engine over the offer's own cash flows (fees of every payee,
withheld amounts), so a card that shows the contract rate with the fees left out is caught by
arithmetic, not by keywords.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Annotated, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from lendguard.kit.bounds import PlausibleDate
from lendguard.kit.money import MAX_AMOUNT, DecimalNumber, Measure, Money, WholeNumber
from lendguard.lending.apr import (
    ALLOWED_UNIT_PERIODS,
    DATE_SCHEMA,
    money_schema,
    rate_schema,
)

# As the contract states them (see lendguard.lending.apr.money_schema): up to 4 decimal places,
# at most one trillion, a decimal string or a JSON number.
Date = Annotated[PlausibleDate, WithJsonSchema(DATE_SCHEMA)]
PositiveMoney = Annotated[
    Money,
    Field(gt=0, le=MAX_AMOUNT, decimal_places=4),
    WithJsonSchema(money_schema(positive=True, decimals=4)),
]
NonNegativeMoney = Annotated[
    Money,
    Field(ge=0, le=MAX_AMOUNT, decimal_places=4),
    WithJsonSchema(money_schema(positive=False, decimals=4)),
]
Percent = Annotated[DecimalNumber, Field(ge=0), WithJsonSchema(rate_schema())]
# The offer's parts ignore fields they do not know (a product card carries more); the contract
# states none, so a client generator builds exactly the fields the check reads.
_NO_OTHER_FIELDS = ConfigDict(json_schema_extra={"additionalProperties": False})

KEY_FACTS = (
    "product_nature",
    "interest",
    "fees",
    "apr",
    "main_risks",
    "default_liability",
    "exemptions",
)
ZERO_RATE_WORDS = re.compile(
    r"0\s*利息|零利息|免息|无息|0\s*息|interest[- ]free|0\s*%\s*interest", re.I
)


class Policy(Protocol):
    """The policy in force for one jurisdiction on one date."""

    def value(self, key: str) -> Any: ...

    def cite(self, key: str) -> dict[str, Any]: ...


class OfferFee(BaseModel):
    model_config = _NO_OTHER_FIELDS

    name: str = Field(min_length=1, max_length=120)
    amount: NonNegativeMoney
    payee: str = Field(min_length=1, max_length=120)
    payee_role: Literal["lender", "platform", "guarantor", "insurer", "other"] = "lender"
    date: Date | None = Field(default=None, description="absent: taken at disbursement")


class DisplayedRate(BaseModel):
    model_config = _NO_OTHER_FIELDS

    value_percent: Percent
    kind: Literal["apr", "daily", "monthly", "contract_annual"]
    method_label: Literal["simple", "compound"] | None = None
    font_size: Measure | None = Field(default=None, gt=0)


class OfferAddOn(BaseModel):
    model_config = _NO_OTHER_FIELDS

    name: str = Field(min_length=1, max_length=120)
    preselected: bool = False
    fee: NonNegativeMoney = Decimal(0)


class OfferPayment(BaseModel):
    model_config = _NO_OTHER_FIELDS

    date: Date
    amount: PositiveMoney


class OfferSigning(BaseModel):
    model_config = _NO_OTHER_FIELDS

    cost_statement_ack: bool = False
    view_seconds: Measure | None = Field(default=None, ge=0)


class Offer(BaseModel):
    model_config = _NO_OTHER_FIELDS

    id: str = Field(default="offer", max_length=128)
    jurisdiction: Literal["CN", "US", "UK"] = "CN"
    as_of: Date = Field(description="when the offer is shown or the contract is formed")
    lender_type: Literal[
        "bank", "consumer_finance", "microcredit", "private_lender", "other_licensed"
    ] = "bank"
    private_lending: bool = Field(default=False, description="民间借贷: the LPR×4 cap applies")
    platform_assisted: bool = Field(default=False, description="助贷: a platform brings the loan")
    internet_loan: bool = True
    principal: PositiveMoney = Field(description="the contract amount")
    withheld: NonNegativeMoney = Field(default=Decimal(0), description="deducted at disbursement")
    advance_date: Date
    payments: list[OfferPayment] = Field(min_length=1, max_length=1200)
    unit_periods_per_year: Annotated[
        WholeNumber,
        WithJsonSchema(
            {
                "type": "integer",
                "enum": list(ALLOWED_UNIT_PERIODS),
                "description": "Appendix J's unit periods a year (a single payment whose unit "
                "period is the term may also give 365/term_days)",
            }
        ),
    ] = 12
    contract_rate_percent: Percent | None = None
    fees: list[OfferFee] = Field(default_factory=list, max_length=100)
    displayed_rates: list[DisplayedRate] = Field(default_factory=list, max_length=20)
    credit_limit: NonNegativeMoney | None = None
    add_ons: list[OfferAddOn] = Field(default_factory=list, max_length=20)
    key_facts: dict[str, str | None] | None = Field(
        default=None,
        description="the key-facts screen: each of these facts, as shown (R11)",
        json_schema_extra=lambda field: field.update(
            anyOf=[
                {
                    "type": "object",
                    "properties": {
                        key: {"anyOf": [{"type": "string"}, {"type": "null"}]} for key in KEY_FACTS
                    },
                    "additionalProperties": False,
                },
                {"type": "null"},
            ]
        ),
    )
    ad_text: str | None = Field(default=None, max_length=20_000)
    full_time_student: bool = False
    signing: OfferSigning | None = None


def schedule_of(offer: Offer) -> dict[str, Any]:
    """The offer as an APR-engine schedule: fees dated at disbursement are withheld from the
    money the borrower receives; later fees are dated cash flows."""
    return {
        "id": offer.id,
        "amount_financed": float(offer.principal),
        "advance_date": offer.advance_date.isoformat(),
        "payments": [
            {"date": p.date.isoformat(), "amount": float(p.amount)} for p in offer.payments
        ],
        "unit_periods_per_year": offer.unit_periods_per_year,
        "withheld": float(offer.withheld),
        "fees": [
            {
                "date": (f.date or offer.advance_date).isoformat(),
                "amount": float(f.amount),
                "payee": f.payee,
            }
            for f in offer.fees
            if f.amount > 0
        ]
        + [
            {"date": offer.advance_date.isoformat(), "amount": float(a.fee), "payee": a.name}
            for a in offer.add_ons
            if a.fee > 0 and a.preselected
        ],
    }


def check_offer(offer: Offer, policy: Policy, cost: dict[str, Any]) -> list[dict[str, Any]]:
    """Findings for one offer. ``cost`` is the APR engine's answer for :func:`schedule_of`
    (``apr_percent``, ``apr_simple``, ``apr_compound`` in percent); ``policy`` the lending
    policy of the offer's jurisdiction in force on its date."""
    findings: list[dict[str, Any]] = []

    def add(
        code: str, requirement: str, message: str, key: str | None = None, **extra: Any
    ) -> None:
        finding = {"code": code, "requirement": requirement, "message": message, **extra}
        if key is not None:
            finding["policy"] = policy.cite(key)
        findings.append(finding)

    simple = float(cost["apr_simple"])
    # None: compounding is past any float (a rate of millions of percent a day).
    compound = math.inf if cost["apr_compound"] is None else float(cost["apr_compound"])
    aprs = [r for r in offer.displayed_rates if r.kind == "apr"]
    other_rates = [r for r in offer.displayed_rates if r.kind in ("daily", "monthly")]
    has_charges = offer.withheld > 0 or any(f.amount > 0 for f in offer.fees)

    # R1: the annualised rate is shown, and nothing else outshines it
    if offer.jurisdiction == "CN":
        if not aprs:
            if policy.value("apr_display"):
                add(
                    "MISSING_APR", "R1", "no annualised rate (年化利率) is displayed", "apr_display"
                )
        else:
            apr_font = max((r.font_size or 0.0) for r in aprs)
            louder = [r for r in other_rates if (r.font_size or 0.0) > apr_font]
            if louder:
                add(
                    "APR_NOT_PROMINENT",
                    "R1",
                    f"a {louder[0].kind} rate is shown larger (font {louder[0].font_size}) than "
                    f"the annualised rate (font {apr_font})",
                    "apr_display",
                )
        # R2: the displayed APR must include every fee, on the money actually received
        tolerance = float(policy.value("apr_display_tolerance_points"))
        for shown in aprs:
            value = float(shown.value_percent)
            floor = simple if shown.method_label != "compound" else compound
            if value < floor - tolerance:
                add(
                    "APR_EXCLUDES_FEES",
                    "R2",
                    f"displayed {value:.2f}% but the cash flows give {simple:.2f}% simple / "
                    f"{compound:.2f}% compound with every fee and withheld amount",
                    "apr_display",
                    computed={"apr_simple": round(simple, 4), "apr_compound": cost["apr_compound"]},
                )
            # R3: a figure without its method label
            if shown.method_label is None:
                add(
                    "APR_METHOD_UNLABELED",
                    "R3",
                    f"the {value:.2f}% rate does not say whether it is simple (单利) or compound",
                    "apr_display",
                )
        # R5: private lending, LPR × 4 at contract formation
        judicial_cap = policy.value("judicial_cap_percent")
        if offer.private_lending and judicial_cap is not None:
            cap = float(judicial_cap)
            rate = max(simple, float(offer.contract_rate_percent or 0))
            if rate > cap:
                add(
                    "RATE_ABOVE_JUDICIAL_CAP",
                    "R5",
                    f"{rate:.2f}% is above the judicial protection cap of {cap:.2f}% on "
                    f"{offer.as_of} (one-year LPR {policy.value('lpr_1y_percent')}%)",
                    "judicial_cap_percent",
                )
        else:
            # R6/R7: licensed lenders, 24% all-in (the basis is configurable)
            ceiling = float(policy.value("all_in_ceiling_percent"))
            basis = str(policy.value("all_in_basis"))
            over = {"simple": simple > ceiling, "compound": compound > ceiling}
            hit = over["simple"] or over["compound"] if basis == "either" else over[basis]
            if hit:
                add(
                    "ABOVE_24_ALL_IN",
                    "R6",
                    f"all-in cost {simple:.2f}% simple / {compound:.2f}% compound is above "
                    f"{ceiling:.0f}% (basis: {basis})",
                    "all_in_ceiling_percent",
                    severity="warn",
                )
            if over["simple"] != over["compound"]:
                add(
                    "CAP_BASIS_AMBIGUOUS",
                    "R7",
                    f"only the {'simple' if over['simple'] else 'compound'} figure is above "
                    f"{ceiling:.0f}%: the verdict depends on the annualisation method",
                    "all_in_basis",
                    severity="warn",
                )
        # R7: platform operators may not charge the borrower
        if offer.platform_assisted and policy.value("platform_fee_prohibited"):
            for fee in offer.fees:
                if fee.payee_role == "platform" and fee.amount > 0:
                    add(
                        "PLATFORM_FEE_PROHIBITED",
                        "R7",
                        f"fee '{fee.name}' ({fee.amount}) is charged by the platform operator "
                        f"{fee.payee}",
                        "platform_fee_prohibited",
                    )
        # R8: the all-in cost statement before signing
        if offer.signing is not None and policy.value("cost_statement_required"):
            minimum = float(policy.value("cost_statement_min_view_seconds"))
            viewed = offer.signing.view_seconds
            if not offer.signing.cost_statement_ack or (viewed is not None and viewed < minimum):
                add(
                    "COST_STATEMENT_NOT_ACKNOWLEDGED",
                    "R8",
                    "the all-in cost statement (综合融资成本明示表) was not acknowledged"
                    + (f", or read for under {minimum:.0f} s" if viewed is not None else ""),
                    "cost_statement_min_view_seconds",
                )
        # R9: product limits
        limit_cap = policy.value("internet_loan_limit_cap")
        if offer.internet_loan and offer.credit_limit is not None and limit_cap is not None:
            cap_limit = Decimal(str(limit_cap))
            if offer.credit_limit > cap_limit:
                add(
                    "LIMIT_ABOVE_CAP",
                    "R9",
                    f"credit line {offer.credit_limit} is above {cap_limit} for internet loans",
                    "internet_loan_limit_cap",
                )
        if (
            offer.full_time_student
            and offer.lender_type == "microcredit"
            and policy.value("student_lending_microcredit")
        ):
            add(
                "STUDENT_LENDING_PROHIBITED",
                "R9",
                "microcredit companies may not make internet consumer loans to college students",
                "student_lending_microcredit",
            )
    # R21: a US disclosure within the Appendix J tolerance
    if offer.jurisdiction == "US" and "tolerance" in cost:
        for shown in aprs:
            check = cost["tolerance"]
            if not check["ok"]:
                add(
                    "APR_OUT_OF_TOLERANCE",
                    "R21",
                    f"disclosed {float(shown.value_percent):.2f}% is more than "
                    f"{check['tolerance_points']} points from the Appendix J APR "
                    f"{float(cost['apr_percent']):.4f}%",
                )
    # R11: the key-facts screen
    if offer.key_facts is not None:
        missing = [k for k in KEY_FACTS if not (offer.key_facts.get(k) or "").strip()]
        if missing:
            add(
                "KEY_FACT_MISSING",
                "R11",
                f"the key-facts screen lacks {missing}",
                missing=missing,
            )
    # R13: "0 interest" with charges and no non-zero APR next to it; pre-selected add-ons
    if offer.ad_text and ZERO_RATE_WORDS.search(offer.ad_text):
        shows_cost = any(r.value_percent > 0 for r in aprs)
        if (has_charges or simple > 0) and not shows_cost:
            add(
                "MISLEADING_ZERO_RATE",
                "R13",
                f"the ad says zero interest, but the loan costs {simple:.2f}% (simple) and no "
                "non-zero annualised rate is shown",
            )
    for add_on in offer.add_ons:
        if add_on.preselected:
            add(
                "FORCED_BUNDLE",
                "R13",
                f"add-on '{add_on.name}' is pre-selected in the loan flow",
            )
    return findings


class _NoPolicy:
    """Jurisdictions without a lending policy file: only the universal checks run."""

    def value(self, key: str) -> Any:
        return None

    def cite(self, key: str) -> dict[str, Any]:
        return {"name": key, "note": "no lending policy for this jurisdiction"}


def check(raw: Any) -> dict[str, Any]:
    """The answer of ``POST /v1/lending/offers/check`` and ``lendguard lending check-offer``:
    the offer's true cost and its findings. Bad input is a 422 naming the field."""
    from lendguard.errors import FieldError, ValidationFailed
    from lendguard.kit.validation import validated
    from lendguard.lending.apr import compute, parse_schedule
    from lendguard.lending.lending_policy import LendingPolicy
    from lendguard.policies import NoPolicyInForce

    offer = validated(Offer, raw, "invalid offer")
    schedule = schedule_of(offer)
    if offer.jurisdiction == "US":
        shown = [r for r in offer.displayed_rates if r.kind == "apr"]
        if shown:
            schedule["disclosed_apr_percent"] = float(shown[0].value_percent)
    cost = compute(parse_schedule(schedule, "offer"), "offer").as_answer()
    policy: Policy = _NoPolicy()
    if offer.jurisdiction == "CN":
        try:
            policy = LendingPolicy(offer.jurisdiction, offer.as_of)
        except NoPolicyInForce as exc:
            # An offer dated before the first policy version: nothing to check it against (it
            # was a 500).
            raise ValidationFailed(
                "no lending policy is in force on the offer's date",
                errors=[FieldError("as_of", str(exc))],
            ) from None
    findings = check_offer(offer, policy, cost)
    version = getattr(getattr(policy, "policy", None), "version", None)
    return {
        "id": offer.id,
        "as_of": offer.as_of.isoformat(),
        "jurisdiction": offer.jurisdiction,
        "policy_version": version,
        "cost": cost,
        "findings": findings,
        "compliant": not findings,
    }
