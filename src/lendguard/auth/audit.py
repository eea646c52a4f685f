"""The audit trail: who did what, to what, when and from where. Append-only and tamper-evident.

Every row carries ``prev_hash`` (the ``hash`` of the row before it, :data:`GENESIS` for the first)
and ``hash`` = SHA-256 of the canonical encoding (:func:`canonical`) of its ``id``, ``at``,
``actor``, ``action``, ``target``, ``ip``, ``detail`` and ``prev_hash``. The rows form a chain in
``id`` order, so editing a row breaks its own hash and deleting one breaks the link of the row
after it: :func:`verify` (``lendguard audit verify``) finds both and names the row. Removing rows
from the end leaves a shorter valid chain; to catch that, keep the head hash :func:`verify`
reports somewhere else and check it later (``--expect-head``).

How an append stays correct with concurrent writers (:func:`record`): the id comes from the
database, so the row is inserted first (placeholder hashes), then the previous row is read and
the row's hashes are filled in, all inside the caller's transaction — a rolled-back change takes
its audit row with it and leaves no half-made link. Inserting first is what makes it safe:

* SQLite: the INSERT takes the database's single write lock (waiting out ``busy_timeout``) and
  holds it to commit, so no other row can be appended between reading the previous row and
  committing ours. Reading first would not be safe in a deferred transaction: the read takes no
  write lock (another writer can append in between), and in WAL mode a transaction that read an
  old snapshot cannot write at all (``SQLITE_BUSY_SNAPSHOT``; the caller's transaction fails and
  can be retried, it never links to a stale row). Ids stay consecutive (a rolled-back rowid is
  reused).
* PostgreSQL: a transaction-scoped advisory lock (:data:`PG_LOCK_KEY`) is taken before the
  INSERT, so appenders queue, ids come from the sequence in chain order, and the row before ours
  is committed and visible (READ COMMITTED takes a fresh snapshot per statement; a stricter
  isolation level would read a stale snapshot, so it is refused). A rolled-back append burns a
  sequence value: ids may skip, the chain (``prev_hash``) does not.

Pre-assigning ids (read ``max(id)``, insert ``max + 1``) would need the read to be protected
as well, which on SQLite cannot be done from inside a caller's deferred transaction, and on
PostgreSQL would bypass the sequence.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, insert, select, text, update

from lendguard.models.access import AuditEntry

GENESIS = "0" * 64
"""``prev_hash`` of the first row."""

PG_LOCK_KEY = 0x4C47_4155_4449_5401
"""The PostgreSQL advisory lock (``pg_advisory_xact_lock``) that serialises appends."""

_PENDING = ""
"""Hashes of a row between its INSERT and its UPDATE (never committed by :func:`record`)."""

_VERIFY_BATCH = 1000


# -- canonical encoding and the hash ---------------------------------------------------------------


def _number(value: int | float) -> orjson.Fragment | None:
    """One spelling per numeric value: PostgreSQL's JSONB keeps numbers as decimals and gives
    ``1e16`` back as ``10000000000000000``, so integral numbers are written as integers (1 and 1.0
    are the same number) and other floats in Python's shortest round-trip form."""
    if isinstance(value, float):
        if not math.isfinite(value):
            return None  # stored as null (orjson writes NaN and infinities as null)
        if value.is_integer():
            return orjson.Fragment(str(int(value)))
        return orjson.Fragment(repr(value))
    return orjson.Fragment(str(value))


def _canonical_json(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _canonical_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical_json(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return _number(value)
    raise TypeError(f"not JSON: {type(value).__name__}")


def canonical_at(at: datetime) -> str:
    """ISO 8601 in UTC, always with microseconds: ``2026-11-25T04:00:00.000000Z``."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)  # SQLite gives naive UTC when read without UTCDateTime
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(
    id: int,
    at: datetime,
    actor: str,
    action: str,
    target: str,
    ip: str | None,
    detail: Any,
    prev_hash: str,
) -> bytes:
    """The bytes a row's hash covers: JSON with sorted keys, no whitespace, UTF-8."""
    return orjson.dumps(
        {
            "id": id,
            "at": canonical_at(at),
            "actor": actor,
            "action": action,
            "target": target,
            "ip": ip,
            "detail": _canonical_json(detail),
            "prev_hash": prev_hash,
        },
        option=orjson.OPT_SORT_KEYS,
    )


def chain_hash(
    id: int,
    at: datetime,
    actor: str,
    action: str,
    target: str,
    ip: str | None,
    detail: Any,
    prev_hash: str,
) -> str:
    """Hex SHA-256 of :func:`canonical`."""
    return hashlib.sha256(
        canonical(id, at, actor, action, target, ip, detail, prev_hash)
    ).hexdigest()


# -- writing ---------------------------------------------------------------------------------------


def _lock(conn: Connection) -> None:
    if conn.dialect.name != "postgresql":
        return  # SQLite: the INSERT itself takes the write lock (see the module docstring)
    isolation = conn.execute(
        text("SELECT current_setting('transaction_isolation'), pg_advisory_xact_lock(:key)"),
        {"key": PG_LOCK_KEY},
    ).scalar_one()
    if isolation != "read committed":
        raise RuntimeError(
            f"audit.record needs READ COMMITTED on PostgreSQL, not {isolation}: a snapshot "
            "taken before the lock could miss the last row of the chain"
        )


def record(
    conn: Connection,
    actor: str,
    action: str,
    target: str,
    ip: str | None = None,
    detail: dict[str, Any] | None = None,
) -> int:
    """Append one entry inside the caller's transaction, so the entry and the change it
    describes commit (or roll back) together; returns its id. The caller's transaction holds
    the chain's lock from here to its commit: keep it short after this call."""
    # what the database will give back (orjson for the JSON column), so the hash matches it
    stored_detail = orjson.loads(orjson.dumps(detail or {}))
    at = datetime.now(UTC)
    _lock(conn)
    inserted = conn.execute(
        insert(AuditEntry).values(
            at=at,
            actor=actor,
            action=action,
            target=target,
            ip=ip,
            detail=stored_detail,
            prev_hash=_PENDING,
            hash=_PENDING,
        )
    )
    key = inserted.inserted_primary_key
    assert key is not None
    entry_id = int(key[0])
    prev_hash = conn.execute(
        select(AuditEntry.hash)
        .where(AuditEntry.id < entry_id)
        .order_by(AuditEntry.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    prev_hash = GENESIS if prev_hash is None else prev_hash
    digest = chain_hash(entry_id, at, actor, action, target, ip, stored_detail, prev_hash)
    conn.execute(
        update(AuditEntry).where(AuditEntry.id == entry_id).values(prev_hash=prev_hash, hash=digest)
    )
    return entry_id


def record_now(
    engine: Engine,
    actor: str,
    action: str,
    target: str,
    ip: str | None = None,
    detail: dict[str, Any] | None = None,
) -> int:
    """:func:`record` in a transaction of its own."""
    with engine.begin() as conn:
        return record(conn, actor, action, target, ip, detail)


def record_read(
    conn_or_engine: Connection | Engine,
    actor: str,
    what: str,
    target: str,
    ip: str | None = None,
    detail: dict[str, Any] | None = None,
) -> int:
    """A privileged read (an export, a look at personal data): action ``read.<what>``.

    Given a Connection, the entry joins its transaction; given an Engine, it commits on its own.
    Record the read before handing the data out, so a failed entry means no data left."""
    action = f"read.{what}"
    if isinstance(conn_or_engine, Engine):
        return record_now(conn_or_engine, actor, action, target, ip, detail)
    return record(conn_or_engine, actor, action, target, ip, detail)


# -- reading ---------------------------------------------------------------------------------------


def entries(
    engine: Engine,
    limit: int = 200,
    actor: str | None = None,
    before_id: int | None = None,
    target: str | None = None,
) -> list[dict[str, Any]]:
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if actor:
        query = query.where(AuditEntry.actor == actor)
    if target:
        query = query.where(AuditEntry.target == target)
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


# -- verifying -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VerifyResult:
    """``ok``: the chain is intact. ``rows``: rows checked (all of them when ok, up to and
    including the bad one when not). ``first_bad_id``: the row named (None when ok, or when
    what is wrong is no single row: an expected head missing). ``head``: hash of the last row
    checked (``GENESIS`` for an empty table) — keep it to check later that nothing was cut off
    the end."""

    ok: bool
    rows: int
    first_bad_id: int | None
    problem: str | None
    head: str = GENESIS

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def verify(engine: Engine, expect_head: str | None = None) -> VerifyResult:
    """Walk the rows in id order, recompute every hash and check every link.

    An edited row fails its own hash; a deleted row leaves the next row's ``prev_hash`` pointing
    at nothing (the first row's must be :data:`GENESIS`). With ``expect_head`` (a head reported by
    an earlier run), that hash must still be in the chain: rows appended since are fine, rows cut
    off the end are not."""
    columns = (
        AuditEntry.id,
        AuditEntry.at,
        AuditEntry.actor,
        AuditEntry.action,
        AuditEntry.target,
        AuditEntry.ip,
        AuditEntry.detail,
        AuditEntry.prev_hash,
        AuditEntry.hash,
    )
    rows = 0
    previous: tuple[int, str] | None = None  # (id, hash) of the last good row
    seen_expected = expect_head is None or expect_head == GENESIS
    last_id = None
    with engine.connect() as conn:
        while True:
            query = select(*columns).order_by(AuditEntry.id).limit(_VERIFY_BATCH)
            if last_id is not None:
                query = query.where(AuditEntry.id > last_id)
            batch = conn.execute(query).all()
            if not batch:
                break
            for row in batch:
                rows += 1
                head = previous[1] if previous else GENESIS
                problem = _check(row, previous)
                if problem is not None:
                    return VerifyResult(False, rows, row.id, problem, head)
                previous = (row.id, row.hash)
                if row.hash == expect_head:
                    seen_expected = True
            last_id = batch[-1].id
    head = previous[1] if previous else GENESIS
    if not seen_expected:
        return VerifyResult(
            False,
            rows,
            None,
            f"expected head {expect_head} is not in the chain: rows were removed from the end "
            "(or the hash is from another database)",
            head,
        )
    return VerifyResult(True, rows, None, None, head)


def _check(row: Any, previous: tuple[int, str] | None) -> str | None:
    if row.hash == _PENDING or row.prev_hash == _PENDING:
        return f"row {row.id} has no hash: it was not written by audit.record"
    digest = chain_hash(
        row.id, row.at, row.actor, row.action, row.target, row.ip, row.detail, row.prev_hash
    )
    if digest != row.hash:
        return f"row {row.id} was altered: its content does not match its hash"
    if previous is None:
        if row.prev_hash != GENESIS:
            return (
                f"row {row.id} is the first row but does not start the chain: "
                "a row before it is missing or altered"
            )
    elif row.prev_hash != previous[1]:
        return (
            f"row {row.id} does not link to row {previous[0]} before it: "
            "a row between them is missing or altered"
        )
    return None
