"""The tamper-evident audit trail: hash chain, ``verify`` and ``lendguard audit verify``, on
SQLite and PostgreSQL (``database_url``)."""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import structlog
from sqlalchemy import (
    Engine,
    String,
    column,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
    table,
    text,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.pool import NullPool
from typer.testing import CliRunner

from fixtures import Api
from lendguard.auth import audit
from lendguard.cli.main import app
from lendguard.config import get_settings
from lendguard.db import make_engine, normalise_url, upgrade
from lendguard.models.access import AuditEntry
from lendguard.models.base import PortableJSON, UTCDateTime

# numbers PostgreSQL's JSONB spells differently from orjson (1e16 comes back as an integer)
AWKWARD_DETAIL: dict[str, Any] = {
    "big": 1e16,
    "small": 1.5e-10,
    "tenth": 0.1,
    "whole": 5.0,
    "int": 2**60,
    "neg": -3,
    "text": "同意 ✓",
    "nested": {"b": [1, 2.5, None, True], "a": {"z": "y"}},
}


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    db = make_engine(database_url)
    yield db
    db.dispose()


def chain(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                select(AuditEntry.id, AuditEntry.prev_hash, AuditEntry.hash).order_by(AuditEntry.id)
            )
        )


def fill(engine: Engine, n: int = 5) -> list[int]:
    return [
        audit.record_now(engine, f"user:{i}", "consent.given", f"cust-{i}", "10.0.0.1", {"i": i})
        for i in range(n)
    ]


def assert_linked(rows: list[Any]) -> None:
    previous = audit.GENESIS
    for row in rows:
        assert row.prev_hash == previous
        assert len(row.hash) == 64
        previous = row.hash


# -- a fresh chain ---------------------------------------------------------------------------------


def test_empty_table_verifies(engine: Engine) -> None:
    result = audit.verify(engine)
    assert result == audit.VerifyResult(True, 0, None, None, audit.GENESIS)


def test_fresh_chain_verifies(engine: Engine) -> None:
    ids = [
        audit.record_now(engine, "admin", "users.create", "user:a", "10.0.0.1", {"role": "x"}),
        audit.record_now(engine, "officer", "conduct.marketing", "cust-1", None, AWKWARD_DETAIL),
        audit.record_now(engine, "officer", "cases.note", "case-1"),
        audit.record_read(engine, "officer", "export", "cust-1", "10.0.0.2", {"rows": 3}),
    ]
    with engine.begin() as conn:
        ids.append(audit.record_read(conn, "dpo", "profile", "cust-2"))
        ids.append(audit.record(conn, "dpo", "consent.withdrawn", "cust-2", None, {"x": []}))
    rows = chain(engine)
    assert [r.id for r in rows] == ids == list(range(ids[0], ids[0] + 6))
    assert_linked(rows)
    result = audit.verify(engine)
    assert result.ok
    assert result.problem is None
    assert result.first_bad_id is None
    assert result.rows == 6
    assert result.head == rows[-1].hash
    # what the database gives back is what was hashed (JSONB respells some numbers)
    stored = audit.entries(engine, limit=10)
    assert {e["action"] for e in stored} >= {"read.export", "read.profile"}
    awkward = next(e for e in stored if e["action"] == "conduct.marketing")
    assert awkward["detail"]["nested"]["a"] == {"z": "y"}


def test_the_hash_covers_every_field() -> None:
    from datetime import UTC, datetime

    at = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)
    base = (7, at, "a", "act", "t", "1.2.3.4", {"k": [1, "x"]}, audit.GENESIS)
    digest = audit.chain_hash(*base)
    for index, other in enumerate(
        (8, at.replace(microsecond=1), "b", "act2", "u", None, {"k": [1, "y"]}, "1" * 64)
    ):
        changed: list[Any] = list(base)
        changed[index] = other
        assert audit.chain_hash(*changed) != digest, index
    # one spelling per number, but numbers and strings stay apart
    assert audit.chain_hash(*base[:6], {"n": 1e16}, base[7]) == audit.chain_hash(
        *base[:6], {"n": 10**16}, base[7]
    )
    assert audit.chain_hash(*base[:6], {"n": 1}, base[7]) != audit.chain_hash(
        *base[:6], {"n": "1"}, base[7]
    )
    # key order does not matter; the zone of ``at`` does not either
    assert audit.chain_hash(*base[:6], {"a": 1, "b": 2}, base[7]) == audit.chain_hash(
        *base[:6], {"b": 2, "a": 1}, base[7]
    )
    assert audit.canonical_at(at) == "2026-11-25T04:00:00.000000Z"


# -- tampering -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("detail", {"i": 99}),
        ("actor", "someone-else"),
        ("at", None),  # a minute earlier
        ("ip", "10.9.9.9"),
        ("prev_hash", "f" * 64),
    ],
)
def test_an_edited_row_is_named(engine: Engine, column: str, value: Any) -> None:
    ids = fill(engine)
    victim = ids[2]
    with engine.begin() as conn:
        if column == "at":
            old = conn.execute(select(AuditEntry.at).where(AuditEntry.id == victim)).scalar_one()
            from datetime import timedelta

            conn.execute(
                update(AuditEntry)
                .where(AuditEntry.id == victim)
                .values(at=old - timedelta(minutes=1))
            )
        else:
            conn.execute(update(AuditEntry).where(AuditEntry.id == victim).values({column: value}))
    result = audit.verify(engine)
    assert not result.ok
    assert result.first_bad_id == victim
    assert result.rows == 3
    assert f"row {victim} was altered" in (result.problem or "")


def test_an_edit_with_raw_sql_is_named(engine: Engine) -> None:
    ids = fill(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET actor = 'mallory' WHERE id = :id"), {"id": ids[1]})
    result = audit.verify(engine)
    assert (result.ok, result.first_bad_id) == (False, ids[1])


def test_a_rehashed_edit_breaks_the_next_link(engine: Engine) -> None:
    """Editing a row and recomputing its own hash still breaks the row after it."""
    ids = fill(engine)
    victim = ids[1]
    with engine.begin() as conn:
        row = conn.execute(select(AuditEntry).where(AuditEntry.id == victim)).one()
        forged = audit.chain_hash(
            row.id, row.at, "mallory", row.action, row.target, row.ip, row.detail, row.prev_hash
        )
        conn.execute(
            update(AuditEntry).where(AuditEntry.id == victim).values(actor="mallory", hash=forged)
        )
    result = audit.verify(engine)
    assert (result.ok, result.first_bad_id) == (False, ids[2])
    assert f"does not link to row {victim}" in (result.problem or "")


def test_a_deleted_middle_row_names_the_next_row(engine: Engine) -> None:
    ids = fill(engine)
    with engine.begin() as conn:
        conn.execute(delete(AuditEntry).where(AuditEntry.id == ids[2]))
    result = audit.verify(engine)
    assert not result.ok
    assert result.first_bad_id == ids[3]
    assert "missing" in (result.problem or "")
    assert f"row {ids[3]} does not link to row {ids[1]}" in (result.problem or "")


def test_a_deleted_first_row_names_the_new_first_row(engine: Engine) -> None:
    ids = fill(engine, 3)
    with engine.begin() as conn:
        conn.execute(delete(AuditEntry).where(AuditEntry.id == ids[0]))
    result = audit.verify(engine)
    assert (result.ok, result.first_bad_id, result.rows) == (False, ids[1], 1)


def test_a_cut_off_tail_needs_the_expected_head(engine: Engine) -> None:
    ids = fill(engine, 4)
    checkpoint = audit.verify(engine).head
    fill(engine, 2)  # appended after the checkpoint: fine
    assert audit.verify(engine, expect_head=checkpoint).ok
    with engine.begin() as conn:
        conn.execute(delete(AuditEntry).where(AuditEntry.id >= ids[3]))
    assert audit.verify(engine).ok  # a shorter chain is still a chain
    result = audit.verify(engine, expect_head=checkpoint)
    assert not result.ok
    assert result.first_bad_id is None
    assert checkpoint in (result.problem or "")


def test_a_row_not_written_by_record_is_named(engine: Engine) -> None:
    ids = fill(engine, 2)
    with engine.begin() as conn:
        conn.execute(update(AuditEntry).where(AuditEntry.id == ids[1]).values(hash=""))
    result = audit.verify(engine)
    assert (result.ok, result.first_bad_id) == (False, ids[1])


# -- transactions and concurrency ------------------------------------------------------------------


def test_a_rolled_back_change_leaves_no_row(engine: Engine) -> None:
    fill(engine, 2)

    class Boom(Exception):
        pass

    def change_that_fails() -> None:
        with engine.begin() as conn:
            audit.record(conn, "officer", "consent.given", "cust-x")
            raise Boom

    with pytest.raises(Boom):
        change_that_fails()
    assert len(chain(engine)) == 2
    audit.record_now(engine, "officer", "consent.given", "cust-y")
    rows = chain(engine)
    assert len(rows) == 3
    assert_linked(rows)
    if engine.dialect.name == "sqlite":
        assert [r.id for r in rows] == [1, 2, 3]  # the rolled-back id is reused: no gap
    assert audit.verify(engine).ok


def _hammer(engine: Engine, threads: int, per_thread: int, retry: bool = False) -> int:
    """``threads`` writers at once, each ``per_thread`` transactions that read the table first
    and then append (every third transaction appends twice). Returns the rows written."""
    barrier = threading.Barrier(threads)
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            barrier.wait()
            for i in range(per_thread):
                while True:
                    try:
                        with engine.begin() as conn:
                            conn.execute(select(func.count()).select_from(AuditEntry)).scalar()
                            audit.record(conn, f"t{n}", "consent.given", f"c{n}-{i}", None, {})
                            if i % 3 == 0:
                                audit.record(conn, f"t{n}", "consent.extra", f"c{n}-{i}")
                        break
                    except OperationalError:
                        if not retry:
                            raise
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert not errors, errors
    return threads * (per_thread + len(range(0, per_thread, 3)))


def _assert_consecutive_chain(engine: Engine, expected_rows: int) -> None:
    rows = chain(engine)
    assert len(rows) == expected_rows
    assert [r.id for r in rows] == list(range(rows[0].id, rows[0].id + expected_rows))
    assert_linked(rows)
    result = audit.verify(engine)
    assert result.ok, result
    assert result.rows == expected_rows


def test_concurrent_writers_keep_the_chain(engine: Engine) -> None:
    written = _hammer(engine, threads=8, per_thread=15)
    _assert_consecutive_chain(engine, written)


def test_concurrent_writers_in_explicit_deferred_transactions(sqlite_url: str) -> None:
    """SQLite with a real ``BEGIN`` (DEFERRED) at the start of each transaction, so the read
    before ``record`` holds a snapshot: a writer that fell behind gets "database is locked"
    (SQLITE_BUSY_SNAPSHOT) and retries; it never links to a stale row."""
    engine = make_engine(sqlite_url)

    @event.listens_for(engine, "connect")
    def _no_driver_transactions(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN DEFERRED")

    try:
        written = _hammer(engine, threads=6, per_thread=10, retry=True)
        _assert_consecutive_chain(engine, written)
    finally:
        engine.dispose()


def test_postgres_refuses_a_snapshot_older_than_the_lock(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL isolation levels")
    with (
        pytest.raises(RuntimeError, match="READ COMMITTED"),
        engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn,
        conn.begin(),
    ):
        audit.record(conn, "a", "b", "c")
    assert chain(engine) == []


def test_the_api_writes_a_verifiable_chain(app_client: Api) -> None:
    for name in ("ana", "bo"):
        answer = app_client.client.post(
            "/v1/users",
            headers=app_client.admin,
            json={"username": name, "password": "pw-" + name * 6, "role": "analyst"},
        )
        assert answer.status_code == 201, answer.text
    result = audit.verify(app_client.services.decisions.db)
    assert result.ok
    assert result.rows >= 2


# -- the command -----------------------------------------------------------------------------------


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, database_url: str) -> Iterator[CliRunner]:
    monkeypatch.setenv("LENDGUARD_DATABASE_URL", database_url)
    monkeypatch.setenv("LENDGUARD_STATE_BACKEND", "memory")
    monkeypatch.delenv("LENDGUARD_REDIS_URL", raising=False)
    logging_config = structlog.get_config()
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()
    structlog.configure(**logging_config)


def test_cli_verify(cli: CliRunner, engine: Engine) -> None:
    ids = fill(engine, 4)
    ok = cli.invoke(app, ["audit", "verify"], catch_exceptions=False)
    assert ok.exit_code == 0, ok.output
    assert "intact: 4 rows" in ok.output
    as_json = cli.invoke(app, ["audit", "verify", "--json"], catch_exceptions=False)
    assert as_json.exit_code == 0
    head = orjson.loads(as_json.stdout)["head"]
    assert orjson.loads(as_json.stdout) == {
        "ok": True,
        "rows": 4,
        "first_bad_id": None,
        "problem": None,
        "head": head,
    }
    with engine.begin() as conn:
        conn.execute(update(AuditEntry).where(AuditEntry.id == ids[2]).values(detail={"i": 7}))
    bad = cli.invoke(app, ["audit", "verify"], catch_exceptions=False)
    assert bad.exit_code == 1
    assert f"row {ids[2]}" in bad.output
    assert "altered" in bad.output
    bad_json = cli.invoke(app, ["audit", "verify", "--json"], catch_exceptions=False)
    assert bad_json.exit_code == 1
    assert orjson.loads(bad_json.stdout)["first_bad_id"] == ids[2]


def test_cli_expect_head(cli: CliRunner, engine: Engine) -> None:
    ids = fill(engine, 3)
    head = audit.verify(engine).head
    assert cli.invoke(app, ["audit", "verify", "--expect-head", head]).exit_code == 0
    with engine.begin() as conn:
        conn.execute(delete(AuditEntry).where(AuditEntry.id == ids[2]))
    cut = cli.invoke(app, ["audit", "verify", "--expect-head", head], catch_exceptions=False)
    assert cut.exit_code == 1
    assert "removed from the end" in cut.output


# -- the migration ---------------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def blank_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty, unmigrated database of each kind (PostgreSQL: created and dropped here)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'blank.db'}"
        return
    request.getfixturevalue("postgres_database")  # skips (or fails in CI) like the others
    base = normalise_url(os.environ["LENDGUARD_TEST_DATABASE_URL"])
    name = f"lg_test_mig_{secrets.token_hex(6)}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        try:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        except SQLAlchemyError:
            pass
        admin.dispose()


def test_the_migration_chains_existing_rows(blank_database_url: str) -> None:
    from datetime import UTC, datetime

    from alembic import command

    from lendguard.db import alembic_config

    upgrade(blank_database_url, "0008")
    engine = make_engine(blank_database_url)
    try:
        old_log = table(
            "audit_log",
            column("at", UTCDateTime()),
            column("actor", String()),
            column("action", String()),
            column("target", String()),
            column("ip", String()),
            column("detail", PortableJSON),
        )
        with engine.begin() as conn:
            conn.execute(
                insert(old_log),
                [
                    {
                        "at": datetime(2026, 11, 24, 12, 0, i, 123456 * (i % 2), tzinfo=UTC),
                        "actor": f"user:{i}",
                        "action": "consent.given",
                        "target": f"cust-{i}",
                        "ip": None if i % 2 else "10.0.0.1",
                        "detail": {"i": i, "big": 1e16, "x": [0.1, "同意"]},
                    }
                    for i in range(5)
                ],
            )
        upgrade(blank_database_url)
        engine.dispose()
        rows = chain(engine)
        assert len(rows) == 5
        assert_linked(rows)
        assert audit.verify(engine).ok
        audit.record_now(engine, "admin", "after.upgrade", "x")
        assert audit.verify(engine).rows == 6
        # down and up again: the chain is rebuilt the same way
        command.downgrade(alembic_config(blank_database_url), "0008")
        upgrade(blank_database_url)
        engine.dispose()
        assert [r.hash for r in chain(engine)][:5] == [r.hash for r in rows]
        assert audit.verify(engine).ok
    finally:
        engine.dispose()
