"""Attachment rules match test plans; reviewers declare the environments an artefact expects.

- `issue_test_result_attachment_rule.test_plans`: like the rule's other filters, an empty
  array accepts any plan, so existing rules keep matching what they matched.
- `expected_environments`: per family and artefact name (and optionally test plan), the
  environment names every version must be tested on; missing environments compare against
  these before falling back to the previous version.
- The permission `change_expected_environment`, which writing them needs.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 18:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PERMISSION = "change_expected_environment"
# Every column of the permission type, as (table, column).
PERMISSION_COLUMNS = (
    ("team", "permissions"),
    ("application", "permissions"),
    ("artefact_matching_rule", "grant_permissions"),
)


def upgrade() -> None:
    op.add_column(
        "issue_test_result_attachment_rule",
        sa.Column(
            "test_plans", postgresql.ARRAY(sa.String()), server_default="{}", nullable=False
        ),
    )
    op.create_table(
        "expected_environments",
        sa.Column(
            "family",
            postgresql.ENUM(name="familyname", create_type=False),
            nullable=False,
        ),
        sa.Column("artefact_name", sa.String(length=200), nullable=False),
        sa.Column("test_plan", sa.String(length=200), server_default="", nullable=False),
        sa.Column("environments", postgresql.ARRAY(sa.String(length=200)), nullable=False),
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
        sa.PrimaryKeyConstraint("id", name=op.f("expected_environments_pkey")),
        sa.UniqueConstraint(
            "family",
            "artefact_name",
            "test_plan",
            name=op.f("expected_environments_family_artefact_name_test_plan_key"),
        ),
    )
    op.execute(
        f"ALTER TYPE permission ADD VALUE IF NOT EXISTS '{PERMISSION}' "
        "AFTER 'change_environment_reported_issue'"
    )


def downgrade() -> None:
    # PostgreSQL cannot drop a value from an enum type: the type is rebuilt without it, and
    # every grant of the permission is withdrawn first.
    for table, column in PERMISSION_COLUMNS:
        op.execute(
            f"UPDATE {table} SET {column} = array_remove({column}, '{PERMISSION}') "
            f"WHERE '{PERMISSION}' = ANY({column})"
        )
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
            f"ALTER TABLE {table} ALTER COLUMN {column} "
            f"TYPE permission[] USING {column}::text[]::permission[]"
        )
        op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET DEFAULT '{{}}'")
    op.execute("DROP TYPE permission_old")
    op.drop_table("expected_environments")
    op.drop_column("issue_test_result_attachment_rule", "test_plans")
