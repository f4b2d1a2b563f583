"""Index the events that end a background job's run, by time.

The metrics report the job runs that ended in their window (METRICS_INIT_DAYS). The job
queue's own indexes find events by job only, so without this one every scrape would read the
queue's whole history. Partial: only the few events that end a run, not every deferral and
start.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 14:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "job_events_finished_ix"


def upgrade() -> None:
    op.create_index(
        INDEX,
        "procrastinate_events",
        ["at"],
        postgresql_where=sa.text("type IN ('succeeded', 'failed', 'aborted')"),
    )


def downgrade() -> None:
    op.drop_index(INDEX, table_name="procrastinate_events")
