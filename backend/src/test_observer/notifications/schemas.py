from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from test_observer.db.models import NotificationType


class NotificationResponse(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    user_id: int
    notification_type: NotificationType
    target_url: str | None
    created_at: datetime
    dismissed_at: datetime | None


class NotificationsResponse(BaseModel):
    notifications: list[NotificationResponse]
    count: int
    limit: int
    offset: int
