"""Notifications shown to users (e.g. "you were assigned to review an artefact")."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Entity
from .enums import NotificationType, notification_type_type


class Notification(Entity):
    __tablename__ = "notification"

    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    notification_type: Mapped[NotificationType] = mapped_column(notification_type_type)
    target_url: Mapped[str | None] = mapped_column(String())
    dismissed_at: Mapped[datetime | None] = mapped_column(DateTime())
