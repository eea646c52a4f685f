"""Tables of the lending area: the rescue ladder's steps and hardship plans."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from lendguard.models.base import Base, PortableJSON, UTCDateTime


class RescueStep(Base):
    """One step of the rescue ladder (R33) taken for a customer, counted for the report."""

    __tablename__ = "rescue_steps"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    customer_id: Mapped[str] = mapped_column(String(128))
    # CREDIT_FREEZE | MARKETING_SUPPRESSED | HARDSHIP_PLAN_OFFERED | COLLECTION_PAUSED |
    # INTEREST_WAIVED | DEBT_ADVICE_SIGNPOSTED
    step: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    source: Mapped[str] = mapped_column(String(160))
    detail: Mapped[dict[str, Any]] = mapped_column(PortableJSON)

    __table_args__ = (
        Index("ix_rescue_steps_customer", "customer_id", "at"),
        Index("ix_rescue_steps_step", "step", "at"),
    )


class HardshipPlan(Base):
    """A hardship plan offered to a borrower: proposed, then agreed or declined."""

    __tablename__ = "hardship_plans"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(128), index=True)
    status: Mapped[str] = mapped_column(String(16))  # proposed | agreed | declined
    product: Mapped[str] = mapped_column(String(16))  # loan | credit_card
    jurisdiction: Mapped[str] = mapped_column(String(8))
    balance: Mapped[float] = mapped_column(Float)
    term_months: Mapped[int] = mapped_column(Integer)
    instalment: Mapped[float] = mapped_column(Float)
    plan_rate_percent: Mapped[float] = mapped_column(Float)
    quote: Mapped[dict[str, Any]] = mapped_column(PortableJSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(160))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(160), nullable=True)
