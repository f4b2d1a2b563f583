"""/v1/users/…/notifications: what awaits a user, and marking it read."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from test_observer.auth import Principal, caller, requires
from test_observer.db.engine import DbSession
from test_observer.db.models import Permission
from test_observer.input_safety import EdgeRoute

from . import service
from .schemas import NotificationResponse, NotificationsResponse

router = APIRouter(prefix="/v1/users", tags=["notifications"], route_class=EdgeRoute)

Limit = Annotated[
    int, Query(ge=1, le=1000, description="Maximum number of results to return (default: 50)")
]
Offset = Annotated[
    int, Query(ge=0, description="Number of results to skip for pagination (default: 0)")
]
UnreadOnly = Annotated[
    bool, Query(description="Whether to return only unread notifications (default: false)")
]


def _page(
    session: DbSession, user_id: int, limit: int, offset: int, unread_only: bool
) -> NotificationsResponse:
    rows, count = service.list_notifications(
        session, user_id, limit=limit, offset=offset, unread_only=unread_only
    )
    return NotificationsResponse(
        notifications=[NotificationResponse.model_validate(row) for row in rows],
        count=count,
        limit=limit,
        offset=offset,
    )


# The `/me` operations come before the `/{user_id}` ones so that "me" is never parsed as an id.
@router.get("/me/notifications")
def get_own_notifications(
    session: DbSession,
    principal: Annotated[Principal, caller("user", others_forbidden=True)],
    limit: Limit = 50,
    offset: Offset = 0,
    unread_only: UnreadOnly = False,
) -> NotificationsResponse:
    """Get all notifications for the authenticated user"""
    if principal.user is None:
        return NotificationsResponse(notifications=[], count=0, limit=limit, offset=offset)
    return _page(session, principal.user.id, limit, offset, unread_only)


@router.get("/me/notifications/count")
def get_own_notification_count(
    session: DbSession,
    principal: Annotated[Principal, caller("user", others_forbidden=True)],
    unread_only: UnreadOnly = False,
) -> int:
    """Get the count of notifications for the authenticated user"""
    if principal.user is None:
        return 0
    return service.count_notifications(session, principal.user.id, unread_only=unread_only)


@router.post("/me/notifications/{notification_id}/dismiss")
def mark_own_notification_as_read(
    session: DbSession,
    notification_id: int,
    principal: Annotated[Principal, caller("user", always=True, others_forbidden=True)],
) -> NotificationResponse:
    """Mark the authenticated user's own notification as read"""
    assert principal.user is not None
    notification = service.dismiss(session, principal.user.id, notification_id)
    return NotificationResponse.model_validate(notification)


UserId = Annotated[int, Path(description="ID of the user whose notifications will be fetched")]


@router.get("/{user_id}/notifications", dependencies=[requires(Permission.view_notification)])
def get_notifications(
    session: DbSession,
    user_id: UserId,
    limit: Limit = 50,
    offset: Offset = 0,
    unread_only: UnreadOnly = False,
) -> NotificationsResponse:
    """Get all notifications for the specified user"""
    service.require_user(session, user_id)
    return _page(session, user_id, limit, offset, unread_only)


@router.get("/{user_id}/notifications/count", dependencies=[requires(Permission.view_notification)])
def get_notification_count(
    session: DbSession,
    user_id: Annotated[
        int, Path(description="ID of the user whose notification count will be fetched")
    ],
    unread_only: UnreadOnly = False,
) -> int:
    """Get the count of notifications for the specified user"""
    service.require_user(session, user_id)
    return service.count_notifications(session, user_id, unread_only=unread_only)


@router.post(
    "/{user_id}/notifications/{notification_id}/dismiss",
    dependencies=[requires(Permission.change_notification)],
)
def mark_notification_as_read(
    session: DbSession,
    user_id: Annotated[
        int, Path(description="ID of the user whose notification will be dismissed")
    ],
    notification_id: int,
) -> NotificationResponse:
    """Mark a notification as read"""
    service.require_user(session, user_id)
    return NotificationResponse.model_validate(service.dismiss(session, user_id, notification_id))
