"""The alliance's rows: members, this lender's list entries and the exchange history.

Plain functions over a connection (the caller owns the transaction, so an entry, its vault
value and its audit entry commit together)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from lendguard.models.alliance import AllianceExchange, AllianceListEntry, AllianceMember

# -- members ---------------------------------------------------------------------------------------


def member_row(member: Any) -> dict[str, Any]:
    return {
        "member_id": member.member_id,
        "name": member.name,
        "url": member.url,
        "public_key": member.public_key,
        "status": member.status,
        "created_at": member.created_at,
        "created_by": member.created_by,
        "removed_at": member.removed_at,
    }


def members(conn: Connection) -> list[dict[str, Any]]:
    rows = conn.execute(select(AllianceMember).order_by(AllianceMember.member_id)).all()
    return [member_row(row) for row in rows]


def active_member_ids(conn: Connection) -> list[str]:
    return list(
        conn.execute(
            select(AllianceMember.member_id)
            .where(AllianceMember.status == "active")
            .order_by(AllianceMember.member_id)
        ).scalars()
    )


def member(conn: Connection, member_id: str) -> dict[str, Any] | None:
    row = conn.execute(select(AllianceMember).where(AllianceMember.member_id == member_id)).first()
    return None if row is None else member_row(row)


def insert_member(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(insert(AllianceMember).values(**values))


def update_member(conn: Connection, member_id: str, values: dict[str, Any]) -> None:
    conn.execute(
        update(AllianceMember).where(AllianceMember.member_id == member_id).values(**values)
    )


# -- the list --------------------------------------------------------------------------------------


def entry_row(entry: Any, created: bool = False) -> dict[str, Any]:
    return {
        "id": entry.id,
        "kind": entry.kind,
        "masked": entry.masked,
        "reason": entry.reason,
        "added_by": entry.added_by,
        "added_at": entry.added_at,
        "removed_at": entry.removed_at,
        "created": created,
    }


def entry_by_digest(conn: Connection, kind: str, digest: str) -> Any:
    return conn.execute(
        select(AllianceListEntry).where(
            AllianceListEntry.kind == kind, AllianceListEntry.digest == digest
        )
    ).first()


def entry_by_id(conn: Connection, entry_id: int) -> Any:
    return conn.execute(select(AllianceListEntry).where(AllianceListEntry.id == entry_id)).first()


def insert_entry(conn: Connection, values: dict[str, Any]) -> int:
    key = conn.execute(insert(AllianceListEntry).values(**values)).inserted_primary_key
    assert key is not None
    return int(key[0])


def update_entry(conn: Connection, entry_id: int, values: dict[str, Any]) -> None:
    conn.execute(update(AllianceListEntry).where(AllianceListEntry.id == entry_id).values(**values))


def active_entries(conn: Connection, kind: str) -> list[tuple[int, str, str]]:
    """``(id, token, masked)`` of every active entry of ``kind``, by id."""
    rows = conn.execute(
        select(AllianceListEntry.id, AllianceListEntry.token, AllianceListEntry.masked)
        .where(AllianceListEntry.kind == kind, AllianceListEntry.removed_at.is_(None))
        .order_by(AllianceListEntry.id)
    ).all()
    return [(int(r.id), r.token, r.masked) for r in rows]


def list_version(conn: Connection, kind: str) -> tuple[int, int, int]:
    """Changes whenever the list of ``kind`` changes (in any process): active entries, the
    highest id, removed entries."""
    active = AllianceListEntry.removed_at.is_(None)
    row = conn.execute(
        select(
            func.count().filter(active),
            func.coalesce(func.max(AllianceListEntry.id), 0),
            func.count().filter(~active),
        ).where(AllianceListEntry.kind == kind)
    ).one()
    return int(row[0]), int(row[1]), int(row[2])


def counts(conn: Connection) -> dict[str, int]:
    rows = conn.execute(
        select(AllianceListEntry.kind, func.count())
        .where(AllianceListEntry.removed_at.is_(None))
        .group_by(AllianceListEntry.kind)
    ).all()
    return {str(kind): int(count) for kind, count in rows}


# -- exchanges -------------------------------------------------------------------------------------


def insert_exchange(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(insert(AllianceExchange).values(**values))


def exchange_row(row: Any) -> dict[str, Any]:
    return {
        column: getattr(row, column)
        for column in (
            "id",
            "kind",
            "role",
            "peer",
            "session_id",
            "list_kind",
            "mode",
            "items",
            "peer_items",
            "matched",
            "status",
            "legal_basis",
            "purpose",
            "actor",
            "started_at",
            "finished_at",
            "took_ms",
            "detail",
        )
    }


def exchanges(
    conn: Connection,
    *,
    kind: str | None,
    peer: str | None,
    since: datetime | None,
    limit: int,
    offset: int,
) -> list[dict[str, Any]]:
    query = select(AllianceExchange)
    if kind is not None:
        query = query.where(AllianceExchange.kind == kind)
    if peer is not None:
        query = query.where(AllianceExchange.peer == peer)
    if since is not None:
        query = query.where(AllianceExchange.started_at >= since)
    query = query.order_by(AllianceExchange.started_at.desc(), AllianceExchange.id.desc())
    rows = conn.execute(query.limit(limit).offset(offset)).all()
    return [exchange_row(row) for row in rows]


def psi_items_asked_since(conn: Connection, member_id: str, since: datetime) -> int:
    """Blinded items ``member_id``'s PSI sessions brought this lender (as responder) since."""
    total = conn.execute(
        select(func.coalesce(func.sum(AllianceExchange.peer_items), 0)).where(
            AllianceExchange.kind == "psi",
            AllianceExchange.role == "responder",
            AllianceExchange.peer == member_id,
            AllianceExchange.status == "done",
            AllianceExchange.started_at >= since,
        )
    ).scalar_one()
    return int(total or 0)
