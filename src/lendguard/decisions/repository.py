"""All SQL of the decisions area (polar's rule: queries live in repositories)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select

from lendguard.models import (
    ApiKey,
    DecisionRecord,
    EventRecord,
    ListEntry,
    RuleSetActivation,
    RuleSetVersion,
    Suppression,
)

_INSERT_EVENT = insert(EventRecord)
_INSERT_DECISION = insert(DecisionRecord)
_DECISION_COLUMNS = list(DecisionRecord.__table__.columns)


class DecisionRepository:
    # -- events and decisions ------------------------------------------------------------------

    def find_by_event_id(
        self, conn: Connection, event_id: str
    ) -> tuple[str, dict[str, Any]] | None:
        """(body hash, decision) of an event already decided, or None."""
        row = conn.execute(
            select(EventRecord.body_hash, *_DECISION_COLUMNS)
            .join(DecisionRecord, DecisionRecord.event_id == EventRecord.event_id)
            .where(EventRecord.event_id == event_id)
        ).first()
        if row is None:
            return None
        data = dict(row._mapping)
        body_hash = data.pop("body_hash")
        return body_hash, data

    def insert_event_and_decision(
        self, conn: Connection, event_row: dict[str, Any], decision_row: dict[str, Any]
    ) -> int:
        result = conn.execute(_INSERT_EVENT.returning(EventRecord.seq), event_row)
        seq = int(result.scalar_one())
        conn.execute(_INSERT_DECISION, decision_row)
        return seq

    def get_decision_row(self, conn: Connection, decision_id: str) -> dict[str, Any] | None:
        row = conn.execute(
            select(*_DECISION_COLUMNS).where(DecisionRecord.decision_id == decision_id)
        ).first()
        return None if row is None else dict(row._mapping)

    def customer_decisions(
        self, conn: Connection, customer_id: str, limit: int, before: datetime | None
    ) -> list[dict[str, Any]]:
        query = select(*_DECISION_COLUMNS).where(DecisionRecord.customer_id == customer_id)
        if before is not None:
            query = query.where(DecisionRecord.decided_at < before)
        query = query.order_by(DecisionRecord.decided_at.desc()).limit(limit)
        return [dict(r._mapping) for r in conn.execute(query)]

    def events_after(
        self, conn: Connection, seq: int, chunk: int = 5_000
    ) -> Iterator[tuple[int, dict[str, Any]]]:
        last = seq
        while True:
            rows = conn.execute(
                select(EventRecord.seq, EventRecord.body)
                .where(EventRecord.seq > last)
                .order_by(EventRecord.seq)
                .limit(chunk)
            ).all()
            if not rows:
                return
            for row in rows:
                yield int(row.seq), row.body
            last = int(rows[-1].seq)

    def count_events(self, conn: Connection) -> int:
        return int(conn.execute(select(func.count()).select_from(EventRecord)).scalar_one())

    # -- rule sets -----------------------------------------------------------------------------

    def insert_ruleset(self, conn: Connection, row: dict[str, Any]) -> int:
        result = conn.execute(insert(RuleSetVersion).returning(RuleSetVersion.version), row)
        return int(result.scalar_one())

    def get_ruleset(self, conn: Connection, version: int) -> dict[str, Any] | None:
        row = conn.execute(
            select(*RuleSetVersion.__table__.columns).where(RuleSetVersion.version == version)
        ).first()
        return None if row is None else dict(row._mapping)

    def list_rulesets(self, conn: Connection) -> list[dict[str, Any]]:
        cols = [c for c in RuleSetVersion.__table__.columns if c.name != "source"]
        return [
            dict(r._mapping) for r in conn.execute(select(*cols).order_by(RuleSetVersion.version))
        ]

    def active_version(self, conn: Connection) -> int | None:
        return conn.execute(
            select(RuleSetActivation.version).order_by(RuleSetActivation.id.desc()).limit(1)
        ).scalar()

    def activate(self, conn: Connection, version: int, actor: str, at: datetime) -> None:
        conn.execute(
            insert(RuleSetActivation),
            {"version": version, "activated_at": at, "activated_by": actor},
        )

    # -- API keys ------------------------------------------------------------------------------

    def insert_api_key(self, conn: Connection, row: dict[str, Any]) -> None:
        conn.execute(insert(ApiKey), row)

    def find_api_key(self, conn: Connection, key_hash: str) -> dict[str, Any] | None:
        row = conn.execute(
            select(ApiKey.id, ApiKey.name, ApiKey.scopes, ApiKey.revoked).where(
                ApiKey.key_hash == key_hash
            )
        ).first()
        return None if row is None else dict(row._mapping)

    # -- lists and suppressions ----------------------------------------------------------------

    def insert_list_entry(self, conn: Connection, row: dict[str, Any]) -> None:
        conn.execute(insert(ListEntry), row)

    def insert_suppression(self, conn: Connection, row: dict[str, Any]) -> None:
        conn.execute(insert(Suppression), row)

    def list_entries(self, conn: Connection) -> list[dict[str, Any]]:
        return [dict(r._mapping) for r in conn.execute(select(*ListEntry.__table__.columns))]

    def suppressions(self, conn: Connection) -> list[dict[str, Any]]:
        return [dict(r._mapping) for r in conn.execute(select(*Suppression.__table__.columns))]


decision_repository = DecisionRepository()
