"""Copy each execution's environment onto its results, and index runs by environment.

The flaky-test list compares a test case's runs within one environment, in time order. The
environment belonged to the execution only, so the list joined every result of its window to
its execution and sorted them all. With the environment on the result, an index on
(environment_id, test_case_id, created_at, id) of the passed and failed results hands the
window function its rows in order, read from the index alone.

The copy cannot drift: the results' foreign key now references the execution's
(id, environment_id) pair, which becomes a unique key of test_execution, and cascades updates.
The (test_case_id, created_at, id) index drops the columns that revision 0005 included for
the list's previous plan.

The backfill rewrites every result once; on a large database this revision takes a while, and
until autovacuum has passed over test_result the list reads the rows as well as the index.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 14:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EXECUTION_KEY = "test_execution_id_environment_id_key"
OLD_FOREIGN_KEY = "test_result_test_execution_id_fkey"
FOREIGN_KEY = "test_result_test_execution_id_environment_id_fkey"
RUNS_INDEX = "test_result_run_history_ix"
HISTORY_INDEX = "test_result_test_case_id_created_at_id_ix"
HISTORY_COLUMNS = ["test_case_id", "created_at", "id"]


def upgrade() -> None:
    # Dropped before the backfill, so that the rewrite of every row does not maintain it.
    op.drop_index(HISTORY_INDEX, table_name="test_result")
    op.add_column("test_result", sa.Column("environment_id", sa.Integer(), nullable=True))
    op.execute(
        "UPDATE test_result SET environment_id = test_execution.environment_id "
        "FROM test_execution WHERE test_execution.id = test_result.test_execution_id"
    )
    op.alter_column("test_result", "environment_id", nullable=False)
    op.create_unique_constraint(EXECUTION_KEY, "test_execution", ["id", "environment_id"])
    op.drop_constraint(OLD_FOREIGN_KEY, "test_result", type_="foreignkey")
    op.create_foreign_key(
        FOREIGN_KEY,
        "test_result",
        "test_execution",
        ["test_execution_id", "environment_id"],
        ["id", "environment_id"],
        ondelete="CASCADE",
        onupdate="CASCADE",
    )
    op.create_index(HISTORY_INDEX, "test_result", HISTORY_COLUMNS)
    op.create_index(
        RUNS_INDEX,
        "test_result",
        ["environment_id", "test_case_id", "created_at", "id"],
        postgresql_include=["status"],
        postgresql_where=sa.text("status IN ('PASSED', 'FAILED')"),
    )


def downgrade() -> None:
    op.drop_index(RUNS_INDEX, table_name="test_result")
    op.drop_index(HISTORY_INDEX, table_name="test_result")
    op.drop_constraint(FOREIGN_KEY, "test_result", type_="foreignkey")
    op.create_foreign_key(
        OLD_FOREIGN_KEY,
        "test_result",
        "test_execution",
        ["test_execution_id"],
        ["id"],
        ondelete="CASCADE",
    )
    op.drop_constraint(EXECUTION_KEY, "test_execution", type_="unique")
    op.drop_column("test_result", "environment_id")
    op.create_index(
        HISTORY_INDEX,
        "test_result",
        HISTORY_COLUMNS,
        postgresql_include=["test_execution_id", "status"],
    )
