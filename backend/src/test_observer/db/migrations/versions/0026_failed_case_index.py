"""Each execution's failed test cases, read from the index alone.

The comparison reads each cell's failing test cases on every request (the flaky rule is
judged for them) and lists its regressions, fixes and still-failing results from one side's
failures: a partial index of the failed results on (execution, test case) lets it read them
without visiting the table (`artefacts/comparison.py`). Only failed results are written to it.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-07 01:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "test_result_failed_case_ix",
        "test_result",
        ["test_execution_id", "test_case_id"],
        unique=False,
        postgresql_where=sa.text("status = 'FAILED'"),
    )


def downgrade() -> None:
    op.drop_index(
        "test_result_failed_case_ix",
        table_name="test_result",
        postgresql_where=sa.text("status = 'FAILED'"),
    )
