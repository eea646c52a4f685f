"""audit hash chain

Adds ``prev_hash`` and ``hash`` to ``audit_log`` and chains the rows already there, in id order,
so that ``lendguard audit verify`` passes on an upgraded database (rows written before this
revision are vouched for from here on, not before).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-25 04:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from lendguard.auth.audit import GENESIS, PG_LOCK_KEY, chain_hash

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_BATCH = 1000

audit_log = sa.table(
    "audit_log",
    sa.column("id", sa.Integer()),
    sa.column("at", sa.DateTime(timezone=True)),
    sa.column("actor", sa.String()),
    sa.column("action", sa.String()),
    sa.column("target", sa.String()),
    sa.column("ip", sa.String()),
    sa.column("detail", sa.JSON().with_variant(postgresql.JSONB(), "postgresql")),
    sa.column("prev_hash", sa.String()),
    sa.column("hash", sa.String()),
)


def _backfill() -> None:
    conn = op.get_bind()
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_LOCK_KEY})
    prev_hash = GENESIS
    last_id: int | None = None
    while True:
        query = (
            sa.select(
                audit_log.c.id,
                audit_log.c.at,
                audit_log.c.actor,
                audit_log.c.action,
                audit_log.c.target,
                audit_log.c.ip,
                audit_log.c.detail,
            )
            .order_by(audit_log.c.id)
            .limit(_BATCH)
        )
        if last_id is not None:
            query = query.where(audit_log.c.id > last_id)
        rows = conn.execute(query).all()
        if not rows:
            return
        values = []
        for row in rows:
            digest = chain_hash(
                row.id, row.at, row.actor, row.action, row.target, row.ip, row.detail, prev_hash
            )
            values.append({"row_id": row.id, "new_prev_hash": prev_hash, "new_hash": digest})
            prev_hash = digest
        conn.execute(
            audit_log.update()
            .where(audit_log.c.id == sa.bindparam("row_id"))
            .values(prev_hash=sa.bindparam("new_prev_hash"), hash=sa.bindparam("new_hash")),
            values,
        )
        last_id = rows[-1].id


def upgrade() -> None:
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("hash", sa.String(length=64), nullable=True))
    _backfill()
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.alter_column("prev_hash", existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column("hash", existing_type=sa.String(length=64), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_column("hash")
        batch_op.drop_column("prev_hash")
