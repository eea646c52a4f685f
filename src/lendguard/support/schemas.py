"""The support area's HTTP contract for complaints and service metrics: request bodies as the
OpenAPI document states them, and the answers of the complaint queue and the service desk.

The complaint and service-desk services validate their own requests (the CLI, the console and
flows call them too). The bodies here are those models, with the contract stating what the
services check beyond the Python types: a complaint's ``to`` names a state, its ``product`` and
root causes name taxonomy entries, a time carries its UTC offset and lies between 1970 and
2099. Each body is an instance of the service's model, so the service takes it as it is.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from lendguard.kit.bounds import BoundedDatetime, Instant
from lendguard.support.complaints import ComplaintState, NewComplaint, TransitionFields
from lendguard.support.service_desk import (
    ID_PATTERN,
    MAX_DAYS,
    CloseContact,
    FirstResponse,
    NewContact,
    NewSurvey,
)
from lendguard.support.taxonomy import load_taxonomy

# An aware instant from 1970 to 2099 (kit.bounds), as the contract states it: RFC 3339 with its
# UTC offset; a naive time is refused (whose clock would it be?).
INSTANT_PATTERN = (
    r"^(?:19[7-9][0-9]|20[0-9]{2})-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
    r"T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,6})?"
    r"(?:Z|[+-](?:0[0-9]|1[0-3]):[0-5][0-9])$"
)
INSTANT_SCHEMA: dict[str, Any] = {
    "type": "string",
    "format": "date-time",
    "pattern": INSTANT_PATTERN,
}
# A topic as the service desk compares it (service_desk.TOPIC_PATTERN, read case-blind).
TOPIC_SCHEMA: dict[str, Any] = {
    "type": "string",
    "maxLength": 64,
    "pattern": r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$",
}


@cache
def _taxonomy_ids() -> tuple[list[str], list[str]]:
    """The shipped taxonomy's product and root-cause ids (read once, when the contract is
    built)."""
    taxonomy = load_taxonomy()
    return sorted(taxonomy.products), sorted(taxonomy.root_causes)


def _optional(schema: dict[str, Any], description: str) -> Any:
    """A ``json_schema_extra`` that states a nullable field as ``schema`` or null."""

    def state(field: dict[str, Any]) -> None:
        field.pop("anyOf", None)
        field.pop("type", None)
        field.update(anyOf=[schema, {"type": "null"}], description=description)

    return state


def _instant(description: str) -> Any:
    return _optional(INSTANT_SCHEMA, description)


def _product(field: dict[str, Any]) -> None:
    _optional(
        {"type": "string", "enum": _taxonomy_ids()[0]},
        "a taxonomy product id (GET /v1/complaints/taxonomy); classified from the narrative "
        "when absent",
    )(field)


def _root_causes(field: dict[str, Any]) -> None:
    _optional(
        {
            "type": "array",
            "items": {"type": "string", "enum": _taxonomy_ids()[1]},
            "maxItems": 10,
        },
        "taxonomy root-cause ids (GET /v1/complaints/taxonomy); closing needs at least one",
    )(field)


# A body whose model ignores unknown fields (for older clients) still states none: a client
# generator builds exactly the fields the service reads.
_NO_OTHER_FIELDS = ConfigDict(json_schema_extra={"additionalProperties": False})


def _states(field: dict[str, Any]) -> None:
    field.update(enum=[s.value for s in ComplaintState])


def _staff(field: dict[str, Any]) -> None:
    field["items"] = {"type": "string", "maxLength": 160}


# -- complaint requests ----------------------------------------------------------------------------


class ComplaintCreate(NewComplaint):
    """A complaint as it is taken in. The narrative is stored with personal information
    masked. ``received_at`` (default now) may not lie in the future."""

    model_config = _NO_OTHER_FIELDS

    product: str | None = Field(default=None, max_length=48, json_schema_extra=_product)
    received_at: BoundedDatetime | None = Field(
        default=None,
        json_schema_extra=_instant("when the complaint reached the lender (default: now)"),
    )
    staff_involved: list[str] = Field(default_factory=list, max_length=20, json_schema_extra=_staff)


class ComplaintTransition(TransitionFields):
    """Move a complaint to ``to``. A move the current state does not allow is a 409 naming the
    allowed ones; ``responded`` needs ``response_summary``; ``closed`` needs a decision and
    root causes; ``extended`` takes the extension's fields."""

    model_config = _NO_OTHER_FIELDS

    to: str = Field(min_length=1, max_length=32, json_schema_extra=_states)
    root_cause_tags: list[str] | None = Field(
        default=None, max_length=10, json_schema_extra=_root_causes
    )
    revision: int | None = Field(
        default=None, description="the revision read: a 409 when the complaint changed since"
    )


class ComplaintExtension(BaseModel):
    """An extension of the deadline (a transition to ``extended``)."""

    model_config = _NO_OTHER_FIELDS

    reason: str = Field(default="", max_length=4000)
    complainant_notified: bool = False
    to_day: int | None = Field(default=None, ge=1, le=3650)
    note: str = Field(default="", max_length=4000)
    revision: int | None = Field(
        default=None, description="the revision read: a 409 when the complaint changed since"
    )
    approver_level: Literal["staff", "supervisor", "manager", "senior", "executive"] | None = Field(
        default=None, description="recorded as the body's claim; grants nothing"
    )
    approved_by: str | None = Field(
        default=None, max_length=160, description="recorded as the body's claim; grants nothing"
    )


class ComplaintAssignment(BaseModel):
    model_config = _NO_OTHER_FIELDS

    assignee: str | None = Field(default=None, max_length=160, description="null: unassign")


# -- complaint answers -----------------------------------------------------------------------------


class ComplaintClock(BaseModel):
    """Where a complaint stands against its clock."""

    model_config = ConfigDict(extra="allow")

    jurisdiction: Literal["CN", "US", "UK"]
    policy_version: str
    received_day: str
    day: int
    limit_day: int
    due_day: str
    due_at: datetime
    extensions: int
    status: Literal["on_track", "due_soon", "overdue", "met", "met_late"]
    overdue: bool
    days_left: int | None
    elapsed_share: float
    decided_day: int | None = None
    summary_resolution_eligible: bool | None = None
    codes: list[str]


class EscalationReason(BaseModel):
    code: str
    points: float
    detail: str


class EscalationWarning(BaseModel):
    """The early warning that a complaint is heading to the regulator."""

    score: float
    probability: float
    band: Literal["low", "medium", "high"]
    logit: float
    intercept: float
    reasons: list[EscalationReason]


class ScamReason(BaseModel):
    cue: str
    reason: dict[str, str] = Field(description="zh-CN and en")


class ScamTriage(BaseModel):
    cue: bool
    type: str | None
    score: float
    cues: list[str]
    reasons: list[ScamReason]


class ComplaintView(BaseModel):
    id: str
    customer_id: str
    channel: str
    jurisdiction: Literal["CN", "US", "UK"]
    product: str
    product_source: str
    product_confidence: float
    issue: str
    issue_confidence: float
    classifier: str
    narrative: str = Field(description="personal information masked")
    pii_types: list[str]
    staff_involved: list[str]
    external_ref: str | None
    state: ComplaintState
    assignee: str | None
    received_at: datetime
    due_at: datetime
    acknowledged_at: datetime | None
    responded_at: datetime | None
    escalated_at: datetime | None
    closed_at: datetime | None
    response_summary: str | None
    regulator_reference: str | None
    root_cause_tags: list[str]
    root_cause_note: str | None
    prior_complaints: int
    extension_count: int
    extended_to_day: int | None
    clock: ComplaintClock
    overdue: bool
    escalation: EscalationWarning
    scam: ScamTriage
    allowed_transitions: list[ComplaintState]
    updated_at: datetime
    revision: int


class TimelineEntry(BaseModel):
    at: datetime
    actor: str
    kind: str
    detail: dict[str, Any]


class ExtensionRecord(BaseModel):
    step: int
    to_day: int
    reason: str
    approver_level: str
    approved_by: str | None
    complainant_notified: bool
    at: datetime
    actor: str


class Complaint(ComplaintView):
    """One complaint with its timeline and extensions."""

    timeline: list[TimelineEntry]
    extensions: list[ExtensionRecord]


class ComplaintQueue(BaseModel):
    total: int
    overdue: int
    complaints: list[ComplaintView]


class JurisdictionClockFigures(BaseModel):
    received: int
    open: int
    overdue: int
    due_soon: int
    decided: int
    decided_on_time: int
    decided_late: int
    extended: int
    escalated_to_regulator: int
    closed: int
    closed_with_root_cause: int
    on_time_rate: float | None
    median_days_to_decision: int | None


class ClockReport(BaseModel):
    generated_at: datetime
    since: datetime | None
    by_jurisdiction: dict[str, JurisdictionClockFigures]
    codes: dict[str, int]
    extensions_by_step: dict[int, int] = Field(description="keyed by the step number")


class TaxonomyCategory(BaseModel):
    id: str
    name: dict[str, str] = Field(description="zh-CN and en")
    risk: float
    lending: bool


class RootCause(BaseModel):
    id: str
    name: dict[str, str]


class ComplaintTaxonomy(BaseModel):
    products: list[TaxonomyCategory]
    issues: list[TaxonomyCategory]
    root_causes: list[RootCause]
    classifier: str


# -- service-desk requests -------------------------------------------------------------------------


class ContactOpen(NewContact):
    """A contact as the contact centre opens it: the same ``conversation_id`` again answers
    200 with the first record, or 409 when what it names differs."""

    conversation_id: str = Field(min_length=1, max_length=128, pattern=ID_PATTERN)
    opened_at: Instant | None = Field(
        default=None,
        json_schema_extra=_instant("the customer's first message (default: now); not later"),
    )
    topic: str | None = Field(
        default=None,
        max_length=64,
        json_schema_extra=_optional(TOPIC_SCHEMA, "what it is about; may be given at close"),
    )


class ContactFirstResponse(FirstResponse):
    responded_at: Instant | None = Field(
        default=None,
        json_schema_extra=_instant("the agent's first reply (default: now), after opened_at"),
    )


class ContactClose(CloseContact):
    closed_at: Instant | None = Field(
        default=None, json_schema_extra=_instant("default: now; after the first response")
    )
    topic: str | None = Field(
        default=None,
        max_length=64,
        json_schema_extra=_optional(TOPIC_SCHEMA, "required unless abandoned, if not given yet"),
    )


class SurveySubmission(NewSurvey):
    """One survey per contact; the comment is stored with personal information masked."""

    score: int = Field(
        ge=1,
        le=5,
        strict=True,
        description="CSAT, 1 (very dissatisfied) to 5",
        json_schema_extra={"enum": [1, 2, 3, 4, 5]},
    )
    submitted_at: Instant | None = Field(default=None, json_schema_extra=_instant("default: now"))


# -- service-desk answers --------------------------------------------------------------------------


class ContactView(BaseModel):
    conversation_id: str
    customer_id: str
    channel: Literal["phone", "chat", "app", "email", "in_person", "social_media"]
    jurisdiction: Literal["CN", "US", "UK"]
    topic: str | None
    state: Literal["open", "closed"]
    opened_at: datetime
    first_response_at: datetime | None
    first_response_seconds: float | None
    first_responder: str | None
    closed_at: datetime | None
    outcome: Literal["resolved", "escalated", "follow_up", "abandoned"] | None
    closed_by: str | None
    updated_at: datetime
    revision: int


class ContactChange(ContactView):
    replayed: bool = Field(description="true when the same request was already recorded")


class FcrView(BaseModel):
    status: Literal[
        "resolved_first_contact",
        "repeated",
        "not_resolved",
        "pending",
        "repeat",
        "open",
        "abandoned",
    ]
    window_days: float
    window_ends_at: datetime | None
    repeat_of: str | None
    repeated_by: str | None


class SurveyView(BaseModel):
    conversation_id: str
    score: int
    satisfied: bool
    comment: str | None = Field(description="personal information masked")
    pii_types: list[str]
    submitted_at: datetime
    recorded_at: datetime


class SurveyChange(SurveyView):
    replayed: bool


class Contact(ContactView):
    first_contact_resolution: FcrView
    survey: SurveyView | None


class FcrFigures(BaseModel):
    rate: float | None
    provisional_rate: float | None
    resolved_first_contact: int
    repeated: int
    not_resolved: int
    pending: int
    repeat_contacts: int
    open: int
    abandoned: int
    abandonment_rate: float | None


class FirstResponseFigures(BaseModel):
    responded: int
    awaiting: int
    median_seconds: float | None
    p90_seconds: float | None
    mean_seconds: float | None


class SatisfactionFigures(BaseModel):
    responses: int
    mean: float | None
    satisfied_share: float | None
    distribution: dict[str, int] = Field(description="scores 1 to 5")
    response_rate: float | None


class ServiceFigures(BaseModel):
    contacts: int
    first_contact_resolution: FcrFigures
    first_response: FirstResponseFigures
    satisfaction: SatisfactionFigures


class ServiceMetrics(ServiceFigures):
    generated_at: datetime
    since: datetime
    days: int = Field(ge=1, le=MAX_DAYS)
    jurisdiction: Literal["CN", "US", "UK"] | None
    fcr_window_days: dict[str, int]
    by_channel: dict[str, ServiceFigures]
