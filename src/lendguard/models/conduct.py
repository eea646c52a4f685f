"""Tables of the conduct area: contact attempts and their per-debtor lock row, marketing
preferences, third-party opt-outs, and the rescue flags (marketing suppressed, collection
paused) that the lending side writes.

Contact numbers and addresses are never stored in clear: ``contact_hash`` is the keyed
pseudonym (``lendguard.kit.crypto.pseudonymise``) of the normalised value.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Boolean, Date, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from lendguard.models.base import Base, PortableJSON, UTCDateTime


class ContactDebtor(Base):
    """One row per debtor: the lock that serialises logging, and the debtor's own settings.

    Logging an attempt first bumps ``version`` (``UPDATE ... SET version = version + 1``), which
    takes the row lock on PostgreSQL and the database write lock on SQLite, so the counts read
    next cannot change before the attempt is inserted and committed.
    """

    __tablename__ = "contact_debtors"

    debtor_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=0)
    # Consumer-designated inconvenient times (R23): [{start, end, weekdays, channels, note}],
    # local times in the debtor's zone; read with the attempt counts in one statement.
    inconvenient: Mapped[list[dict[str, Any]]] = mapped_column(PortableJSON, default=list)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ContactAttempt(Base):
    """One outbound (or inbound) collection or marketing contact and its result."""

    __tablename__ = "contact_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # The caller's idempotency key: logging the same attempt twice records it once.
    attempt_id: Mapped[str | None] = mapped_column(String(128), nullable=True, unique=True)
    debtor_id: Mapped[str] = mapped_column(String(128))
    debt_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    purpose: Mapped[str] = mapped_column(String(16))  # collection | marketing
    channel: Mapped[str] = mapped_column(String(8))  # call | sms | visit | push | email
    direction: Mapped[str] = mapped_column(String(8))  # outbound | inbound
    target: Mapped[str] = mapped_column(String(16))  # debtor | third_party
    third_party_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    relation: Mapped[str | None] = mapped_column(String(16), nullable=True)
    contact_hash: Mapped[str] = mapped_column(String(80))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    # The debtor-local calendar date of ``at``: daily caps and 7-day windows count local days.
    local_date: Mapped[date] = mapped_column(Date)
    timezone: Mapped[str] = mapped_column(String(64))
    jurisdiction: Mapped[str] = mapped_column(String(8))
    policy_version: Mapped[str] = mapped_column(String(32))
    result: Mapped[str] = mapped_column(String(32))
    # Made within a window the debtor consented to (excluded from the US 7-in-7 count).
    consented: Mapped[bool] = mapped_column(Boolean, default=False)
    actor: Mapped[str] = mapped_column(String(160))
    logged_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_contact_attempts_debtor_day", "debtor_id", "local_date"),)


class MarketingPreference(Base):
    """A customer's marketing choice for one channel (or ``*``); the latest one wins."""

    __tablename__ = "marketing_preferences"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    customer_id: Mapped[str] = mapped_column(String(128))
    channel: Mapped[str] = mapped_column(String(8))  # a contact channel, or "*" for all
    opted_out: Mapped[bool] = mapped_column(Boolean)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    source: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(160))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_marketing_preferences_customer_at", "customer_id", "at"),)


class ThirdPartyOptOut(Base):
    """A third party asked not to be contacted again (R18): by their id, their number, or both."""

    __tablename__ = "third_party_opt_outs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    debtor_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    third_party_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    contact_hash: Mapped[str | None] = mapped_column(String(80), nullable=True, index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    source: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(160))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_third_party_opt_outs_debtor_party", "debtor_id", "third_party_id"),)


class ConductFlag(Base):
    """A rescue measure on a customer (R33): ``marketing_suppressed`` or ``collection_paused``,
    in force from ``since`` until ``until`` (open while null). Clearing closes it; history
    stays."""

    __tablename__ = "conduct_flags"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    customer_id: Mapped[str] = mapped_column(String(128))
    flag: Mapped[str] = mapped_column(String(32))
    since: Mapped[datetime] = mapped_column(UTCDateTime())
    until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    reason: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(160))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_conduct_flags_customer_flag", "customer_id", "flag"),)
