"""Keep each execution's number of results per status.

The results search answers with the number of all matching results. Counting them reads
every matching result, so the count grew with the history (about 150 ms for the snap results
of 4.7 million); adding up per-execution counts reads one row per matching execution instead.
The counts start from the results already stored.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("passed_count", "failed_count", "skipped_count")


def upgrade() -> None:
    for column in COLUMNS:
        op.add_column(
            "test_execution",
            sa.Column(column, sa.Integer(), server_default=sa.text("0"), nullable=False),
        )
    op.execute(
        """
        UPDATE test_execution AS te
        SET passed_count = c.passed, failed_count = c.failed, skipped_count = c.skipped
        FROM (
            SELECT test_execution_id,
                   count(*) FILTER (WHERE status = 'PASSED') AS passed,
                   count(*) FILTER (WHERE status = 'FAILED') AS failed,
                   count(*) FILTER (WHERE status = 'SKIPPED') AS skipped
            FROM test_result
            GROUP BY test_execution_id
        ) AS c
        WHERE c.test_execution_id = te.id
        """
    )


def downgrade() -> None:
    for column in COLUMNS:
        op.drop_column("test_execution", column)
