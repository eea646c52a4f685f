"""alliance: members, the lender's alliance list, exchanges, peer nonces, aggregation rounds

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-08 01:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
_AT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "alliance_members",
        sa.Column("member_id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("url", sa.String(500), nullable=False),
        sa.Column("public_key", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", _AT, nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("removed_at", _AT, nullable=True),
    )
    op.create_table(
        "alliance_list_entries",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("token", sa.String(64), nullable=False),
        sa.Column("masked", sa.String(64), nullable=False),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.Column("added_by", sa.String(128), nullable=False),
        sa.Column("added_at", _AT, nullable=False),
        sa.Column("removed_at", _AT, nullable=True),
        sa.UniqueConstraint("kind", "digest", name="uq_alliance_list_kind_digest"),
    )
    op.create_index("ix_alliance_list_entries_kind", "alliance_list_entries", ["kind"])
    op.create_table(
        "alliance_exchanges",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("peer", sa.String(64), nullable=False),
        sa.Column("session_id", sa.String(64), nullable=False),
        sa.Column("list_kind", sa.String(16), nullable=True),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("items", sa.Integer(), nullable=False),
        sa.Column("peer_items", sa.Integer(), nullable=True),
        sa.Column("matched", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("legal_basis", sa.String(200), nullable=False),
        sa.Column("purpose", sa.String(64), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("started_at", _AT, nullable=False),
        sa.Column("finished_at", _AT, nullable=True),
        sa.Column("took_ms", sa.Float(), nullable=True),
        sa.Column("detail", _JSON, nullable=False),
    )
    op.create_index("ix_alliance_exchanges_started", "alliance_exchanges", ["started_at"])
    op.create_index("ix_alliance_exchanges_peer", "alliance_exchanges", ["peer"])
    op.create_index("ix_alliance_exchanges_session_id", "alliance_exchanges", ["session_id"])
    op.create_table(
        "alliance_nonces",
        sa.Column("member_id", sa.String(64), primary_key=True),
        sa.Column("nonce", sa.String(64), primary_key=True),
        sa.Column("seen_at", _AT, nullable=False),
    )
    op.create_index("ix_alliance_nonces_seen_at", "alliance_nonces", ["seen_at"])
    op.create_table(
        "alliance_rounds",
        sa.Column("round_id", sa.String(64), primary_key=True),
        sa.Column("period", sa.String(16), nullable=False),
        sa.Column("layout", _JSON, nullable=False),
        sa.Column("participants", _JSON, nullable=False),
        sa.Column("dropped", _JSON, nullable=False),
        sa.Column("step", sa.String(16), nullable=False),
        sa.Column("totals", _JSON, nullable=True),
        sa.Column("started_by", sa.String(128), nullable=False),
        sa.Column("started_at", _AT, nullable=False),
        sa.Column("finished_at", _AT, nullable=True),
        sa.Column("detail", _JSON, nullable=False),
    )
    op.create_table(
        "alliance_round_states",
        sa.Column("round_id", sa.String(64), primary_key=True),
        sa.Column("aggregator", sa.String(64), nullable=False),
        sa.Column("step", sa.String(16), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", _AT, nullable=False),
        sa.Column("updated_at", _AT, nullable=False),
    )


def downgrade() -> None:
    for table in (
        "alliance_round_states",
        "alliance_rounds",
        "alliance_nonces",
        "alliance_exchanges",
        "alliance_list_entries",
        "alliance_members",
    ):
        op.drop_table(table)
