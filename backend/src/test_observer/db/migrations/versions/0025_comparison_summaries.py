"""Comparison summaries: what two executions' results count as new, gone, slower, regression,
fixed and still failing, kept exact by a results version per execution.

`test_execution.results_version` is bumped, in the writer's transaction, by statement-level
triggers on `test_result` (one per event, with its transition tables) for each execution whose
results were inserted or deleted, or changed test case, status or duration.
`comparison_summary` holds, per pair of executions (either side may be none), the counts and
the two versions they were counted at; the comparison uses a row only while both versions
still match (`artefacts/comparison.py`).

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07 00:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The executions whose results a statement changed, per event, from its transition tables.
# An update counts only if it changed what a comparison reads (a signature or a comment does
# not), on either side of a result moved to another execution.
_CHANGED = {
    "inserted": ("INSERT", "NEW TABLE AS new_rows", "SELECT test_execution_id FROM new_rows"),
    "deleted": ("DELETE", "OLD TABLE AS old_rows", "SELECT test_execution_id FROM old_rows"),
    "updated": (
        "UPDATE",
        "OLD TABLE AS old_rows NEW TABLE AS new_rows",
        """SELECT unnest(ARRAY[n.test_execution_id, o.test_execution_id])
        FROM new_rows n JOIN old_rows o ON o.id = n.id
        WHERE (n.test_execution_id, n.test_case_id, n.status, n.duration)
              IS DISTINCT FROM (o.test_execution_id, o.test_case_id, o.status, o.duration)""",
    ),
}


def _function(kind: str) -> str:
    changed = _CHANGED[kind][2]
    # The executions are found by their primary key (a handful per statement, however many
    # results) and updated in id order, the order of an index scan over an array of keys, so
    # that two statements bumping several executions cannot deadlock on each other.
    return f"""
CREATE FUNCTION test_result_bump_results_version_{kind}() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    changed integer[];
BEGIN
    SELECT array_agg(DISTINCT c.id ORDER BY c.id) INTO changed
    FROM ({changed}) AS c(id)
    WHERE c.id IS NOT NULL;
    IF changed IS NOT NULL THEN
        UPDATE test_execution SET results_version = results_version + 1
        WHERE id = ANY (changed);
    END IF;
    RETURN NULL;
END
$$
"""


def upgrade() -> None:
    op.add_column(
        "test_execution",
        sa.Column("results_version", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
    )
    op.create_table(
        "comparison_summary",
        sa.Column("execution_id", sa.Integer(), nullable=True),
        sa.Column("base_execution_id", sa.Integer(), nullable=True),
        sa.Column("execution_version", sa.BigInteger(), nullable=False),
        sa.Column("base_execution_version", sa.BigInteger(), nullable=False),
        sa.Column("new_count", sa.Integer(), nullable=False),
        sa.Column("gone_count", sa.Integer(), nullable=False),
        sa.Column("slower_count", sa.Integer(), nullable=False),
        sa.Column("regression_count", sa.Integer(), nullable=False),
        sa.Column("fixed_count", sa.Integer(), nullable=False),
        sa.Column("still_failing_count", sa.Integer(), nullable=False),
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
            ["base_execution_id"],
            ["test_execution.id"],
            name=op.f("comparison_summary_base_execution_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["execution_id"],
            ["test_execution.id"],
            name=op.f("comparison_summary_execution_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("comparison_summary_pkey")),
    )
    op.create_index(
        "comparison_summary_pair_ix",
        "comparison_summary",
        [sa.text("coalesce(execution_id, 0)"), sa.text("coalesce(base_execution_id, 0)")],
        unique=True,
    )
    op.create_index(
        op.f("comparison_summary_execution_id_ix"), "comparison_summary", ["execution_id"]
    )
    op.create_index(
        op.f("comparison_summary_base_execution_id_ix"), "comparison_summary", ["base_execution_id"]
    )
    for kind, (event, transitions, _) in _CHANGED.items():
        op.execute(_function(kind))
        op.execute(
            f"CREATE TRIGGER test_result_{kind}_bump_results_version AFTER {event} ON test_result"
            f" REFERENCING {transitions} FOR EACH STATEMENT"
            f" EXECUTE FUNCTION test_result_bump_results_version_{kind}()"
        )


def downgrade() -> None:
    for kind in _CHANGED:
        op.execute(f"DROP TRIGGER test_result_{kind}_bump_results_version ON test_result")
        op.execute(f"DROP FUNCTION test_result_bump_results_version_{kind}()")
    op.drop_index(op.f("comparison_summary_base_execution_id_ix"), table_name="comparison_summary")
    op.drop_index(op.f("comparison_summary_execution_id_ix"), table_name="comparison_summary")
    op.drop_index("comparison_summary_pair_ix", table_name="comparison_summary")
    op.drop_table("comparison_summary")
    op.drop_column("test_execution", "results_version")
