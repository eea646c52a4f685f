"""Tables of the privacy area: notices, the consent ledger and data-subject requests."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from lendguard.models.base import Base, PortableJSON, UTCDateTime


class PrivacyNotice(Base):
    """A published notice version: immutable (a change is a new version), as in fides'
    PrivacyNoticeHistory; every consent row points at the version the customer saw."""

    __tablename__ = "privacy_notices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    notice_key: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    purposes: Mapped[list[str]] = mapped_column(PortableJSON)
    texts: Mapped[dict[str, str]] = mapped_column(PortableJSON)
    sha256: Mapped[str] = mapped_column(String(64))
    published_at: Mapped[datetime] = mapped_column(UTCDateTime())
    published_by: Mapped[str] = mapped_column(String(160))

    __table_args__ = (UniqueConstraint("notice_key", "version", name="uq_privacy_notices_key"),)


class ConsentRecord(Base):
    """One grant or withdrawal, append-only: the current state of (customer, purpose, scope)
    is its latest row at or before the moment asked about."""

    __tablename__ = "consent_records"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    customer_id: Mapped[str] = mapped_column(String(128))
    purpose: Mapped[str] = mapped_column(String(64))
    # "*" for the whole purpose; a channel (sms, call, push, popup), a third-party recipient or
    # a sensitive category otherwise
    scope: Mapped[str] = mapped_column(String(128), default="*")
    granted: Mapped[bool] = mapped_column(Boolean)
    method: Mapped[str] = mapped_column(String(32))  # checkbox | toggle | signature | voice ...
    channel: Mapped[str] = mapped_column(String(32))  # app | web | phone | branch
    notice_key: Mapped[str] = mapped_column(String(64))
    notice_version: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    recorded_by: Mapped[str] = mapped_column(String(160))

    __table_args__ = (Index("ix_consent_records_lookup", "customer_id", "purpose", "scope", "at"),)


class DataSubjectRequest(Base):
    """A data-subject request (PIPL Arts. 44-47, 50): access, correct, delete, withdraw,
    explain; due on a working-day calendar; a refusal must carry its reason."""

    __tablename__ = "data_subject_requests"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(128), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(24))
    jurisdiction: Mapped[str] = mapped_column(String(8))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    details: Mapped[dict[str, Any]] = mapped_column(PortableJSON)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    verification_method: Mapped[str | None] = mapped_column(String(64), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(160), nullable=True)
    refusal_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    result: Mapped[dict[str, Any] | None] = mapped_column(PortableJSON, nullable=True)

    __table_args__ = (Index("ix_dsr_status_due", "status", "due_at"),)


class EncryptionKey(Base):
    """A data-encryption key, stored wrapped (AES-GCM) by the master key; one is active."""

    __tablename__ = "encryption_keys"

    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    state: Mapped[str] = mapped_column(String(16))  # active | retiring | retired
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class VaultEntry(Base):
    """A direct identifier or contact detail (phone, card, address) held encrypted, found by
    its keyed hash: the same HMAC token the events and window state carry."""

    __tablename__ = "pii_vault"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))
    lookup_hash: Mapped[str] = mapped_column(String(80))
    customer_id: Mapped[str] = mapped_column(String(128), index=True)
    key_version: Mapped[int] = mapped_column(Integer, index=True)
    nonce: Mapped[bytes] = mapped_column(LargeBinary)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        UniqueConstraint("kind", "lookup_hash", "customer_id", name="uq_pii_vault_lookup"),
    )
