"""Index failed results by (environment, test case, time).

A test case flips in an environment only if it failed there at least once in the window, so
the flaky-test list passes to its window function only the runs of pairs with a failure in
the window, which it finds in this index: about a twentieth of the results on the seeded
dataset, fewer where failures are rarer.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02 17:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "test_result_failed_run_ix"


def upgrade() -> None:
    op.create_index(
        INDEX,
        "test_result",
        ["environment_id", "test_case_id", "created_at"],
        postgresql_where=sa.text("status = 'FAILED'"),
    )


def downgrade() -> None:
    op.drop_index(INDEX, table_name="test_result")
