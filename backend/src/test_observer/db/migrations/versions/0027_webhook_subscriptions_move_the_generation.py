"""Webhook subscriptions move the generation too.

Before it gathers an event whose data costs more than a row (an execution's end, an artefact's
readiness), a write asks whether any active webhook subscribes to its type: a round trip on
every write to an execution. Servers now remember the answer for as long as the generation of
revision 0022 keeps its value, which every request with credentials reads anyway (see
`webhooks.events.wanted`). So the statements that can change that answer move it: creating or
deleting webhooks, and changing one's `active` flag or `event_types`, in the changing
transaction, whoever runs it. The delivery worker's writes to other columns leave it alone.

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-07 14:10:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # `auth_changed()` is revision 0022's: it adds one to the generation.
    op.execute(
        "CREATE TRIGGER webhook_subscriptions_changed "
        "AFTER INSERT OR UPDATE OF active, event_types OR DELETE OR TRUNCATE ON webhook "
        "FOR EACH STATEMENT EXECUTE FUNCTION auth_changed()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER webhook_subscriptions_changed ON webhook")
