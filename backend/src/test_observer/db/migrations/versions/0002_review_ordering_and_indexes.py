"""Keep the order of reviewers and bundled builds; index artefact creation dates.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 09:38:16.231993
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing rows get position 0: they keep their previous order (by id) among themselves.
    op.add_column(
        "artefact_reviewers_association",
        sa.Column("position", sa.Integer(), server_default=sa.text("0"), nullable=False),
    )
    op.add_column(
        "artefact_bundled_builds_association",
        sa.Column("position", sa.Integer(), server_default=sa.text("0"), nullable=False),
    )
    op.create_index(op.f("artefact_created_at_ix"), "artefact", ["created_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("artefact_created_at_ix"), table_name="artefact")
    op.drop_column("artefact_bundled_builds_association", "position")
    op.drop_column("artefact_reviewers_association", "position")
