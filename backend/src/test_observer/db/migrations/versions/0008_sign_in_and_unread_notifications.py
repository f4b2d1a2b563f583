"""Sign-in records and one unread notification per user and target.

`consumed_assertion` remembers SAML assertions already used, so that one cannot be replayed;
`sign_in_link` holds one-time development sign-in links. Notifications are indexed by user and
creation time, for reading them newest first a page at a time. The partial unique index on
`notification` lets concurrent reviewer assignments insert notifications with ON CONFLICT DO
NOTHING; duplicates that already exist are dismissed first (the oldest stays unread).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 02:15:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_NOW = sa.text("timezone('utc', now())")


def _entity_columns() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), server_default=UTC_NOW, nullable=False),
        sa.Column("updated_at", sa.DateTime(), server_default=UTC_NOW, nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "consumed_assertion",
        sa.Column("assertion_id", sa.String(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        *_entity_columns(),
        sa.PrimaryKeyConstraint("id", name="consumed_assertion_pkey"),
        sa.UniqueConstraint("assertion_id", name="consumed_assertion_assertion_id_key"),
    )
    op.create_index("consumed_assertion_expires_at_ix", "consumed_assertion", ["expires_at"])
    op.create_table(
        "sign_in_link",
        sa.Column("token_digest", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        *_entity_columns(),
        sa.PrimaryKeyConstraint("id", name="sign_in_link_pkey"),
        sa.UniqueConstraint("token_digest", name="sign_in_link_token_digest_key"),
    )
    op.create_index("sign_in_link_expires_at_ix", "sign_in_link", ["expires_at"])
    op.execute(
        """
        UPDATE notification SET dismissed_at = timezone('utc', now())
        WHERE dismissed_at IS NULL AND EXISTS (
            SELECT 1 FROM notification older
            WHERE older.dismissed_at IS NULL
              AND older.user_id = notification.user_id
              AND older.notification_type = notification.notification_type
              AND older.target_url IS NOT DISTINCT FROM notification.target_url
              AND older.id < notification.id
        )
        """
    )
    # Pages of a user's notifications, newest first; replaces the index on user_id alone.
    op.create_index(
        "notification_user_id_created_at_id_ix",
        "notification",
        ["user_id", "created_at", "id"],
    )
    op.drop_index("notification_user_id_ix", table_name="notification")
    op.create_index(
        "notification_unread_key",
        "notification",
        ["user_id", "notification_type", "target_url"],
        unique=True,
        postgresql_where=sa.text("dismissed_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("notification_unread_key", table_name="notification")
    op.create_index("notification_user_id_ix", "notification", ["user_id"])
    op.drop_index("notification_user_id_created_at_id_ix", table_name="notification")
    op.drop_index("sign_in_link_expires_at_ix", table_name="sign_in_link")
    op.drop_table("sign_in_link")
    op.drop_index("consumed_assertion_expires_at_ix", table_name="consumed_assertion")
    op.drop_table("consumed_assertion")
