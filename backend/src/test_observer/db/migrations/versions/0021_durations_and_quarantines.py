"""Test results' durations; quarantined test cases and the permission to change them.

A result's `duration` is the seconds the test took, when the reporter says; results stored
before this revision have none. A quarantine accepts a test case's failures on one environment
or all of them (no environment), until an optional expiry.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06 18:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PERMISSION = "change_quarantine"
# Every column holding permissions, as (table, column).
PERMISSION_COLUMNS = (
    ("team", "permissions"),
    ("application", "permissions"),
    ("artefact_matching_rule", "grant_permissions"),
)


def upgrade() -> None:
    op.add_column("test_result", sa.Column("duration", sa.Float(), nullable=True))
    op.create_table(
        "quarantine",
        sa.Column("test_case_id", sa.Integer(), nullable=False),
        sa.Column("environment_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column("issue_id", sa.Integer(), nullable=True),
        sa.Column("expires_at", sa.DateTime(), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(),
            server_default=sa.text("timezone('utc', now())"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(),
            server_default=sa.text("timezone('utc', now())"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["environment_id"],
            ["environment.id"],
            name=op.f("quarantine_environment_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["issue_id"], ["issue.id"], name=op.f("quarantine_issue_id_fkey"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["test_case_id"],
            ["test_case.id"],
            name=op.f("quarantine_test_case_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("quarantine_pkey")),
    )
    op.create_index(
        "quarantine_scope_key",
        "quarantine",
        ["test_case_id", sa.text("coalesce(environment_id, 0)")],
        unique=True,
    )
    op.create_index(op.f("quarantine_environment_id_ix"), "quarantine", ["environment_id"])
    op.create_index(op.f("quarantine_issue_id_ix"), "quarantine", ["issue_id"])
    # Usable once this transaction commits; nothing below uses it.
    op.execute(f"ALTER TYPE permission ADD VALUE IF NOT EXISTS '{PERMISSION}'")


def downgrade() -> None:
    # PostgreSQL cannot drop an enum value: the type is rebuilt without it, and whoever held
    # the permission loses it.
    op.execute("ALTER TYPE permission RENAME TO permission_old")
    op.execute(
        "DO $$ BEGIN EXECUTE format('CREATE TYPE permission AS ENUM (%s)', ("
        "SELECT string_agg(quote_literal(enumlabel), ', ' ORDER BY enumsortorder) "
        "FROM pg_enum WHERE enumtypid = 'permission_old'::regtype "
        f"AND enumlabel <> '{PERMISSION}')); END $$"
    )
    for table, column in PERMISSION_COLUMNS:
        op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} DROP DEFAULT")
        op.execute(
            f"ALTER TABLE {table} ALTER COLUMN {column} TYPE permission[] USING "
            f"array_remove(CAST({column} AS text[]), '{PERMISSION}')::permission[]"
        )
        op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET DEFAULT '{{}}'")
    op.execute("DROP TYPE permission_old")
    op.drop_index(op.f("quarantine_issue_id_ix"), table_name="quarantine")
    op.drop_index(op.f("quarantine_environment_id_ix"), table_name="quarantine")
    op.drop_index("quarantine_scope_key", table_name="quarantine")
    op.drop_table("quarantine")
    op.drop_column("test_result", "duration")
