"""Rescue state (R33): is a customer's marketing suppressed, is collection paused?

The lending side decides when a customer is over-indebted (R27, R30, R31) or has a hardship
plan being agreed, and writes that here; the contact guard only reads it, through
:class:`RescueState`, so the lending side may instead hand the guard its own implementation.

:class:`FlagStore` is the simple table-backed one (``conduct_flags``): a flag holds from
``since`` until ``until`` (open while null); clearing closes the open rows at an instant and
keeps the history, so a check about a past instant answers as it would have then.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import (
    Connection,
    CursorResult,
    Engine,
    Exists,
    bindparam,
    insert,
    or_,
    select,
    update,
)

from lendguard.auth import audit
from lendguard.errors import NotFound
from lendguard.models.base import UTCDateTime
from lendguard.models.conduct import ConductFlag


class Flag(StrEnum):
    marketing_suppressed = "marketing_suppressed"
    collection_paused = "collection_paused"


@runtime_checkable
class RescueState(Protocol):
    def marketing_suppressed(self, customer_id: str, at: datetime) -> bool:
        """All loan marketing and cross-sell to the customer is suppressed at ``at``."""
        ...

    def collection_paused(self, customer_id: str, at: datetime) -> bool:
        """Collection contact with the customer is paused at ``at``."""
        ...


def flag_held(flag: Flag) -> Exists:
    """``EXISTS`` a ``flag`` of customer ``:debtor`` in force at ``:at`` (bind parameters), for
    statements that read the flag with other facts in one round trip."""
    f = ConductFlag
    at = bindparam("at", type_=UTCDateTime())
    return (
        select(f.id)
        .where(
            f.customer_id == bindparam("debtor"),
            f.flag == flag.value,
            f.since <= at,
            or_(f.until.is_(None), f.until > at),
        )
        .exists()
    )


class FlagStore:
    """Table-backed :class:`RescueState` with the write API the lending side calls.

    The read statements are built once (bind parameters): a check asks on every call."""

    def __init__(self, engine: Engine) -> None:
        self.db = engine
        # Autocommit reads on PostgreSQL (see lendguard.conduct.contacts.read_options).
        self._read_options = (
            {"isolation_level": "AUTOCOMMIT"} if engine.dialect.name == "postgresql" else {}
        )
        self._held = {flag: select(flag_held(flag)) for flag in Flag}

    def holds(
        self, customer_id: str, flag: Flag, at: datetime, conn: Connection | None = None
    ) -> bool:
        """Whether ``flag`` holds for the customer at ``at``; ``conn`` reads inside the
        caller's transaction (a writer deciding whether to raise the flag)."""
        params = {"debtor": customer_id, "at": at}
        if conn is not None:
            return bool(conn.execute(self._held[flag], params).scalar())
        with self.db.connect().execution_options(**self._read_options) as own:
            return bool(own.execute(self._held[flag], params).scalar())

    def _has(self, customer_id: str, flag: Flag, at: datetime) -> bool:
        return self.holds(customer_id, flag, at)

    def marketing_suppressed(self, customer_id: str, at: datetime) -> bool:
        return self._has(customer_id, Flag.marketing_suppressed, at)

    def collection_paused(self, customer_id: str, at: datetime) -> bool:
        return self._has(customer_id, Flag.collection_paused, at)

    # -- writing (the lending side's internal API) -----------------------------------------------

    def set_flag(
        self,
        customer_id: str,
        flag: Flag | str,
        reason: str,
        source: str,
        actor: str = "system",
        since: datetime | None = None,
        until: datetime | None = None,
        conn: Connection | None = None,
    ) -> int:
        """Raise ``flag`` from ``since`` (default now) until ``until`` (default: until cleared).

        ``conn`` writes inside the caller's transaction (the lending side's own decision and
        the flag commit together). Returns the flag row's id.
        """
        flag = Flag(flag)
        now = datetime.now(UTC)
        start = since or now
        if until is not None and until <= start:
            raise ValueError("until must be after since")
        values = {
            "customer_id": customer_id,
            "flag": flag.value,
            "since": start,
            "until": until,
            "reason": reason,
            "source": source,
            "actor": actor,
            "created_at": now,
        }
        if conn is not None:
            return _pk(conn.execute(insert(ConductFlag), values))
        with self.db.begin() as own:
            return _pk(own.execute(insert(ConductFlag), values))

    def clear_flag(
        self,
        customer_id: str,
        flag: Flag | str,
        at: datetime | None = None,
        conn: Connection | None = None,
        source: str | None = None,
    ) -> int:
        """End every open ``flag`` of the customer at ``at`` (default now); returns how many.
        With ``source``, only the rows raised by that source end: a flag raised for two reasons
        (a hardship plan and a crisis) holds until both are over."""
        flag = Flag(flag)
        moment = at or datetime.now(UTC)
        f = ConductFlag
        statement = (
            update(f)
            .where(
                f.customer_id == customer_id,
                f.flag == flag.value,
                or_(f.until.is_(None), f.until > moment),
                *([f.source == source] if source is not None else []),
            )
            .values(until=moment)
        )
        if conn is not None:
            return int(conn.execute(statement).rowcount)
        with self.db.begin() as own:
            return int(own.execute(statement).rowcount)

    def operator_set_flag(
        self,
        customer_id: str,
        flag: Flag,
        reason: str,
        source: str,
        actor: str,
        ip: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> int:
        """An operator raises a flag: the flag and its audit entry (``conduct.flag_set``) in
        one transaction, so a flag is never raised unaudited. Returns the flag row's id."""
        with self.db.begin() as conn:
            pk = self.set_flag(customer_id, flag, reason, source, actor, since, until, conn=conn)
            audit.record(
                conn,
                actor,
                "conduct.flag_set",
                customer_id,
                ip,
                {"flag": Flag(flag).value, "reason": reason, "source": source},
            )
        return pk

    def operator_clear_flag(
        self, customer_id: str, flag: Flag, actor: str, ip: str | None = None
    ) -> int:
        """An operator ends a customer's open flag: the end and its audit entry
        (``conduct.flag_cleared``) in one transaction. :class:`NotFound` when none is open."""
        flag = Flag(flag)
        with self.db.begin() as conn:
            cleared = self.clear_flag(customer_id, flag, conn=conn)
            if cleared == 0:
                raise NotFound(f"customer '{customer_id}' has no open {flag.value} flag")
            audit.record(
                conn,
                actor,
                "conduct.flag_cleared",
                customer_id,
                ip,
                {"flag": flag.value, "cleared": cleared},
            )
        return cleared

    def flags(self, customer_id: str) -> list[dict[str, Any]]:
        """Every flag of the customer, newest first, with whether it holds now."""
        f = ConductFlag
        now = datetime.now(UTC)
        with self.db.connect() as conn:
            rows = conn.execute(
                select(f).where(f.customer_id == customer_id).order_by(f.since.desc(), f.id.desc())
            ).all()
        return [
            {
                "id": r.id,
                "flag": r.flag,
                "since": r.since,
                "until": r.until,
                "active": r.since <= now and (r.until is None or r.until > now),
                "reason": r.reason,
                "source": r.source,
                "actor": r.actor,
            }
            for r in rows
        ]


def _pk(result: CursorResult[Any]) -> int:
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])
