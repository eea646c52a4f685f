"""Tables of the cases area: cases, their decisions and timeline, outreach, webhook deliveries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from lendguard.models.base import Base, PortableJSON, UTCDateTime


class Case(Base):
    """One customer's open matter: the interventions that led to it and what was done."""

    __tablename__ = "cases"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(128))
    case_type: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(32))
    # The highest decision score seen on the case: the queue's first ordering key.
    risk: Mapped[int] = mapped_column(Integer, default=0)
    scam_type: Mapped[str | None] = mapped_column(String(64), nullable=True)
    is_elderly: Mapped[bool] = mapped_column(default=False)
    held_amount: Mapped[float] = mapped_column(Float, default=0.0)
    assignee: Mapped[str | None] = mapped_column(String(128), nullable=True)
    outcome: Mapped[str | None] = mapped_column(String(32), nullable=True)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sla_due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    reopen_count: Mapped[int] = mapped_column(Integer, default=0)
    # Optimistic concurrency: every change bumps it; a stale writer gets a conflict.
    revision: Mapped[int] = mapped_column(Integer, default=1)

    __table_args__ = (
        Index("ix_cases_state_risk", "state", "risk", "opened_at"),
        Index("ix_cases_customer_state", "customer_id", "state"),
    )


class CaseDecision(Base):
    """A decision (intercept or block) filed under a case; a decision joins one case only."""

    __tablename__ = "case_decisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(String(64), index=True)
    decision_id: Mapped[str] = mapped_column(String(64), unique=True)
    event_id: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(16))
    amount: Mapped[float | None] = mapped_column(Float, nullable=True)
    # held -> released | cancelled, set by the case outcome (and the lender's webhook).
    hold_status: Mapped[str] = mapped_column(String(16), default="held")
    label: Mapped[str | None] = mapped_column(String(16), nullable=True)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # A held decision is released automatically at the end of this instant (N business days
    # of the jurisdiction's calendar after the decision, from the interventions policy) unless
    # the case flow released or cancelled it first. Null for rows filed before issue #19.
    hold_deadline: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # When and why the hold ended: case_resolved, released_by_agent, deadline, ...
    hold_ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    hold_end_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)


class CaseActivity(Base):
    """The case timeline: every action with its actor, append-only."""

    __tablename__ = "case_activities"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(160))
    kind: Mapped[str] = mapped_column(String(32))
    detail: Mapped[dict[str, Any]] = mapped_column(PortableJSON)


class OutreachTask(Base):
    """A call to make: the dissuasion callback, or the trusted contact of an elderly customer."""

    __tablename__ = "outreach_tasks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(32))  # dissuasion_callback | trusted_contact_call
    script_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | done
    outcome: Mapped[str | None] = mapped_column(String(32), nullable=True)
    notes: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    done_by: Mapped[str | None] = mapped_column(String(160), nullable=True)


class WebhookDelivery(Base):
    """One message to the lender (release or cancel a held transaction), until delivered."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    case_id: Mapped[str] = mapped_column(String(64), index=True)
    event_id: Mapped[str] = mapped_column(String(128))
    instruction: Mapped[str] = mapped_column(String(16))  # release | cancel
    url: Mapped[str] = mapped_column(Text)
    body: Mapped[dict[str, Any]] = mapped_column(PortableJSON)
    status: Mapped[str] = mapped_column(String(16))  # pending | delivered | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)

    __table_args__ = (
        UniqueConstraint("event_id", "instruction", name="uq_webhook_deliveries_event"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
    )


class WebhookAttempt(Base):
    """Every attempt of a delivery, successful or not."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    delivery_id: Mapped[str] = mapped_column(String(64), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    duration_ms: Mapped[float] = mapped_column(Float)
