"""The typed contract of the trusted person (issue #19, item 4): registering a trusted contact,
and their answer on a payment held for them.

The contact's name and phone are accepted here and never answered back: they are kept only in
the encrypted vault (the rows hold keyed hashes)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, StrictBool

from lendguard.interventions.lock_schemas import NOT_BLANK, STRICT, JsonInt
from lendguard.lending.apr import NonNegativeAmount

# A phone number as dialled: an optional +, then 5 to 20 digits (no spaces or dashes).
PHONE = r"^\+?[0-9]{5,20}$"


class TrustedContactBody(BaseModel):
    """Register (or replace) the customer's trusted person, with the customer's consent."""

    model_config = STRICT

    name: str = Field(
        min_length=1, max_length=64, pattern=NOT_BLANK, description="the trusted person's name"
    )
    phone: str = Field(
        pattern=PHONE, description="the trusted person's phone: an optional + and 5 to 20 digits"
    )
    threshold: NonNegativeAmount = Field(
        description="outflows above this amount wait for the trusted person's confirmation"
    )
    consent_id: JsonInt = Field(
        ge=1,
        le=2**63 - 1,
        description="the consent ledger entry in which the customer agreed to share their "
        "payments with a trusted contact (purpose third_party_sharing, scope trusted_contact)",
    )


class TrustedContactView(BaseModel):
    """The registration as it stands (the contact's name and phone are never answered)."""

    customer_id: str = Field(description="the customer, as the request named them")
    threshold: float = Field(description="outflows above it wait for the trusted person")
    consent_id: int | None
    registered_at: datetime
    revoked_at: datetime | None = Field(description="null while the registration holds")
    active: bool


class TrustedConfirmationBody(BaseModel):
    """The trusted person's answer on a payment held for them."""

    model_config = STRICT

    confirmed: StrictBool = Field(description="true: the payment may go ahead; false: it may not")
    by: Literal["trusted_contact"] = Field(description="who answered: the trusted contact")


class TrustedConfirmationView(BaseModel):
    decision_id: str
    status: Literal["confirmed", "declined"]
    amount: float | None = Field(description="the held payment's amount")
    requested_at: datetime = Field(description="when the payment was held for the answer")
    expires_at: datetime = Field(description="the answer was due by then")
    answered_at: datetime
