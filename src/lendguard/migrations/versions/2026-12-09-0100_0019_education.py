"""education: delivery/opening/completion events and quiz answers

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-09 01:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
_AT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "education_events",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(128), nullable=False, unique=True),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("content_id", sa.String(64), nullable=False),
        sa.Column("topic", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("decision_id", sa.String(64), nullable=True),
        sa.Column("case_id", sa.String(64), nullable=True),
        sa.Column("occurred_at", _AT, nullable=False),
        sa.Column("received_at", _AT, nullable=False),
        sa.Column("recorded_by", sa.String(128), nullable=False),
    )
    op.create_index("ix_education_events_occurred", "education_events", ["occurred_at"])
    op.create_index(
        "ix_education_events_customer", "education_events", ["customer_id", "occurred_at"]
    )
    op.create_table(
        "education_quiz_answers",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(128), nullable=False, unique=True),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("topic", sa.String(64), nullable=False),
        sa.Column("quiz_version", sa.Integer(), nullable=False),
        sa.Column("answers", _JSON, nullable=False),
        sa.Column("correct", sa.Integer(), nullable=False),
        sa.Column("questions", sa.Integer(), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("answered_at", _AT, nullable=False),
        sa.Column("received_at", _AT, nullable=False),
        sa.Column("recorded_by", sa.String(128), nullable=False),
    )
    op.create_index("ix_education_quiz_answers_at", "education_quiz_answers", ["answered_at"])


def downgrade() -> None:
    op.drop_table("education_quiz_answers")
    op.drop_table("education_events")
