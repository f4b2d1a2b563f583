"""Index the results that may need triage.

Every listed execution reports whether it is triaged: whether any of its failed or skipped
results lacks an issue. Without this index PostgreSQL reads every result of the listed
executions to find the few failed or skipped ones.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 03:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "test_result_untriaged_ix"


def upgrade() -> None:
    op.create_index(
        INDEX,
        "test_result",
        ["test_execution_id"],
        postgresql_where=sa.text("status IN ('FAILED', 'SKIPPED')"),
    )


def downgrade() -> None:
    op.drop_index(INDEX, table_name="test_result")
