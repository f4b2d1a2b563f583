"""Index results by test case and creation date.

The results search filtered by test case reads its page (newest first) from this index instead
of walking every result by date. It starts with test_case_id, so it replaces the index on that
column alone.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 11:20:32.836309
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The new index first, so that lookups by test case always have one.
    op.create_index(
        "test_result_test_case_id_created_at_id_ix",
        "test_result",
        ["test_case_id", "created_at", "id"],
    )
    op.drop_index("test_result_test_case_id_ix", table_name="test_result")


def downgrade() -> None:
    op.create_index("test_result_test_case_id_ix", "test_result", ["test_case_id"])
    op.drop_index("test_result_test_case_id_created_at_id_ix", table_name="test_result")
