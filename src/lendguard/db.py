"""Database wiring: one engine per URL, SQLite tuned for a durable append-only log."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, update
from sqlalchemy.engine import make_url

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def normalise_url(url: str) -> str:
    """Accept plain ``postgresql://`` URLs and use the psycopg 3 driver for them."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def make_engine(url: str, sqlite_synchronous: str = "NORMAL") -> Engine:
    url = normalise_url(url)
    parsed = make_url(url)
    kwargs: dict[str, Any] = {
        "future": True,
        "json_serializer": lambda value: orjson.dumps(value).decode(),
        "json_deserializer": orjson.loads,
    }
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        # Writers queue for SQLite's single write lock: wait up to 30 s for it (from the moment
        # the connection opens, so even the first PRAGMA waits) rather than fail under a burst.
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
    else:
        # A connection that died while the server was away is replaced before use: the first
        # request after the database comes back succeeds. A server that does not answer fails
        # fast (a 503 with Retry-After) instead of holding the request.
        kwargs["pool_pre_ping"] = True
        kwargs["pool_size"] = 10
        kwargs["pool_timeout"] = 10
        if parsed.get_backend_name() == "postgresql":
            kwargs["connect_args"] = {"connect_timeout": 5}
    engine = create_engine(url, **kwargs)
    if parsed.get_backend_name() == "sqlite":

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA synchronous={sqlite_synchronous}")
            cursor.execute("PRAGMA journal_size_limit=67108864")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

    return engine


def safe_url(url: str) -> str:
    """The URL with its password masked, for messages and logs."""
    return make_url(normalise_url(url)).render_as_string(hide_password=True)


def unreachable_reason(url: str) -> str | None:
    """Why the database at ``url`` cannot be reached now (one line), or ``None`` if it can."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except Exception as exc:  # any driver's failure to connect: reported, never raised
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        return reason[0] if reason else type(exc).__name__
    finally:
        engine.dispose()
    return None


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Apply migrations (``lendguard db upgrade``; serve and demo call it on start)."""
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(url), revision)


def update_revision(
    conn: Connection,
    key: Any,
    row: Any,
    conflict: Exception,
    now: datetime,
    **values: Any,
) -> None:
    """Compare-and-set on a row's ``revision``: write ``values`` (with ``updated_at`` and the
    next revision) only if nobody changed the row since ``row`` was read, else raise
    ``conflict``; on success ``row`` (a mutable record) is kept in step with the table.

    ``key`` is the mapped primary-key column (``Case.id``); the row carries its value under the
    same name. Cases, complaints and service contacts all change this way, in the caller's
    transaction.
    """
    table = key.class_
    done = conn.execute(
        update(table)
        .where(key == getattr(row, key.key), table.revision == row.revision)
        .values(updated_at=now, revision=row.revision + 1, **values)
    )
    if done.rowcount != 1:
        raise conflict
    row.revision += 1
    for name, value in values.items():
        setattr(row, name, value)
