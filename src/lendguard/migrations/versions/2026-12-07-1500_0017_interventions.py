"""interventions: challenge answers, money locks, trusted contacts, hold deadlines

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 15:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "challenge_responses",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("decision_id", sa.String(64), nullable=False, unique=True),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("challenge_id", sa.String(64), nullable=False),
        sa.Column("policy_version", sa.String(64), nullable=False),
        sa.Column("locale", sa.String(8), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("questions", _JSON, nullable=False),
        sa.Column("answers", _JSON, nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("follow_up_decision_id", sa.String(64), nullable=False, unique=True),
        sa.Column("follow_up_action", sa.String(16), nullable=False),
        sa.Column("follow_up_score", sa.Integer(), nullable=False),
        sa.Column("follow_up_reasons", _JSON, nullable=False),
        sa.Column("follow_up_measures", _JSON, nullable=False),
        sa.Column("follow_up_messages", _JSON, nullable=False),
        sa.Column("release_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("shown_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
    )
    op.create_index("ix_challenge_responses_customer_id", "challenge_responses", ["customer_id"])
    op.create_table(
        "customer_locks",
        sa.Column("customer_id", sa.String(128), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("kill_switch", sa.Boolean(), nullable=False),
        sa.Column("locked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locked_by", sa.String(128), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("unlock_method", sa.String(16), nullable=True),
        sa.Column("unlock_reference", sa.String(128), nullable=True),
        sa.Column("unlock_effective_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
    )
    op.create_table(
        "customer_lock_events",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("detail", _JSON, nullable=False),
    )
    op.create_index(
        "ix_customer_lock_events_customer", "customer_lock_events", ["customer_id", "at"]
    )
    op.create_table(
        "trusted_contacts",
        sa.Column("customer_id", sa.String(128), primary_key=True),
        sa.Column("name_token", sa.String(256), nullable=False),
        sa.Column("phone_token", sa.String(256), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("consent_id", sa.String(64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "trusted_confirmations",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("decision_id", sa.String(64), nullable=False, unique=True),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("amount", sa.Float(), nullable=True),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("actor", sa.String(128), nullable=True),
    )
    op.create_index(
        "ix_trusted_confirmations_customer_id", "trusted_confirmations", ["customer_id"]
    )
    with op.batch_alter_table("case_decisions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("hold_deadline", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("hold_ended_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("hold_end_reason", sa.String(32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("case_decisions", schema=None) as batch_op:
        batch_op.drop_column("hold_end_reason")
        batch_op.drop_column("hold_ended_at")
        batch_op.drop_column("hold_deadline")
    op.drop_index("ix_trusted_confirmations_customer_id", table_name="trusted_confirmations")
    op.drop_table("trusted_confirmations")
    op.drop_table("trusted_contacts")
    op.drop_index("ix_customer_lock_events_customer", table_name="customer_lock_events")
    op.drop_table("customer_lock_events")
    op.drop_table("customer_locks")
    op.drop_index("ix_challenge_responses_customer_id", table_name="challenge_responses")
    op.drop_table("challenge_responses")
