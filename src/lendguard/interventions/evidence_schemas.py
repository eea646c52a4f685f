"""The typed contract of the evidence pack: one export per case or per customer of every
intervention, for disputes, reimbursement claims and the regulator.

The models describe exactly the JSON :class:`~lendguard.interventions.evidence.EvidencePacks`
sends. Every time is an ISO 8601 string with its UTC offset, as the digest covers it (the pack is
sent as it was hashed, never re-serialised). Field names are the public API: add, never rename.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from lendguard.decisions.rules.loader import Action
from lendguard.decisions.schemas import CustomerMessage, ExplainedReason

Locale = Literal["zh-CN", "en"]


class EvidenceScope(BaseModel):
    """What the export covers."""

    kind: Literal["case", "customer"]
    case_id: str | None = Field(description="the case asked for; null for a customer's export")
    customer_id: str = Field(
        description="As stored: an id holding personal information is its pseudonym"
    )
    truncated: bool = Field(
        description="true when the customer had more interventions than one export holds: "
        "the newest are kept, the oldest left out"
    )


class CustomerWords(BaseModel):
    """The decision explained as the customer reads it, in one language."""

    text: str
    reasons: list[ExplainedReason]


class CustomerChoice(BaseModel):
    """What the customer did after the intervention, as far as LendGuard knows it."""

    code: Literal[
        "proceeded_after_questions",
        "warned_again_after_questions",
        "stopped_after_questions",
        "unknown",
    ] = Field(
        description="after answering the questions the payment went on (the follow-up allows "
        "or reminds), was dissuaded again, or was stopped (intercept or block); unknown: no "
        "questions were answered for this intervention"
    )
    challenge_outcome: str | None = Field(description="escalated, passed, unchanged or failed")
    follow_up_decision_id: str | None
    follow_up_action: Action | None


class InterventionShown(BaseModel):
    """One intervention (a decision at remind or more) and exactly what the customer saw."""

    decision_id: str
    event_id: str | None = Field(description="null only for a follow-up whose first is gone")
    event_type: str | None
    occurred_at: datetime | None
    decided_at: datetime = Field(
        description="when the message was shown (decided; a follow-up: when answered)"
    )
    channel: str = Field(description="the event's channel; app when the event named none")
    action: Action
    amount: str | None = Field(description="the event's amount as stored")
    currency: str | None
    messages: list[CustomerMessage] = Field(description="exactly as stored, one per language")
    explanation: dict[Locale, CustomerWords] = Field(
        description="the reasons in the customer's words, in both languages"
    )
    case_id: str | None = Field(description="the case the decision is filed under, if any")
    follow_up_of: str | None = Field(
        description="for the decision a challenge's answers gave: the first decision's id"
    )
    customer_choice: CustomerChoice


class QuestionsAnswered(BaseModel):
    """A challenge answered: the questions as shown and the answers given."""

    decision_id: str
    challenge_id: str
    policy_version: str
    locale: str
    channel: str
    questions: list[Any] = Field(description="as shown, in the locale shown")
    answers: dict[str, Any] = Field(description="personal information in free text masked")
    outcome: str = Field(description="escalated, passed, unchanged or failed")
    follow_up_decision_id: str
    follow_up_action: str
    follow_up_reasons: dict[Locale, list[str]] = Field(
        description="the follow-up decision's reasons in the customer's words"
    )
    follow_up_messages: list[Any] = Field(description="exactly as stored")
    release_at: datetime | None = Field(
        description="a cooling-off hold: when the payment goes ahead by itself"
    )
    shown_at: datetime | None
    answered_at: datetime
    actor: str


class HoldRecord(BaseModel):
    """A held payment and how its hold ended."""

    case_id: str
    decision_id: str
    event_id: str
    action: str
    amount: float | None
    added_at: datetime
    hold_status: str = Field(description="held, released or cancelled")
    hold_deadline: datetime | None
    hold_ended_at: datetime | None
    hold_end_reason: str | None


class CaseRecord(BaseModel):
    case_id: str
    case_type: str
    state: str
    scam_type: str | None
    outcome: str | None
    opened_at: datetime
    resolved_at: datetime | None


class EvidenceTimelineEntry(BaseModel):
    case_id: str
    at: datetime
    actor: str
    kind: str
    detail: dict[str, Any] = Field(description="personal information in free text masked")


class CallRecord(BaseModel):
    case_id: str
    kind: str
    status: str
    outcome: str | None
    notes: str = Field(description="personal information masked")
    created_at: datetime
    done_at: datetime | None
    done_by: str | None


class LenderNotification(BaseModel):
    """A release or cancel instruction sent to the lender for a held payment."""

    case_id: str
    event_id: str
    instruction: str
    status: str
    attempts: int
    created_at: datetime
    delivered_at: datetime | None


class LockEventRecord(BaseModel):
    at: datetime
    kind: str
    actor: str
    detail: dict[str, Any] = Field(description="personal information in free text masked")


class TrustedConfirmationRecord(BaseModel):
    decision_id: str
    status: str
    amount: float | None
    requested_at: datetime
    expires_at: datetime
    answered_at: datetime | None
    actor: str | None


class EvidenceSections(BaseModel):
    """Every section ordered by time, oldest first."""

    interventions: list[InterventionShown]
    challenges: list[QuestionsAnswered]
    holds: list[HoldRecord]
    cases: list[CaseRecord]
    case_timeline: list[EvidenceTimelineEntry]
    calls: list[CallRecord]
    lender_notifications: list[LenderNotification]
    money_lock: list[LockEventRecord]
    trusted_confirmations: list[TrustedConfirmationRecord]


class EvidenceDigest(BaseModel):
    algorithm: Literal["sha256"]
    value: str = Field(description="64 hex digits")
    covers: str = Field(
        description="how to recompute it: SHA-256 of the UTF-8 JSON of {scope, sections} with "
        "keys sorted and no spaces; generated_at and requested_by are outside it, so the same "
        "evidence exported twice (JSON or printed) carries the same digest"
    )


class EvidencePack(BaseModel):
    """One export of the interventions of a case or a customer."""

    scope: EvidenceScope
    generated_at: datetime
    requested_by: str = Field(description="the principal that asked for the export")
    sections: EvidenceSections
    digest: EvidenceDigest
