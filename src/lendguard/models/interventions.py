"""Tables of the interventions area (issue #19): challenge answers and their follow-up
decisions, money locks and their history, trusted contacts and their confirmations.

Holds live on ``case_decisions`` (a held decision is filed under a case); their deadline and
release columns are added there.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from lendguard.models.base import Base, PortableJSON, UTCDateTime


class ChallengeResponse(Base):
    """A challenge answered: the questions exactly as shown, the answers, and the follow-up
    decision they produced (linked to the first decision). One per decision."""

    __tablename__ = "challenge_responses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    decision_id: Mapped[str] = mapped_column(String(64), unique=True)
    customer_id: Mapped[str] = mapped_column(String(128), index=True)
    challenge_id: Mapped[str] = mapped_column(String(64))
    policy_version: Mapped[str] = mapped_column(String(64))
    locale: Mapped[str] = mapped_column(String(8))
    channel: Mapped[str] = mapped_column(String(16))
    # [{"id", "kind", "text", "options": [...]}] in the locale shown
    questions: Mapped[list[Any]] = mapped_column(PortableJSON)
    answers: Mapped[dict[str, Any]] = mapped_column(PortableJSON)
    # passed | failed | escalated
    outcome: Mapped[str] = mapped_column(String(16))
    follow_up_decision_id: Mapped[str] = mapped_column(String(64), unique=True)
    follow_up_action: Mapped[str] = mapped_column(String(16))
    follow_up_score: Mapped[int] = mapped_column(Integer, default=0)
    follow_up_reasons: Mapped[list[Any]] = mapped_column(PortableJSON)
    follow_up_measures: Mapped[list[Any]] = mapped_column(PortableJSON)
    follow_up_messages: Mapped[list[Any]] = mapped_column(PortableJSON)
    # a cooling-off hold: the payment goes ahead by itself at this instant
    release_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    shown_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    answered_at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(128))


class CustomerLock(Base):
    """A customer's money lock (outflows and new credit blocked) and kill switch (sessions on
    new devices suspended). One row per customer; ``revision`` makes every change a
    compare-and-set, so two agents cannot both unlock or undo each other."""

    __tablename__ = "customer_locks"

    customer_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    # locked | unlock_pending | unlocked
    state: Mapped[str] = mapped_column(String(16))
    kill_switch: Mapped[bool] = mapped_column(Boolean, default=False)
    locked_at: Mapped[datetime] = mapped_column(UTCDateTime())
    locked_by: Mapped[str] = mapped_column(String(128))
    channel: Mapped[str] = mapped_column(String(16))
    # in_person | video | cooling_off: how the unlock was verified
    unlock_method: Mapped[str | None] = mapped_column(String(16), nullable=True)
    unlock_reference: Mapped[str | None] = mapped_column(String(128), nullable=True)
    # when an unlock takes effect (a cooling-off unlock waits until then)
    unlock_effective_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revision: Mapped[int] = mapped_column(Integer, default=1)


class CustomerLockEvent(Base):
    """Every step of a lock's life: locked, unlock requested, unlocked, cancelled."""

    __tablename__ = "customer_lock_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    customer_id: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(128))
    detail: Mapped[dict[str, Any]] = mapped_column(PortableJSON)

    __table_args__ = (Index("ix_customer_lock_events_customer", "customer_id", "at"),)


class TrustedContact(Base):
    """A trusted person who must confirm the customer's outflows above ``threshold`` (opt-in;
    the consent is in the ledger). The contact's phone is kept only as a vault token."""

    __tablename__ = "trusted_contacts"

    customer_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    name_token: Mapped[str] = mapped_column(String(256))
    phone_token: Mapped[str] = mapped_column(String(256))
    threshold: Mapped[float] = mapped_column(Float)
    consent_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class TrustedConfirmation(Base):
    """A decision waiting for the trusted person: pending → confirmed | declined | expired."""

    __tablename__ = "trusted_confirmations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    decision_id: Mapped[str] = mapped_column(String(64), unique=True)
    customer_id: Mapped[str] = mapped_column(String(128), index=True)
    status: Mapped[str] = mapped_column(String(16))
    amount: Mapped[float | None] = mapped_column(Float, nullable=True)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    actor: Mapped[str | None] = mapped_column(String(128), nullable=True)
