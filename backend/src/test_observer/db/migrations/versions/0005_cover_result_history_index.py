"""Cover the status and execution of results in the (test case, date) index.

The flaky-test list reads every result of a date window in test-case order with its status and
execution; with both in the index it reads the index alone instead of visiting each result's
row. The key columns are unchanged, so the results search uses it as before.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 02:15:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = "test_result_test_case_id_created_at_id_ix"
COLUMNS = ["test_case_id", "created_at", "id"]


def upgrade() -> None:
    op.drop_index(NAME, table_name="test_result")
    op.create_index(
        NAME, "test_result", COLUMNS, postgresql_include=["test_execution_id", "status"]
    )


def downgrade() -> None:
    op.drop_index(NAME, table_name="test_result")
    op.create_index(NAME, "test_result", COLUMNS)
