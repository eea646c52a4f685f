"""One change to a worked record (a case, a complaint, a service contact): the row, its
timeline and the audit trail, written together in the caller's transaction.

Every change an operator makes to such a record is written three times: the row itself, by
compare-and-set on its ``revision`` (:func:`lendguard.db.update_revision`: a second writer who
read the same revision gets a 409 instead of silently overwriting), an entry on the record's
timeline (what the console shows), and a row in the tamper-evident audit trail
(:func:`lendguard.auth.audit.record`). The three go into the same transaction, so a refused or
rolled-back change leaves no timeline entry and no audit row, and an audit row always describes
a change that happened. :class:`ChangeTrail` is that write, once, for every area that needs it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, insert
from sqlalchemy.orm import InstrumentedAttribute

from lendguard.auth import audit
from lendguard.db import update_revision


@dataclass(frozen=True)
class ChangeTrail:
    """How one kind of record is changed and where its history goes.

    ``key``: the row's primary-key column (``Case.id``); the mutable row record passed to
    :meth:`change` carries its value under the same name. ``timeline`` and ``timeline_key``:
    the timeline table and its column naming the record (``CaseActivity``, ``"case_id"``), or
    ``None`` for a record with no timeline of its own. ``action``: the audit action prefix
    (``"case"`` gives ``case.note``); ``target_prefix``: what precedes the id in the audit
    target (``"complaint:"``). ``conflict``: the error, given the id, when someone else changed
    the row since it was read.
    """

    key: InstrumentedAttribute[Any]
    action: str
    conflict: Callable[[str], Exception]
    timeline: type[Any] | None = None
    timeline_key: str = ""
    target_prefix: str = ""

    def note(
        self,
        conn: Connection,
        record_id: str,
        actor: str,
        kind: str,
        detail: dict[str, Any],
        at: datetime | None = None,
    ) -> None:
        """An entry on the timeline alone (the record was opened, a decision joined it, an
        alert was added): the caller writes the row and, where one is due, the audit."""
        if self.timeline is None:
            return
        conn.execute(
            insert(self.timeline),
            {
                self.timeline_key: record_id,
                "at": at or datetime.now(UTC),
                "actor": actor,
                "kind": kind,
                "detail": detail,
            },
        )

    def change(
        self,
        conn: Connection,
        row: Any,
        actor: str,
        ip: str | None,
        kind: str,
        detail: dict[str, Any],
        now: datetime | None = None,
        **values: Any,
    ) -> None:
        """One change: the row (compare-and-set on revision; ``row`` is kept in step), the
        timeline entry and the audit row, all in ``conn``'s transaction."""
        now = now or datetime.now(UTC)
        record_id = str(getattr(row, self.key.key))
        update_revision(conn, self.key, row, self.conflict(record_id), now, **values)
        row.updated_at = now
        self.record(conn, record_id, actor, ip, kind, detail, now)

    def record(
        self,
        conn: Connection,
        record_id: str,
        actor: str,
        ip: str | None,
        kind: str,
        detail: dict[str, Any],
        at: datetime | None = None,
    ) -> None:
        """The timeline entry and the audit row of a change the caller wrote itself (the
        record was just inserted, say), in ``conn``'s transaction."""
        self.note(conn, record_id, actor, kind, detail, at)
        audit.record(
            conn, actor, f"{self.action}.{kind}", f"{self.target_prefix}{record_id}", ip, detail
        )
