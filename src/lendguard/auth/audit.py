"""The audit trail: who did what, to what, when and from where. Append-only."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, insert, select

from lendguard.models.access import AuditEntry


def record(
    conn: Connection,
    actor: str,
    action: str,
    target: str,
    ip: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Write one entry inside the caller's transaction, so the entry and the change it
    describes commit (or roll back) together."""
    conn.execute(
        insert(AuditEntry),
        {
            "at": datetime.now(UTC),
            "actor": actor,
            "action": action,
            "target": target,
            "ip": ip,
            "detail": detail or {},
        },
    )


def record_now(
    engine: Engine,
    actor: str,
    action: str,
    target: str,
    ip: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    with engine.begin() as conn:
        record(conn, actor, action, target, ip, detail)


def entries(
    engine: Engine, limit: int = 200, actor: str | None = None, before_id: int | None = None
) -> list[dict[str, Any]]:
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if actor:
        query = query.where(AuditEntry.actor == actor)
    if before_id:
        query = query.where(AuditEntry.id < before_id)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [
        {
            "id": r.id,
            "at": r.at,
            "actor": r.actor,
            "action": r.action,
            "target": r.target,
            "ip": r.ip,
            "detail": r.detail,
        }
        for r in rows
    ]
