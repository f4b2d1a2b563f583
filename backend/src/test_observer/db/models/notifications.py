"""Notifications shown to users (e.g. "you were assigned to review an artefact")."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Entity
from .enums import NotificationType, notification_type_type


class Notification(Entity):
    __tablename__ = "notification"
    __table_args__ = (
        # A user's notifications, newest first, are read a page at a time from this index.
        Index("notification_user_id_created_at_id_ix", "user_id", "created_at", "id"),
        # At most one unread notification per user, kind and target: concurrent assignments
        # of the same reviewer insert with ON CONFLICT DO NOTHING against this index.
        Index(
            "notification_unread_key",
            "user_id",
            "notification_type",
            "target_url",
            unique=True,
            postgresql_where="dismissed_at IS NULL",
        ),
    )

    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"))
    notification_type: Mapped[NotificationType] = mapped_column(notification_type_type)
    target_url: Mapped[str | None] = mapped_column(String())
    dismissed_at: Mapped[datetime | None] = mapped_column(DateTime())
