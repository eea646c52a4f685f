"""The public event contract.

Field names here are the public API: add, never rename or remove. Unknown top-level fields are
moved into ``attributes`` so nothing a lender sends is lost; an unknown field inside one of the
contract's objects (``session``) is refused as not a known field.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from lendguard.kit.bounds import CLOCK_ALLOWANCE, BirthDate, Instant, PastInstant
from lendguard.kit.money import MAX_AMOUNT, FloatNumber, Measure, Money, WholeNumber

# -- the plausible range of every value (validated at the edge: outside it, 422 naming the field) --

# Amounts and balances: finite decimals up to one trillion in the event's currency
# (kit.money.MAX_AMOUNT, the bound of offers and APR schedules too).
# ``attributes`` may nest objects and lists this deep, no deeper.
MAX_ATTRIBUTE_DEPTH = 16
# Identifiers never hold control characters; free text may hold tab, line feed and carriage
# return, never NUL or another control character.
_IDENTIFIER_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f]")
TEXT_FORBIDDEN = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _identifier(value: str) -> str:
    if _IDENTIFIER_FORBIDDEN.search(value):
        raise ValueError("must not contain control characters")
    return value


Identifier = Annotated[str, AfterValidator(_identifier)]


def free_text_problem(
    value: Any, path: str = "", depth: int = 0, max_depth: int = MAX_ATTRIBUTE_DEPTH
) -> tuple[str, str] | None:
    """The first ``(field path, message)`` of a JSON value that holds a forbidden control
    character (in a key or a string) or nests deeper than ``max_depth`` (the value itself is
    level 0; a dict or list inside it is level 1, and so on)."""
    if isinstance(value, str):
        if TEXT_FORBIDDEN.search(value):
            return path, "must not contain NUL or control characters (tab and newline allowed)"
        return None
    if isinstance(value, dict | list):
        if depth > max_depth:
            return path, f"nests deeper than {max_depth} levels"
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            if isinstance(key, str) and TEXT_FORBIDDEN.search(key):
                return f"{path}.{key!r}".lstrip("."), "a key must not contain control characters"
            found = free_text_problem(item, f"{path}.{key}".lstrip("."), depth + 1, max_depth)
            if found is not None:
                return found
    return None


def _checked_free_form(value: dict[str, Any]) -> dict[str, Any]:
    """``value`` if :func:`free_text_problem` finds nothing; else an error whose context names
    the inner path (``validation_errors`` appends it to the field)."""
    # ``attributes`` (or the profile's extra fields) is level 1 itself.
    problem = free_text_problem(value, depth=1)
    if problem is not None:
        path, message = problem
        raise PydanticCustomError("nested_value", "{message}", {"path": path, "message": message})
    return value


def _look_alike(key: str, known: frozenset[str] | set[str]) -> str | None:
    """The known field ``key`` reads as once invisible (format) characters, full-width forms,
    surrounding blanks and upper case are set aside, when ``key`` is not that field itself."""
    plain = "".join(c for c in key if unicodedata.category(c) != "Cf")
    plain = unicodedata.normalize("NFKC", plain).strip().lower()
    return plain if plain != key and plain in known else None


def _refuse_look_alikes(keys: Iterable[str], known: frozenset[str] | set[str]) -> None:
    for key in keys:
        field = _look_alike(key, known)
        if field is not None:
            raise PydanticCustomError(
                "look_alike_field",
                "is not the field '{field}': the name holds invisible, full-width, blank or "
                "upper-case characters",
                {"path": key, "field": field},
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


PayeeNameCheck = Literal["match", "close_match", "no_match", "unavailable"]
"""The lender's payee name check (confirmation of payee): the name the customer typed against
the account holder's name at the receiving bank."""
VendorScore = Annotated[FloatNumber, Field(ge=0, le=1, allow_inf_nan=False)]
"""A vendor's score, 0 to 1, read as every number is (``kit.money.float_input``): a JSON number
or a decimal string, never a boolean, NaN or an infinity."""
AllianceHitKind = Literal["resident_id", "mobile", "card", "device_id"]
"""An identifier kind of the anti-fraud alliance's lists (issue #20; alliance.canonical)."""
# The session fields that are derived from biometric data (PIPL Art. 28: sensitive personal
# information, separate consent, Art. 29): scores and verdicts of the lender's vendors and the
# vendor's opaque voice id. No template (face image, voiceprint) ever has a field here.
BIOMETRIC_SESSION_FIELDS = (
    "liveness_passed",
    "liveness_score",
    "face_match_score",
    "voiceprint_match_score",
    "known_fraudster_voice",
    "voice_id",
)


class SessionSignals(BaseModel):
    """What the lender's app sees on the device while the customer acts, and what the
    lender's vendors reported for this session.

    The four flags are the app's own. Every vendor result is optional: absent means "not
    checked" (unknown to the rules, never "passed" or "failed"). LendGuard takes the vendor's
    verdict, scores and opaque ids only: a face image, a voice recording or a biometric template
    has no field here, so it can never be stored.
    """

    model_config = ConfigDict(extra="forbid")

    call_active: bool = False
    screen_share_active: bool = False
    remote_control_app: bool = False
    screen_recording_active: bool = False
    payee_name_check: PayeeNameCheck | None = None
    liveness_passed: bool | None = None
    liveness_score: VendorScore | None = None
    face_match_score: VendorScore | None = None
    voiceprint_match_score: VendorScore | None = None
    known_fraudster_voice: bool | None = None
    # The voice vendor's id of the speaker (never the voiceprint): the same voice heard on
    # several customers' sessions joins them in the entity-link graph.
    voice_id: Identifier | None = Field(default=None, min_length=1, max_length=128)
    # The device-fingerprint vendor's risk of this device.
    device_risk_score: VendorScore | None = None
    # When the customer's SIM card was last swapped (the carrier's answer): not after the
    # event (see ``Event._sim_swap_not_after_the_event``).
    sim_swap_at: Instant | None = None
    # The anti-fraud alliance's answer for this customer (issue #20; POST /v1/alliance/lookups
    # returns it as ``signal``): the identifier kinds another lender of the alliance has listed.
    # Absent: not asked (no rule fires); empty: asked, no member listed any of them. Kinds only,
    # never the identifiers or which lender.
    alliance_hit: list[AllianceHitKind] | None = Field(default=None, max_length=4)

    @field_validator("alliance_hit", mode="after")
    @classmethod
    def _alliance_kinds_once(
        cls, value: list[AllianceHitKind] | None
    ) -> list[AllianceHitKind] | None:
        """A kind named twice counts once (several members, or several identifiers of one
        kind, may have hit); the order of first mention is kept."""
        return None if value is None else list(dict.fromkeys(value))


class RiskAssessment(BaseModel):
    """The customer's assessed risk understanding and tolerance (R12), C1 (lowest) to C5."""

    level: str = Field(pattern=r"^C[1-5]$")
    assessed_at: Instant
    valid_days: WholeNumber | None = Field(default=None, ge=1, le=3650)


class Affordability(BaseModel):
    """A repayment-ability assessment (R32): when it was made and the inputs it used."""

    assessed_at: Instant
    monthly_income: Money | None = Field(default=None, ge=0, le=MAX_AMOUNT)
    monthly_debt_service: Money | None = Field(default=None, ge=0, le=MAX_AMOUNT)


class CreditSituation(BaseModel):
    """What the lender knows of the borrower's debts (R27, R30, R31): from its own books, the
    credit report and what the customer said. Every field is optional; absent means unknown."""

    as_of: Instant | None = None
    # months (YYYY-MM) in which a payment was missed or late, any lender
    missed_payment_months: list[str] | None = Field(default=None, max_length=120)
    consecutive_missed_repayments: WholeNumber | None = Field(default=None, ge=0, le=10_000)
    active_lenders: WholeNumber | None = Field(default=None, ge=0, le=10_000)
    inquiries_6m: WholeNumber | None = Field(default=None, ge=0, le=10_000)
    utilisation: Measure | None = Field(default=None, ge=0, le=1_000, allow_inf_nan=False)
    last_repaid_other_lender_at: Instant | None = None
    # the customer's own words: keeping up with bills and credit is a "heavy_burden",
    # "somewhat" of a burden, or "none"
    self_reported_burden: str | None = Field(
        default=None, pattern=r"^(heavy_burden|somewhat|none)$"
    )
    adverse_credit_entries: WholeNumber | None = Field(default=None, ge=0, le=10_000)
    unpaid_judgments: WholeNumber | None = Field(default=None, ge=0, le=10_000)
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

    birth_date: BirthDate | None = None
    is_student: bool | None = None
    vulnerable: bool | None = None
    created_at: PastInstant | None = None
    risk_assessment: RiskAssessment | None = None
    affordability: Affordability | None = None
    credit: CreditSituation | None = None

    @model_validator(mode="after")
    def _extra_fields_plain_and_shallow(self) -> CustomerProfile:
        if self.model_extra:
            _refuse_look_alikes(self.model_extra, set(CustomerProfile.model_fields))
            _checked_free_form(self.model_extra)
        return self


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

    event_id: Identifier = Field(min_length=1, max_length=128)
    type: EventType
    occurred_at: Instant
    customer_id: Identifier = Field(min_length=1, max_length=128)
    amount: Money | None = Field(default=None, ge=0, le=MAX_AMOUNT, max_digits=20, decimal_places=4)
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$", validate_default=True)
    channel: Identifier | None = Field(default=None, max_length=32)
    device_id: Identifier | None = Field(default=None, max_length=128)
    ip: Identifier | None = Field(default=None, max_length=64)
    payee_id: Identifier | None = Field(default=None, max_length=128)
    payer_id: Identifier | None = Field(default=None, max_length=128)
    phone: Identifier | None = Field(default=None, max_length=128)
    card_id: Identifier | None = Field(default=None, max_length=128)
    address_id: Identifier | None = Field(default=None, max_length=128)
    balance_before: Money | None = Field(
        default=None, ge=-MAX_AMOUNT, le=MAX_AMOUNT, max_digits=20, decimal_places=4
    )
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
        # "amount<ZWSP>" kept as an attribute would be decided as an event with no amount.
        _refuse_look_alikes(unknown, _KNOWN_FIELDS)
        data = dict(data)
        attributes = data.get("attributes")
        attributes = dict(attributes) if isinstance(attributes, dict) else {}
        for key in unknown:
            if key in attributes and attributes[key] != data[key]:
                # Keeping either value would silently lose the other: refuse the event,
                # naming the field (``validation_errors`` puts the path in ``field``).
                raise PydanticCustomError(
                    "attribute_conflict",
                    "sent both at the top level and in attributes with different values",
                    {"path": key},
                )
            attributes[key] = data.pop(key)
        data["attributes"] = attributes
        return data

    @field_validator("attributes", mode="after")
    @classmethod
    def _attributes_plain_and_shallow(cls, value: dict[str, Any]) -> dict[str, Any]:
        return _checked_free_form(value)

    @field_validator("session", mode="after")
    @classmethod
    def _sim_swap_not_after_the_event(
        cls, value: SessionSignals, info: ValidationInfo
    ) -> SessionSignals:
        """A SIM swap the carrier reports after the event (beyond a day's allowance for the
        two clocks) is not a fact about this event: refused, naming ``session.sim_swap_at``.
        (Runs only for events that send a ``session``.)"""
        swapped = value.sim_swap_at
        if swapped is not None:
            occurred = info.data.get("occurred_at")
            if occurred is not None and swapped > occurred + CLOCK_ALLOWANCE:
                raise PydanticCustomError(
                    "nested_value",
                    "{message}",
                    {
                        "path": "sim_swap_at",
                        "message": "must not lie after the event's occurred_at",
                    },
                )
        return value

    @field_validator("currency", mode="after")
    @classmethod
    def _currency_with_amount(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None and info.data.get("amount") is not None:
            raise ValueError("currency is required when amount is given")
        return value


class EventBatch(BaseModel):
    events: list[dict[str, Any]] = Field(max_length=1000)
