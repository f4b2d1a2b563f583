"""Reading, dismissing and creating notifications."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import ColumnElement, func, literal, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from test_observer.db.models import Artefact, Notification, NotificationType, User
from test_observer.db.models.enums import notification_type_type
from test_observer.errors import NotFoundError
from test_observer.settings import Settings

from . import review_cards
from .links import artefact_url

UTC_NOW = text("timezone('utc', now())")


def notify_reviewers_assigned(
    session: Session, settings: Settings, artefact_id: int, user_ids: Collection[int]
) -> list[int]:
    """Tell each of `user_ids`, just made reviewers of the artefact, that a review awaits them.

    One statement whatever the number of users. A user who already has an unread notification
    for this artefact gets no second one, also when concurrent requests assign them at the same
    moment (the unread-notification unique index decides). Returns the users notified; when the
    artefact has a Jira issue, a review card is created for each of them once the transaction
    commits.
    """
    if not user_ids:
        return []
    artefact = session.execute(
        select(Artefact.family, Artefact.jira_issue).where(Artefact.id == artefact_id)
    ).one()
    target_url = artefact_url(settings.frontend_url, artefact.family.value, artefact_id)
    users = (
        select(
            User.id,
            literal(NotificationType.USER_ASSIGNED_ARTEFACT_REVIEW, notification_type_type),
            literal(target_url),
        )
        .where(User.id.in_(sorted(set(user_ids))))
        .order_by(User.id)
    )
    statement = (
        insert(Notification)
        .from_select(["user_id", "notification_type", "target_url"], users)
        .on_conflict_do_nothing(
            index_elements=["user_id", "notification_type", "target_url"],
            index_where=Notification.dismissed_at.is_(None),
        )
        .returning(Notification.user_id)
    )
    notified = sorted(session.scalars(statement))
    if notified and artefact.jira_issue:
        review_cards.create_after_commit(session, settings, artefact_id, notified)
    return notified


def _filtered(user_id: int, unread_only: bool) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [Notification.user_id == user_id]
    if unread_only:
        conditions.append(Notification.dismissed_at.is_(None))
    return conditions


def list_notifications(
    session: Session, user_id: int, *, limit: int, offset: int, unread_only: bool
) -> tuple[list[Notification], int]:
    conditions = _filtered(user_id, unread_only)
    rows = list(
        session.scalars(
            select(Notification)
            .where(*conditions)
            .order_by(Notification.created_at.desc(), Notification.id.desc())
            .limit(limit)
            .offset(offset)
        )
    )
    return rows, count_notifications(session, user_id, unread_only=unread_only)


def count_notifications(session: Session, user_id: int, *, unread_only: bool) -> int:
    count = session.scalar(
        select(func.count(Notification.id)).where(*_filtered(user_id, unread_only))
    )
    return count or 0


def require_user(session: Session, user_id: int) -> None:
    if session.get(User, user_id) is None:
        raise NotFoundError("User not found")


def dismiss(session: Session, user_id: int, notification_id: int) -> Notification:
    """Mark a notification read; dismissing again keeps the first time."""
    session.execute(
        update(Notification)
        .where(
            Notification.id == notification_id,
            Notification.user_id == user_id,
            Notification.dismissed_at.is_(None),
        )
        .values(dismissed_at=UTC_NOW)
    )
    notification = session.scalar(
        select(Notification)
        .where(Notification.id == notification_id, Notification.user_id == user_id)
        .execution_options(populate_existing=True)
    )
    if notification is None:
        raise NotFoundError("Notification not found")
    return notification
