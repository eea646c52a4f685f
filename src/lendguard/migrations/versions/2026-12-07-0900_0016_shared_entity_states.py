"""shared window state (state_backend=shared)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "entity_states",
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("blob", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_entity_states")),
    )


def downgrade() -> None:
    op.drop_table("entity_states")
