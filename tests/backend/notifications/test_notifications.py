"""Notifications: reading and dismissing them (/v1/users/…/notifications), and their creation
when reviewers are assigned, exactly once even under concurrent assignments."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from test_observer.db.models import (
    ArtefactMatchingRule,
    FamilyName,
    Notification,
    NotificationType,
    Permission,
    Team,
    User,
)
from test_observer.notifications.service import notify_reviewers_assigned
from test_observer.settings import Settings
from tests.backend.executions.conftest import EVERY_PERMISSION, snap
from tests.backend.executions.live import serve
from tests.backend.factories import make_artefact
from tests.backend.principals import (
    login,
    make_application,
    make_user,
    session_headers,
    user_headers,
)

REVIEW = NotificationType.USER_ASSIGNED_ARTEFACT_REVIEW


def notify(db: Session, user: User, url: str, *, age: int = 0, read: bool = False) -> Notification:
    created = datetime(2026, 3, 10, 12, 0) - timedelta(minutes=age)
    row = Notification(
        user_id=user.id,
        notification_type=REVIEW,
        target_url=url,
        created_at=created,
        dismissed_at=created if read else None,
    )
    db.add(row)
    db.commit()
    return row


# Reading ----------------------------------------------------------------------------------------


def test_own_notifications_newest_first_with_unread_filter(
    api: TestClient, db_session: Session
) -> None:
    ada = make_user(db_session)
    headers = session_headers(login(db_session, ada))
    old = notify(db_session, ada, "http://f/snaps/1", age=30, read=True)
    new = notify(db_session, ada, "http://f/snaps/2", age=10)
    newest = notify(db_session, ada, "http://f/snaps/3", age=0)
    notify(db_session, make_user(db_session, "bob@example.com"), "http://f/snaps/4")

    body = api.get("/v1/users/me/notifications", headers=headers).json()
    assert [n["id"] for n in body["notifications"]] == [newest.id, new.id, old.id]
    assert (body["count"], body["limit"], body["offset"]) == (3, 50, 0)
    first = body["notifications"][0]
    assert first["user_id"] == ada.id
    assert first["notification_type"] == "USER_ASSIGNED_ARTEFACT_REVIEW"
    assert first["target_url"] == "http://f/snaps/3"
    assert first["dismissed_at"] is None

    unread = api.get(
        "/v1/users/me/notifications", params={"unread_only": True, "limit": 1}, headers=headers
    ).json()
    assert [n["id"] for n in unread["notifications"]] == [newest.id]
    assert unread["count"] == 2
    paged = api.get("/v1/users/me/notifications", params={"offset": 2}, headers=headers).json()
    assert [n["id"] for n in paged["notifications"]] == [old.id]
    assert api.get("/v1/users/me/notifications/count", headers=headers).json() == 3
    assert (
        api.get(
            "/v1/users/me/notifications/count", params={"unread_only": True}, headers=headers
        ).json()
        == 2
    )
    assert (
        api.get("/v1/users/me/notifications", params={"limit": 0}, headers=headers).status_code
        == 422
    )


def test_dismiss_keeps_the_first_time_and_only_for_the_owner(
    api: TestClient, db_session: Session
) -> None:
    ada = make_user(db_session)
    bob = make_user(db_session, "bob@example.com")
    mine = notify(db_session, ada, "http://f/snaps/1")
    theirs = notify(db_session, bob, "http://f/snaps/2")
    headers = session_headers(login(db_session, ada))

    first = api.post(f"/v1/users/me/notifications/{mine.id}/dismiss", headers=headers)
    assert first.status_code == 200
    dismissed_at = first.json()["dismissed_at"]
    assert dismissed_at is not None
    again = api.post(f"/v1/users/me/notifications/{mine.id}/dismiss", headers=headers)
    assert again.json()["dismissed_at"] == dismissed_at

    stolen = api.post(f"/v1/users/me/notifications/{theirs.id}/dismiss", headers=headers)
    assert stolen.status_code == 404
    assert stolen.json() == {"detail": "Notification not found"}
    db_session.refresh(theirs)
    assert theirs.dismissed_at is None
    missing = api.post("/v1/users/me/notifications/999/dismiss", headers=headers)
    assert missing.status_code == 404


def test_me_rules_for_anonymous_callers_and_applications(
    make_client: Callable[..., TestClient], db_session: Session
) -> None:
    from tests.backend.principals import SESSIONS_SECRET

    open_api = make_client(sessions_secret=SESSIONS_SECRET)
    closed_api = make_client(sessions_secret=SESSIONS_SECRET, require_authentication=True)
    _, key = make_application(db_session)
    app_headers = {"Authorization": f"Bearer {key}"}

    assert open_api.get("/v1/users/me/notifications").json() == {
        "notifications": [],
        "count": 0,
        "limit": 50,
        "offset": 0,
    }
    assert open_api.get("/v1/users/me/notifications/count").json() == 0
    assert open_api.get("/v1/users/me/notifications", headers=app_headers).json()["count"] == 0

    anonymous = closed_api.get("/v1/users/me/notifications")
    assert (anonymous.status_code, anonymous.json()) == (401, {"detail": "Not authenticated"})
    assert closed_api.get("/v1/users/me/notifications/count").status_code == 401
    as_app = closed_api.get("/v1/users/me/notifications", headers=app_headers)
    assert (as_app.status_code, as_app.json()) == (403, {"detail": "Forbidden"})
    assert (
        closed_api.get("/v1/users/me/notifications/count", headers=app_headers).status_code == 403
    )

    # Dismissing needs a user whatever the setting.
    assert open_api.post("/v1/users/me/notifications/1/dismiss").status_code == 401
    dismiss_as_app = open_api.post("/v1/users/me/notifications/1/dismiss", headers=app_headers)
    assert dismiss_as_app.status_code == 403


def test_other_users_notifications_need_permissions(api: TestClient, db_session: Session) -> None:
    ada = make_user(db_session)
    row = notify(db_session, ada, "http://f/snaps/1")
    viewer = user_headers(
        db_session, "viewer@example.com", permissions=[Permission.view_notification]
    )
    changer = user_headers(
        db_session, "changer@example.com", permissions=[Permission.change_notification]
    )

    assert api.get(f"/v1/users/{ada.id}/notifications").status_code == 403
    listed = api.get(f"/v1/users/{ada.id}/notifications", headers=viewer).json()
    assert [n["id"] for n in listed["notifications"]] == [row.id]
    assert api.get(f"/v1/users/{ada.id}/notifications/count", headers=viewer).json() == 1
    missing = api.get("/v1/users/999/notifications", headers=viewer)
    assert (missing.status_code, missing.json()) == (404, {"detail": "User not found"})
    assert api.get("/v1/users/999/notifications/count", headers=viewer).status_code == 404

    dismiss = f"/v1/users/{ada.id}/notifications/{row.id}/dismiss"
    assert api.post(dismiss, headers=viewer).status_code == 403
    assert api.post(dismiss, headers=changer).json()["dismissed_at"] is not None
    assert api.post(f"/v1/users/999/notifications/{row.id}/dismiss", headers=changer).json() == {
        "detail": "User not found"
    }
    wrong_owner = api.post(f"/v1/users/{ada.id}/notifications/999/dismiss", headers=changer)
    assert (wrong_owner.status_code, wrong_owner.json()) == (
        404,
        {"detail": "Notification not found"},
    )


# Creation ---------------------------------------------------------------------------------------


def test_notify_is_set_based_and_skips_unread_duplicates(db_session: Session) -> None:
    artefact = make_artefact(db_session, family=FamilyName.deb)
    ada = make_user(db_session)
    bob = make_user(db_session, "bob@example.com")
    settings = Settings(frontend_url="https://to.example")

    assert notify_reviewers_assigned(
        db_session, settings, artefact.id, [bob.id, ada.id, ada.id]
    ) == [
        ada.id,
        bob.id,
    ]
    assert notify_reviewers_assigned(db_session, settings, artefact.id, [ada.id]) == []
    db_session.execute(
        update(Notification)
        .where(Notification.user_id == ada.id)
        .values(dismissed_at=datetime(2026, 1, 1))
    )
    # Once read, a new assignment is news again.
    assert notify_reviewers_assigned(db_session, settings, artefact.id, [ada.id, bob.id]) == [
        ada.id
    ]
    urls = set(db_session.scalars(select(Notification.target_url)))
    assert urls == {f"https://to.example/debs/{artefact.id}"}
    assert notify_reviewers_assigned(db_session, settings, artefact.id, []) == []


def test_concurrent_notifications_of_one_reviewer_insert_one_row(
    engine: Engine, db_session: Session
) -> None:
    """Without any lock held, the database itself keeps one unread notification."""
    artefact = make_artefact(db_session)
    ada = make_user(db_session)
    settings = Settings()
    barrier = threading.Barrier(8)

    def assign(_: int) -> list[int]:
        with Session(engine) as session, session.begin():
            barrier.wait()
            return notify_reviewers_assigned(session, settings, artefact.id, [ada.id])

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(assign, range(8)))
    assert sorted(results) == [[]] * 7 + [[ada.id]]
    assert len(db_session.scalars(select(Notification)).all()) == 1


def test_ten_concurrent_start_tests_notify_the_reviewer_once(
    make_client: Callable[..., TestClient], db_session: Session
) -> None:
    team = Team(name="qa")
    reviewer = User(email="rev@example.com", name="Rev")
    team.members = [reviewer]
    rule = ArtefactMatchingRule(family=FamilyName.snap)
    rule.teams = [team]
    db_session.add_all([team, rule])
    db_session.commit()
    app = make_client(ignore_permissions=EVERY_PERMISSION).app
    barrier = threading.Barrier(10)

    with serve(app) as base_url:  # type: ignore[arg-type]

        def call(i: int) -> httpx.Response:
            payload = snap(
                ci_link=f"https://ci.example/{i}", environment=f"e{i}", needs_assignment=True
            )
            with httpx.Client(base_url=base_url, timeout=30) as client:
                barrier.wait()
                return client.put("/v1/test-executions/start-test", json=payload)

        with ThreadPoolExecutor(10) as pool:
            responses = list(pool.map(call, range(10)))

    assert [r.status_code for r in responses] == [200] * 10, [r.text for r in responses]
    rows = db_session.scalars(select(Notification)).all()
    assert [(n.user_id, n.notification_type) for n in rows] == [(reviewer.id, REVIEW)]


@pytest.mark.parametrize("family", ["snap", "charm"])
def test_patch_reviewers_notifies_new_reviewers_only(
    api: TestClient, db_session: Session, family: str
) -> None:
    artefact = make_artefact(db_session, family=FamilyName(family))
    ada = make_user(db_session)
    bob = make_user(db_session, "bob@example.com")
    url = f"/v1/artefacts/{artefact.id}"
    admin = user_headers(db_session, "admin@example.com", is_admin=True)

    assert api.patch(url, json={"reviewer_ids": [ada.id]}, headers=admin).status_code == 200
    assert api.patch(url, json={"reviewer_ids": [ada.id, bob.id]}, headers=admin).status_code == 200
    rows: list[Any] = db_session.execute(
        select(Notification.user_id, Notification.target_url).order_by(Notification.id)
    ).all()
    target = f"http://localhost:30001/{family}s/{artefact.id}"
    assert rows == [(ada.id, target), (bob.id, target)]
