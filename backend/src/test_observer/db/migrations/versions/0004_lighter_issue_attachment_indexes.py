"""Lighter indexes on issue attachments.

Attaching an issue in bulk writes one row per result, and each index adds to every row. The
index on issue_id alone duplicates the leading column of the (issue_id, test_result_id) unique
index, so it goes. The index on attachment_rule_id is only needed to find a deleted rule's
rows, which are never attachments made by hand, so it keeps only rule-made rows.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 02:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "issue_test_result_attachment"
RULE_INDEX = "issue_test_result_attachment_attachment_rule_id_ix"


def upgrade() -> None:
    op.drop_index("issue_test_result_attachment_issue_id_ix", table_name=TABLE)
    op.drop_index(RULE_INDEX, table_name=TABLE)
    op.create_index(
        RULE_INDEX,
        TABLE,
        ["attachment_rule_id"],
        postgresql_where=sa.text("attachment_rule_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index(RULE_INDEX, table_name=TABLE)
    op.create_index(RULE_INDEX, TABLE, ["attachment_rule_id"])
    op.create_index("issue_test_result_attachment_issue_id_ix", TABLE, ["issue_id"])
