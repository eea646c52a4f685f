"""All SQL of the money lock: the lock row (one per customer, changed by compare-and-set on its
revision) and its history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from lendguard.models.interventions import CustomerLock, CustomerLockEvent

_LOCK_COLUMNS = list(CustomerLock.__table__.columns)


class LockRepository:
    def get(self, conn: Connection, customer_id: str) -> dict[str, Any] | None:
        row = conn.execute(
            select(*_LOCK_COLUMNS).where(CustomerLock.customer_id == customer_id)
        ).first()
        return None if row is None else dict(row._mapping)

    def insert(self, conn: Connection, values: dict[str, Any]) -> None:
        conn.execute(insert(CustomerLock).values(**values))

    def update_if_revision(
        self, conn: Connection, customer_id: str, revision: int, values: dict[str, Any]
    ) -> bool:
        """Apply ``values`` (the revision moves on by one) only if the row is still at
        ``revision``; False when another change got there first."""
        result = conn.execute(
            update(CustomerLock)
            .where(CustomerLock.customer_id == customer_id, CustomerLock.revision == revision)
            .values(**values, revision=revision + 1)
        )
        return result.rowcount == 1

    def add_step(
        self,
        conn: Connection,
        customer_id: str,
        kind: str,
        at: datetime,
        actor: str,
        detail: dict[str, Any],
    ) -> None:
        conn.execute(
            insert(CustomerLockEvent).values(
                customer_id=customer_id, kind=kind, at=at, actor=actor, detail=detail
            )
        )

    def history(self, conn: Connection, customer_id: str) -> list[dict[str, Any]]:
        rows = conn.execute(
            select(
                CustomerLockEvent.kind,
                CustomerLockEvent.at,
                CustomerLockEvent.actor,
                CustomerLockEvent.detail,
            )
            .where(CustomerLockEvent.customer_id == customer_id)
            .order_by(CustomerLockEvent.at, CustomerLockEvent.id)
        ).all()
        return [dict(r._mapping) for r in rows]


lock_repository = LockRepository()
