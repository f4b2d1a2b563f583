"""Record when an issue was closed.

The issue synchronisation re-checks closed issues less often the longer they have been closed.
`updated_at` cannot tell how long that is (every sync write bumps it), so the sync job keeps
`closed_at`: set when it sees an issue closed, cleared when it sees it reopened. Issues closed
before this revision take their last update as their closing time.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 02:12:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("issue", sa.Column("closed_at", sa.DateTime(), nullable=True))
    op.execute("UPDATE issue SET closed_at = updated_at WHERE status = 'CLOSED'")


def downgrade() -> None:
    op.drop_column("issue", "closed_at")
