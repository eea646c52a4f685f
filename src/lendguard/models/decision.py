"""Tables of the decisions area: events, the decision log, rule sets, lists, state."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from lendguard.models.base import Base, PortableJSON, UTCDateTime

BigIntPK = BigInteger().with_variant(Integer(), "sqlite")


class EventRecord(Base):
    """Every accepted event, in arrival order (``seq``): the idempotency key and the replay log."""

    __tablename__ = "events"

    seq: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(128), unique=True)
    customer_id: Mapped[str] = mapped_column(String(128))
    type: Mapped[str] = mapped_column(String(32))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    body_hash: Mapped[str] = mapped_column(String(64))
    body: Mapped[dict[str, Any]] = mapped_column(PortableJSON)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())


class DecisionRecord(Base):
    """The append-only decision log: never updated, never deleted by the engine."""

    __tablename__ = "decisions"

    decision_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(128), unique=True)
    customer_id: Mapped[str] = mapped_column(String(128))
    event_type: Mapped[str] = mapped_column(String(32))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    action: Mapped[str] = mapped_column(String(16))
    score: Mapped[int] = mapped_column(Integer)
    model_score: Mapped[float | None] = mapped_column(nullable=True)
    reasons: Mapped[list[dict[str, Any]]] = mapped_column(PortableJSON)
    measures: Mapped[list[str]] = mapped_column(PortableJSON)
    messages: Mapped[list[dict[str, str]]] = mapped_column(PortableJSON)
    guardrails: Mapped[list[dict[str, str]]] = mapped_column(PortableJSON)
    ruleset_version: Mapped[int] = mapped_column(Integer)
    model_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # For decisions at remind or more with a model: its top contributions, in words.
    model_reasons: Mapped[list[dict[str, Any]] | None] = mapped_column(PortableJSON, nullable=True)
    latency_us: Mapped[int] = mapped_column(Integer)
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_decisions_customer_decided", "customer_id", "decided_at"),)


class RuleSetVersion(Base):
    """An uploaded rule set. Immutable once written; activation is a separate row."""

    __tablename__ = "rulesets"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128))
    description: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    rule_count: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(128))


class RuleSetActivation(Base):
    """Append-only history of activations; the newest row names the active version."""

    __tablename__ = "ruleset_activations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    version: Mapped[int] = mapped_column(Integer)
    activated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    activated_by: Mapped[str] = mapped_column(String(128))


class ListEntry(Base):
    """An allow- or deny-list entry for one field value, with its reason, author and expiry."""

    __tablename__ = "list_entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    list_type: Mapped[str] = mapped_column(String(8))  # allow | deny
    field: Mapped[str] = mapped_column(String(16))  # customer | device | payee | ip | card
    value: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str] = mapped_column(Text)
    author: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Suppression(Base):
    """ "Do not apply rule R to customer C until T" — with who decided it and why."""

    __tablename__ = "suppressions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    customer_id: Mapped[str] = mapped_column(String(128))
    rule_id: Mapped[str] = mapped_column(String(64))
    until: Mapped[datetime] = mapped_column(UTCDateTime())
    reason: Mapped[str] = mapped_column(Text)
    author: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class StateSnapshot(Base):
    """Checkpointed window state of one entity key (in-process store)."""

    __tablename__ = "state_snapshots"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    blob: Mapped[bytes] = mapped_column(LargeBinary)


class SharedEntityState(Base):
    """Window state of one entity key, shared by every process (``state_backend=shared``).

    Written in the same transaction as the events and decisions that changed it, with the row
    locked from before the decision: the table is as durable and as exact as the decision log
    (see lendguard.decisions.state.SharedStateStore)."""

    __tablename__ = "entity_states"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    # The highest event ``seq`` folded into this state (0: created empty, not yet written).
    seq: Mapped[int] = mapped_column(BigInteger)
    blob: Mapped[bytes] = mapped_column(LargeBinary)


class StateCheckpoint(Base):
    """The event ``seq`` up to which ``state_snapshots`` is complete (one row, id = 1)."""

    __tablename__ = "state_checkpoint"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    # The highest ``labels.id`` whose effect the snapshots include.
    label_id: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class ShadowDecision(Base):
    """What a candidate rule set would have decided for a live event (never returned)."""

    __tablename__ = "shadow_decisions"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    ruleset_version: Mapped[int] = mapped_column(Integer)
    event_id: Mapped[str] = mapped_column(String(128))
    decision_id: Mapped[str] = mapped_column(String(64))
    live_ruleset_version: Mapped[int] = mapped_column(Integer)
    live_action: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(16))
    score: Mapped[int] = mapped_column(Integer)
    reasons: Mapped[list[dict[str, Any]]] = mapped_column(PortableJSON)
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_shadow_decisions_version", "ruleset_version", "id"),)


class ShadowRun(Base):
    """A candidate version shadowing live traffic from ``started_at`` until ``stopped_at``."""

    __tablename__ = "shadow_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ruleset_version: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    started_by: Mapped[str] = mapped_column(String(128))
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class ModelVersion(Base):
    """A registered scoring model: booster text, calibration and card. Immutable."""

    __tablename__ = "model_versions"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))
    booster: Mapped[str] = mapped_column(Text)
    calibration: Mapped[dict[str, Any]] = mapped_column(PortableJSON)
    card: Mapped[dict[str, Any]] = mapped_column(PortableJSON)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(128))


class ModelActivation(Base):
    """Append-only history of model activations; the newest row names the live model."""

    __tablename__ = "model_activations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    version: Mapped[int] = mapped_column(Integer)
    activated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    activated_by: Mapped[str] = mapped_column(String(128))


class LabelRecord(Base):
    """An outcome learned after the decision (fraud or not), e.g. from a resolved case."""

    __tablename__ = "labels"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(128), index=True)
    label: Mapped[int] = mapped_column(Integer)
    known_at: Mapped[datetime] = mapped_column(UTCDateTime())
    source: Mapped[str] = mapped_column(String(128))


class ChallengerRun(Base):
    """A challenger model scoring live traffic beside the champion (never acting)."""

    __tablename__ = "challenger_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    version: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    started_by: Mapped[str] = mapped_column(String(128))
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class ChallengerScore(Base):
    """Champion and challenger scores of the same live event."""

    __tablename__ = "challenger_scores"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    challenger_version: Mapped[int] = mapped_column(Integer)
    champion_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    event_id: Mapped[str] = mapped_column(String(128))
    champion_score: Mapped[float | None] = mapped_column(nullable=True)
    challenger_score: Mapped[float] = mapped_column()
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_challenger_scores_version", "challenger_version", "id"),)
