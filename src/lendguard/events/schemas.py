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


class CustomerProfile(BaseModel):
    """An optional profile update riding on an event; it updates the stored profile."""

    model_config = ConfigDict(extra="allow")

    birth_date: date | None = None
    is_student: bool | None = None
    vulnerable: bool | None = None
    created_at: AwareDatetime | None = None


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
