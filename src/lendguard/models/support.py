"""Tables of the support area: complaints, their timeline and their deadline extensions;
service contacts and their satisfaction surveys."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from lendguard.models.base import Base, PortableJSON, UTCDateTime


class Complaint(Base):
    """One complaint: what it is about (taxonomy), its clock and where it stands.

    The narrative is kept with personal information masked (it feeds analytics and the
    classifier); the original text is not stored.
    """

    __tablename__ = "complaints"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(128))
    channel: Mapped[str] = mapped_column(String(32))
    jurisdiction: Mapped[str] = mapped_column(String(8))
    policy_version: Mapped[str] = mapped_column(String(32))
    product: Mapped[str] = mapped_column(String(48))
    product_source: Mapped[str] = mapped_column(String(16))  # given | model | rules
    product_confidence: Mapped[float] = mapped_column(Float)
    issue: Mapped[str] = mapped_column(String(48))
    issue_confidence: Mapped[float] = mapped_column(Float)
    classifier: Mapped[str] = mapped_column(String(64))  # model:<trained_at> | rules
    narrative_masked: Mapped[str] = mapped_column(Text)
    pii_types: Mapped[list[str]] = mapped_column(PortableJSON)  # what the masking replaced
    staff_involved: Mapped[list[str]] = mapped_column(PortableJSON)
    external_ref: Mapped[str | None] = mapped_column(String(128), nullable=True)
    state: Mapped[str] = mapped_column(String(32))
    assignee: Mapped[str | None] = mapped_column(String(160), nullable=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # The current deadline: the first instant after the due day ends (local date); open and
    # undecided at or after it means overdue.
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    extension_count: Mapped[int] = mapped_column(Integer, default=0)
    extended_to_day: Mapped[int | None] = mapped_column(Integer, nullable=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    responded_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    response_summary: Mapped[str | None] = mapped_column(Text, nullable=True)
    regulator_reference: Mapped[str | None] = mapped_column(String(128), nullable=True)
    root_cause_tags: Mapped[list[str]] = mapped_column(PortableJSON)
    root_cause_note: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Earlier complaints by the customer within the repeat window, counted at intake.
    prior_complaints: Mapped[int] = mapped_column(Integer, default=0)
    escalation_score: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[str] = mapped_column(String(160))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revision: Mapped[int] = mapped_column(Integer, default=1)

    __table_args__ = (
        Index("ix_complaints_state_due", "state", "due_at"),
        Index("ix_complaints_customer_received", "customer_id", "received_at"),
    )


class ComplaintEvent(Base):
    """The complaint's timeline: intake, every transition, assignment and extension."""

    __tablename__ = "complaint_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    complaint_id: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(160))
    kind: Mapped[str] = mapped_column(String(32))
    detail: Mapped[dict[str, Any]] = mapped_column(PortableJSON)


class ComplaintExtension(Base):
    """A deadline extension as granted: its step, the reason, who approved it at what level,
    and whether the complainant was told."""

    __tablename__ = "complaint_extensions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    complaint_id: Mapped[str] = mapped_column(String(64), index=True)
    step: Mapped[int] = mapped_column(Integer)
    to_day: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    approver_level: Mapped[str] = mapped_column(String(16))
    approved_by: Mapped[str | None] = mapped_column(String(160), nullable=True)
    complainant_notified: Mapped[bool] = mapped_column(Boolean)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(160))

    __table_args__ = (
        UniqueConstraint("complaint_id", "step", name="uq_complaint_extensions_step"),
    )


class ServiceContact(Base):
    """One customer-service contact (a call, chat, app or email conversation, a branch visit):
    when the customer first wrote or called, when an agent first answered, how it ended and on
    which topic. First-contact resolution and time to first response are computed from these
    rows (``support/service_desk.py``); the conversation's text is not stored."""

    __tablename__ = "service_contacts"

    # The contact centre's own id for the conversation: the idempotency key.
    conversation_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(128))
    channel: Mapped[str] = mapped_column(String(16))
    jurisdiction: Mapped[str] = mapped_column(String(8))
    topic: Mapped[str | None] = mapped_column(String(64), nullable=True)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime())
    first_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    first_responder: Mapped[str | None] = mapped_column(String(160), nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # resolved | escalated | follow_up | abandoned
    outcome: Mapped[str | None] = mapped_column(String(16), nullable=True)
    closed_by: Mapped[str | None] = mapped_column(String(160), nullable=True)
    created_by: Mapped[str] = mapped_column(String(160))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revision: Mapped[int] = mapped_column(Integer, default=1)

    __table_args__ = (
        Index("ix_service_contacts_opened", "opened_at"),
        Index("ix_service_contacts_closed", "closed_at"),
        Index("ix_service_contacts_customer_topic", "customer_id", "topic", "opened_at"),
    )


class ServiceSurvey(Base):
    """The customer's satisfaction survey of one contact (CSAT, 1–5): at most one per contact.
    The comment is kept with personal information masked; the original text is not stored."""

    __tablename__ = "service_surveys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(String(128))
    customer_id: Mapped[str] = mapped_column(String(128))
    score: Mapped[int] = mapped_column(Integer)
    comment_masked: Mapped[str | None] = mapped_column(Text, nullable=True)
    pii_types: Mapped[list[str]] = mapped_column(PortableJSON)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    source: Mapped[str] = mapped_column(String(160))

    __table_args__ = (
        UniqueConstraint("conversation_id", name="uq_service_surveys_conversation_id"),
        Index("ix_service_surveys_customer", "customer_id"),
    )
