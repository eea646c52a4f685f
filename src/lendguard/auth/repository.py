"""The SQL of API keys: every read and write of the ``api_keys`` table.

:class:`lendguard.auth.service.ApiKeyService` keeps the rules (scopes, expiry, revocation, the
cache) and owns each transaction; the writes here take its connection, so a change and the audit
record written beside it commit or roll back together.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, Row, insert, select, update

from lendguard.models.access import ApiKey


class ApiKeyRepository:
    """Rows of ``api_keys``, as plain dicts (the service's listing) or the few columns
    authentication needs."""

    def __init__(self, engine: Engine) -> None:
        self.db = engine

    # -- writes (inside the caller's transaction) ----------------------------------------------

    @staticmethod
    def insert(conn: Connection, row: dict[str, Any]) -> None:
        conn.execute(insert(ApiKey), row)

    @staticmethod
    def row_for_update(conn: Connection, key_id: str) -> dict[str, Any] | None:
        """The key's row, locked until the transaction ends (PostgreSQL), or None."""
        query = select(ApiKey.__table__).where(ApiKey.id == key_id)
        if conn.dialect.name == "postgresql":
            query = query.with_for_update()
        found = conn.execute(query).first()
        return None if found is None else dict(found._mapping)

    @staticmethod
    def mark_revoked(conn: Connection, key_id: str, at: datetime, by: str) -> None:
        conn.execute(
            update(ApiKey)
            .where(ApiKey.id == key_id)
            .values(revoked=True, revoked_at=at, revoked_by=by)
        )

    @staticmethod
    def set_expiry(conn: Connection, key_id: str, at: datetime) -> None:
        conn.execute(update(ApiKey).where(ApiKey.id == key_id).values(expires_at=at))

    # -- reads (own connection) ----------------------------------------------------------------

    def exists(self, key_hash: str) -> bool:
        with self.db.connect() as conn:
            found = conn.execute(select(ApiKey.id).where(ApiKey.key_hash == key_hash)).first()
        return found is not None

    def all(self) -> list[dict[str, Any]]:
        """Every key's row, oldest first."""
        with self.db.connect() as conn:
            rows = conn.execute(
                select(ApiKey.__table__).order_by(ApiKey.created_at, ApiKey.id)
            ).all()
        return [dict(r._mapping) for r in rows]

    def credentials(self, key_hash: str) -> Row[str, str, list[str], bool, datetime | None] | None:
        """What authenticating a secret needs: id, name, scopes, revoked, expires_at."""
        with self.db.connect() as conn:
            return conn.execute(
                select(
                    ApiKey.id, ApiKey.name, ApiKey.scopes, ApiKey.revoked, ApiKey.expires_at
                ).where(ApiKey.key_hash == key_hash)
            ).first()
