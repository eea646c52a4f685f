"""Tables of consumer education (issue #21): what the lender's app reports about the content a
customer was sent (delivered, opened, completed) and the answers to each topic's quiz.

Both are append-only and idempotent by the app's ``event_id``: a retried report is answered
with the first one, never counted twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from lendguard.models.base import Base, PortableJSON, UTCDateTime


class EducationEvent(Base):
    """One delivery, opening or completion of a content item for one customer."""

    __tablename__ = "education_events"
    __table_args__ = (
        Index("ix_education_events_occurred", "occurred_at"),
        Index("ix_education_events_customer", "customer_id", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(128), unique=True)
    customer_id: Mapped[str] = mapped_column(String(128))
    content_id: Mapped[str] = mapped_column(String(64))
    # the content's topic (a scam typology, over_borrowing, privacy_rights …), copied from the
    # library when the event is recorded so the reach stays right after the library changes
    topic: Mapped[str] = mapped_column(String(64))
    # delivered | opened | completed
    kind: Mapped[str] = mapped_column(String(16))
    # app | sms | push | email | call | in_person
    channel: Mapped[str] = mapped_column(String(16))
    # what the content was attached to, when it was: a decision or a case's outreach
    decision_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    case_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    recorded_by: Mapped[str] = mapped_column(String(128))


class EducationQuizAnswer(Base):
    """One customer's answers to one topic's quiz (the quiz version they were shown)."""

    __tablename__ = "education_quiz_answers"
    __table_args__ = (Index("ix_education_quiz_answers_at", "answered_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(128), unique=True)
    customer_id: Mapped[str] = mapped_column(String(128))
    topic: Mapped[str] = mapped_column(String(64))
    quiz_version: Mapped[int] = mapped_column(Integer)
    # question id -> the option id the customer chose
    answers: Mapped[dict[str, Any]] = mapped_column(PortableJSON)
    correct: Mapped[int] = mapped_column(Integer)
    questions: Mapped[int] = mapped_column(Integer)
    passed: Mapped[bool] = mapped_column()
    channel: Mapped[str] = mapped_column(String(16))
    answered_at: Mapped[datetime] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    recorded_by: Mapped[str] = mapped_column(String(128))
