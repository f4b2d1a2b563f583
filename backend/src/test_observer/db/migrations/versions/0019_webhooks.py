"""Outbound webhooks: subscriptions, the event outbox, deliveries and their permissions.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06 18:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NEW_PERMISSIONS = ("view_webhook", "change_webhook")
PERMISSION_COLUMNS = (
    ("team", "permissions"),
    ("application", "permissions"),
    ("artefact_matching_rule", "grant_permissions"),
)
UTC_NOW = sa.text("timezone('utc', now())")


def upgrade() -> None:
    for permission in NEW_PERMISSIONS:
        op.execute(f"ALTER TYPE permission ADD VALUE IF NOT EXISTS '{permission}'")
    op.create_table(
        "webhook",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), server_default=UTC_NOW, nullable=False),
        sa.Column("updated_at", sa.DateTime(), server_default=UTC_NOW, nullable=False),
        sa.Column("url", sa.String(), nullable=False),
        sa.Column("event_types", postgresql.ARRAY(sa.String()), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("payload_format", sa.String(), server_default="json", nullable=False),
        sa.Column("secret", sa.String(), nullable=False),
        sa.Column("families", postgresql.ARRAY(sa.String()), server_default="{}", nullable=False),
        sa.Column(
            "artefact_names", postgresql.ARRAY(sa.String()), server_default="{}", nullable=False
        ),
        sa.CheckConstraint(
            "payload_format IN ('json', 'slack', 'mattermost')",
            name=op.f("webhook_payload_format_check"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("webhook_pkey")),
    )
    op.create_table(
        "webhook_event",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("event_type", sa.String(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(), server_default=UTC_NOW, nullable=False),
        sa.Column("data", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("webhook_event_pkey")),
    )
    op.create_table(
        "webhook_delivery",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("webhook_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(), server_default="pending", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("created_at", sa.DateTime(), server_default=UTC_NOW, nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), server_default=UTC_NOW, nullable=False),
        sa.Column("first_attempt_at", sa.DateTime(), nullable=True),
        sa.Column("last_attempt_at", sa.DateTime(), nullable=True),
        sa.Column("last_response_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(), nullable=True),
        sa.Column("last_duration_s", sa.Float(), nullable=True),
        sa.Column("delivered_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'delivered', 'failed')",
            name=op.f("webhook_delivery_status_check"),
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["webhook_event.id"],
            name=op.f("webhook_delivery_event_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["webhook_id"],
            ["webhook.id"],
            name=op.f("webhook_delivery_webhook_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("webhook_delivery_pkey")),
    )
    op.create_index(
        "webhook_delivery_webhook_id_id_ix", "webhook_delivery", ["webhook_id", "id"]
    )
    op.create_index(
        "webhook_delivery_pending_ix",
        "webhook_delivery",
        ["webhook_id", "id"],
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index("webhook_delivery_event_id_ix", "webhook_delivery", ["event_id"])
    op.create_index(
        "webhook_delivery_last_attempt_at_ix", "webhook_delivery", ["last_attempt_at"]
    )


def downgrade() -> None:
    op.drop_table("webhook_delivery")
    op.drop_table("webhook_event")
    op.drop_table("webhook")
    # PostgreSQL cannot drop an enum value: the type is rebuilt without the new ones, after
    # they are taken away from whoever holds them.
    removed = ", ".join(f"'{p}'" for p in NEW_PERMISSIONS)
    for table, column in PERMISSION_COLUMNS:
        op.execute(
            f"UPDATE {table} SET {column} = ARRAY(SELECT p FROM unnest({column}) AS p "
            f"WHERE p::text NOT IN ({removed}))::permission[] "
            f"WHERE {column} && ARRAY[{removed}]::permission[]"
        )
    op.execute("ALTER TYPE permission RENAME TO permission_old")
    op.execute(
        "DO $$ BEGIN EXECUTE format('CREATE TYPE permission AS ENUM (%s)', ("
        "SELECT string_agg(quote_literal(enumlabel), ', ' ORDER BY enumsortorder) FROM pg_enum "
        "WHERE enumtypid = 'permission_old'::regtype "
        f"AND enumlabel NOT IN ({removed}))); END $$"
    )
    for table, column in PERMISSION_COLUMNS:
        op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} DROP DEFAULT")
        op.execute(
            f"ALTER TABLE {table} ALTER COLUMN {column} TYPE permission[] "
            f"USING {column}::text[]::permission[]"
        )
        op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET DEFAULT '{{}}'")
    op.execute("DROP TYPE permission_old")
