"""Remember the SAML authentication requests sent to the identity provider.

A response to sign in is accepted only if it answers (`InResponseTo`) one of these requests
before it expires; unsolicited responses are refused.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 18:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_NOW = sa.text("timezone('utc', now())")


def upgrade() -> None:
    op.create_table(
        "issued_saml_request",
        sa.Column("request_id", sa.String(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), server_default=UTC_NOW, nullable=False),
        sa.Column("updated_at", sa.DateTime(), server_default=UTC_NOW, nullable=False),
        sa.PrimaryKeyConstraint("id", name="issued_saml_request_pkey"),
        sa.UniqueConstraint("request_id", name="issued_saml_request_request_id_key"),
    )
    op.create_index("issued_saml_request_expires_at_ix", "issued_saml_request", ["expires_at"])


def downgrade() -> None:
    op.drop_index("issued_saml_request_expires_at_ix", table_name="issued_saml_request")
    op.drop_table("issued_saml_request")
