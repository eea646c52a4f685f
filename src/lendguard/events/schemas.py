"""The public event contract.

Field names here are the public API: add, never rename or remove. Unknown top-level fields are
moved into ``attributes`` so nothing a lender sends is lost.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)


class EventType(StrEnum):
    """Frozen list: add members, never remove them."""

    registration = "registration"
    login = "login"
    device_change = "device_change"
    profile_change = "profile_change"
    application = "application"
    limit_change = "limit_change"
    disbursement = "disbursement"
    repayment = "repayment"
    transfer = "transfer"
    withdrawal = "withdrawal"
    payment = "payment"
    deposit = "deposit"
    contact = "contact"
    consent_change = "consent_change"


OUTFLOW_TYPES = frozenset({EventType.transfer, EventType.withdrawal, EventType.payment})


class SessionSignals(BaseModel):
    """What the lender's app sees on the device while the customer acts."""

    model_config = ConfigDict(extra="forbid")

    call_active: bool = False
    screen_share_active: bool = False
    remote_control_app: bool = False
    screen_recording_active: bool = False


class RiskAssessment(BaseModel):
    """The customer's assessed risk understanding and tolerance (R12), C1 (lowest) to C5."""

    level: str = Field(pattern=r"^C[1-5]$")
    assessed_at: AwareDatetime
    valid_days: int | None = Field(default=None, ge=1, le=3650)


class Affordability(BaseModel):
    """A repayment-ability assessment (R32): when it was made and the inputs it used."""

    assessed_at: AwareDatetime
    monthly_income: Decimal | None = Field(default=None, ge=0)
    monthly_debt_service: Decimal | None = Field(default=None, ge=0)


class CreditSituation(BaseModel):
    """What the lender knows of the borrower's debts (R27, R30, R31): from its own books, the
    credit report and what the customer said. Every field is optional; absent means unknown."""

    as_of: AwareDatetime | None = None
    # months (YYYY-MM) in which a payment was missed or late, any lender
    missed_payment_months: list[str] | None = Field(default=None, max_length=120)
    consecutive_missed_repayments: int | None = Field(default=None, ge=0)
    active_lenders: int | None = Field(default=None, ge=0)
    inquiries_6m: int | None = Field(default=None, ge=0)
    utilisation: float | None = Field(default=None, ge=0)
    last_repaid_other_lender_at: AwareDatetime | None = None
    # the customer's own words: keeping up with bills and credit is a "heavy_burden",
    # "somewhat" of a burden, or "none"
    self_reported_burden: str | None = Field(
        default=None, pattern=r"^(heavy_burden|somewhat|none)$"
    )
    adverse_credit_entries: int | None = Field(default=None, ge=0)
    unpaid_judgments: int | None = Field(default=None, ge=0)
    essential_bills_unpaid: bool | None = None
    borrowing_to_repay: bool | None = None
    debt_solution: bool | None = None
    debt_adviser_contact: bool | None = None

    @field_validator("missed_payment_months")
    @classmethod
    def _months(cls, value: list[str] | None) -> list[str] | None:
        for month in value or []:
            year, _, mm = month.partition("-")
            if not (len(year) == 4 and year.isdigit() and mm.isdigit() and 1 <= int(mm) <= 12):
                raise ValueError(f"'{month}' is not a month (YYYY-MM)")
        return value


class CustomerProfile(BaseModel):
    """An optional profile update riding on an event; it updates the stored profile."""

    model_config = ConfigDict(extra="allow")

    birth_date: date | None = None
    is_student: bool | None = None
    vulnerable: bool | None = None
    created_at: AwareDatetime | None = None
    risk_assessment: RiskAssessment | None = None
    affordability: Affordability | None = None
    credit: CreditSituation | None = None


_KNOWN_FIELDS = frozenset(
    {
        "event_id",
        "type",
        "occurred_at",
        "customer_id",
        "amount",
        "currency",
        "channel",
        "device_id",
        "ip",
        "payee_id",
        "payer_id",
        "phone",
        "card_id",
        "address_id",
        "balance_before",
        "session",
        "customer",
        "attributes",
    }
)


class Event(BaseModel):
    """One customer event. ``amount`` is a decimal string or number with a currency."""

    model_config = ConfigDict(extra="forbid", frozen=False)

    event_id: str = Field(min_length=1, max_length=128)
    type: EventType
    occurred_at: AwareDatetime
    customer_id: str = Field(min_length=1, max_length=128)
    amount: Decimal | None = Field(default=None, ge=0, max_digits=20, decimal_places=4)
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$", validate_default=True)
    channel: str | None = Field(default=None, max_length=32)
    device_id: str | None = Field(default=None, max_length=128)
    ip: str | None = Field(default=None, max_length=64)
    payee_id: str | None = Field(default=None, max_length=128)
    payer_id: str | None = Field(default=None, max_length=128)
    phone: str | None = Field(default=None, max_length=128)
    card_id: str | None = Field(default=None, max_length=128)
    address_id: str | None = Field(default=None, max_length=128)
    balance_before: Decimal | None = Field(default=None, max_digits=20, decimal_places=4)
    session: SessionSignals = Field(default_factory=SessionSignals)
    customer: CustomerProfile | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _keep_unknown_fields(cls, data: Any) -> Any:
        """Move unknown top-level keys into ``attributes`` instead of dropping or refusing."""
        if not isinstance(data, dict):
            return data
        unknown = [key for key in data if key not in _KNOWN_FIELDS]
        if not unknown:
            return data
        data = dict(data)
        attributes = data.get("attributes")
        attributes = dict(attributes) if isinstance(attributes, dict) else {}
        for key in unknown:
            if key in attributes and attributes[key] != data[key]:
                # Keeping either value would silently lose the other: leave it at the top
                # level, where the model refuses it with the field named.
                continue
            attributes[key] = data.pop(key)
        data["attributes"] = attributes
        return data

    @field_validator("amount", "balance_before", mode="before")
    @classmethod
    def _no_floats_as_text_garbage(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError("must be a decimal number, not a boolean")
        return value

    @field_validator("currency", mode="after")
    @classmethod
    def _currency_with_amount(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None and info.data.get("amount") is not None:
            raise ValueError("currency is required when amount is given")
        return value


class EventBatch(BaseModel):
    events: list[dict[str, Any]] = Field(max_length=1000)
