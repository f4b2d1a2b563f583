"""The readiness verdict last announced per artefact; old webhook events found by age.

`artefact.readiness_verdict` is what `artefact.readiness_changed` compares a new verdict with
(NULL: none recorded yet). The index on `webhook_event.occurred_at` lets the clean-up job find
events past their retention without reading the whole outbox.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-06 21:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("artefact", sa.Column("readiness_verdict", sa.String(), nullable=True))
    op.create_check_constraint(
        op.f("artefact_readiness_verdict_check"),
        "artefact",
        "readiness_verdict IN ('ready', 'not_ready')",
    )
    op.create_index(
        op.f("webhook_event_occurred_at_ix"), "webhook_event", ["occurred_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("webhook_event_occurred_at_ix"), table_name="webhook_event")
    op.drop_constraint(op.f("artefact_readiness_verdict_check"), "artefact", type_="check")
    op.drop_column("artefact", "readiness_verdict")
