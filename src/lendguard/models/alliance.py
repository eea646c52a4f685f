"""Tables of the alliance (issue #20): the members this lender cooperates with, its own
alliance list, the record of every exchange, replay protection of signed peer requests, and
the state of secure-aggregation rounds.

No identifier is kept in clear: a list entry holds a keyed digest (duplicates) and a vault
token (the canonical value, encrypted); exchanges record counts, never items.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, Index, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from lendguard.models.base import Base, PortableJSON, UTCDateTime


class AllianceMember(Base):
    """A peer lender, configured by both sides (its id, URL and Ed25519 public key)."""

    __tablename__ = "alliance_members"

    member_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    url: Mapped[str] = mapped_column(String(500))
    # base64 of the 32-byte Ed25519 public key
    public_key: Mapped[str] = mapped_column(String(64))
    # active | removed
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(128))
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class AllianceListEntry(Base):
    """One identifier on this lender's alliance list (resident_id, mobile, card, device_id)."""

    __tablename__ = "alliance_list_entries"
    __table_args__ = (UniqueConstraint("kind", "digest", name="uq_alliance_list_kind_digest"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16), index=True)
    # keyed hash (the PII key) of the canonical value: finds duplicates, never shared
    digest: Mapped[str] = mapped_column(String(64))
    # vault token of the canonical value (encrypted at rest)
    token: Mapped[str] = mapped_column(String(64))
    # masked for display (e.g. 138****5678)
    masked: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(64))
    added_by: Mapped[str] = mapped_column(String(128))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime())
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class AllianceExchange(Base):
    """One exchange, recorded on both sides: who asked, when, how many items, how many
    matched, under which legal basis and purpose — never the items."""

    __tablename__ = "alliance_exchanges"
    __table_args__ = (Index("ix_alliance_exchanges_started", "started_at"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    # psi | lookup | aggregation
    kind: Mapped[str] = mapped_column(String(16))
    # requester | responder | aggregator | contributor
    role: Mapped[str] = mapped_column(String(16))
    # the other member (the aggregator's rounds: "*")
    peer: Mapped[str] = mapped_column(String(64), index=True)
    # the session id both sides share
    session_id: Mapped[str] = mapped_column(String(64), index=True)
    list_kind: Mapped[str | None] = mapped_column(String(16), nullable=True)
    # intersection | cardinality | lookup | sum
    mode: Mapped[str] = mapped_column(String(16))
    items: Mapped[int] = mapped_column(Integer, default=0)
    peer_items: Mapped[int | None] = mapped_column(Integer, nullable=True)
    matched: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # done | refused | failed
    status: Mapped[str] = mapped_column(String(16))
    legal_basis: Mapped[str] = mapped_column(String(200))
    purpose: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(128))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    took_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    # counts and reasons only (e.g. {"reason": "rate_limited"}); never an identifier
    detail: Mapped[dict[str, Any]] = mapped_column(PortableJSON, default=dict)


class AllianceNonce(Base):
    """A signed peer request's nonce, kept past the clock-skew window: a replay is refused."""

    __tablename__ = "alliance_nonces"

    member_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class AllianceRound(Base):
    """A secure-aggregation round as its aggregator sees it: the participants, the step, and
    at the end the totals (only ever the totals)."""

    __tablename__ = "alliance_rounds"

    round_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    period: Mapped[str] = mapped_column(String(16))
    # the vector's layout: [{"typology", "measure"}] in order
    layout: Mapped[list[Any]] = mapped_column(PortableJSON)
    participants: Mapped[list[Any]] = mapped_column(PortableJSON)
    dropped: Mapped[list[Any]] = mapped_column(PortableJSON, default=list)
    # advertise | share | collect | consistency | unmask | done | failed
    step: Mapped[str] = mapped_column(String(16))
    totals: Mapped[list[Any] | None] = mapped_column(PortableJSON, nullable=True)
    started_by: Mapped[str] = mapped_column(String(128))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    detail: Mapped[dict[str, Any]] = mapped_column(PortableJSON, default=dict)


class AllianceRoundState(Base):
    """A contributor's own state in a round between steps (its ephemeral secrets, sealed with
    a key derived from the signing key), so any of its server processes can answer a step."""

    __tablename__ = "alliance_round_states"

    round_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    aggregator: Mapped[str] = mapped_column(String(64))
    step: Mapped[str] = mapped_column(String(16))
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
