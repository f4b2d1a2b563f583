"""/v1/users (rules U1-U3, and admin rights needing an admin)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from test_observer.db.models import (
    Notification,
    NotificationType,
    Permission,
    Team,
    User,
    UserSession,
    team_users_association,
)
from tests.backend.principals import application_headers, login, make_user, session_headers


@pytest.fixture
def viewer(db_session: Session) -> dict[str, str]:
    return application_headers(db_session, Permission.view_user, Permission.change_user)


def names(response_json: dict) -> list[str]:  # type: ignore[type-arg]
    return [user["name"] for user in response_json["users"]]


def test_U1_list_is_ordered_by_name_with_defaults(
    api: TestClient, db_session: Session, viewer: dict[str, str]
) -> None:
    for name in ["Carol", "alice", "Bob"]:
        make_user(db_session, f"{name.lower()}@example.com", name=name)
    body = api.get("/v1/users", headers=viewer).json()
    # PostgreSQL collation decides the order; it must be the database's order by name.
    expected = list(db_session.scalars(select(User.name).order_by(User.name, User.id)))
    assert names(body) == expected
    assert body["count"] == 3
    assert body["limit"] == 50
    assert body["offset"] == 0


def test_U1_pagination(api: TestClient, db_session: Session, viewer: dict[str, str]) -> None:
    for n in range(5):
        make_user(db_session, f"u{n}@example.com", name=f"user {n}")
    body = api.get("/v1/users?limit=2&offset=2", headers=viewer).json()
    assert names(body) == ["user 2", "user 3"]
    assert body["count"] == 5
    assert (body["limit"], body["offset"]) == (2, 2)
    for bad in ("limit=0", "limit=1001", "offset=-1"):
        response = api.get(f"/v1/users?{bad}", headers=viewer)
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"][0] == "query"


def test_U1_search(api: TestClient, db_session: Session, viewer: dict[str, str]) -> None:
    ada = make_user(db_session, "ada@example.com", name="Ada Lovelace", handle="countess")
    make_user(db_session, "alan@example.org", name="Alan Turing", handle="enigma")
    make_user(db_session, "grace@example.org", name="Grace Hopper")

    def search(q: str) -> list[str]:
        body = api.get("/v1/users", params={"q": q}, headers=viewer).json()
        assert body["count"] == len(body["users"])
        return names(body)

    assert search("LOVELACE") == ["Ada Lovelace"]
    assert search("COUNT") == ["Ada Lovelace"]
    assert search("example.org") == ["Alan Turing", "Grace Hopper"]
    # Every word must match.
    assert search("example.org hopper") == ["Grace Hopper"]
    assert search("ada enigma") == []
    assert search(str(ada.id)) == ["Ada Lovelace"]
    assert search("%") == []
    assert search("99999999999") == []


def test_get_user_and_404(api: TestClient, db_session: Session, viewer: dict[str, str]) -> None:
    user = make_user(db_session, permissions=[Permission.view_team])
    body = api.get(f"/v1/users/{user.id}", headers=viewer).json()
    assert body == {
        "id": user.id,
        "email": "ada@example.com",
        "name": "ada",
        "launchpad_handle": None,
        "is_admin": False,
        "teams": [
            {
                "id": body["teams"][0]["id"],
                "name": "team-of-ada@example.com",
                "permissions": ["view_team"],
            }
        ],
    }
    missing = api.get("/v1/users/999", headers=viewer)
    assert missing.status_code == 404
    assert missing.json() == {"detail": "User with id 999 not found"}
    assert api.patch("/v1/users/999", json={}, headers=viewer).status_code == 404


def test_U2_delete_is_idempotent_and_cascades(
    api: TestClient, db_session: Session, viewer: dict[str, str]
) -> None:
    user = make_user(db_session, permissions=[Permission.view_team])
    login(db_session, user)
    db_session.add(
        Notification(
            user_id=user.id,
            notification_type=NotificationType.USER_ASSIGNED_ARTEFACT_REVIEW,
            target_url="http://localhost:30001/snaps/1",
        )
    )
    db_session.commit()
    assert api.delete(f"/v1/users/{user.id}", headers=viewer).status_code == 204
    assert api.delete(f"/v1/users/{user.id}", headers=viewer).status_code == 204
    assert api.delete("/v1/users/12345", headers=viewer).status_code == 204
    db_session.expire_all()
    for table in (User, UserSession, Notification):
        assert db_session.scalar(select(func.count()).select_from(table)) == 0
    memberships = select(func.count()).select_from(team_users_association)
    assert db_session.scalar(memberships) == 0
    assert db_session.scalar(select(func.count()).select_from(Team)) == 1


def admin_headers(db: Session, email: str = "root@example.com") -> dict[str, str]:
    return session_headers(login(db, make_user(db, email, is_admin=True)))


def test_U3_an_admin_toggles_admin_rights(api: TestClient, db_session: Session) -> None:
    admin = admin_headers(db_session)
    user = make_user(db_session)
    promoted = api.patch(f"/v1/users/{user.id}", json={"is_admin": True}, headers=admin)
    assert promoted.status_code == 200
    assert promoted.json()["is_admin"] is True
    demoted = api.patch(f"/v1/users/{user.id}", json={"is_admin": False}, headers=admin)
    assert demoted.json()["is_admin"] is False


def test_change_user_alone_cannot_grant_admin_rights(api: TestClient, db_session: Session) -> None:
    """The original service let any holder of change_user make anyone (themselves) admin."""
    editor = make_user(db_session, permissions=[Permission.change_user, Permission.view_user])
    headers = session_headers(login(db_session, editor))
    for who in (editor.id, make_user(db_session, "bob@example.com").id):
        response = api.patch(f"/v1/users/{who}", json={"is_admin": True}, headers=headers)
        assert response.status_code == 403
        assert "administrator" in response.json()["detail"]
    app = application_headers(db_session, *Permission)
    assert api.patch(
        f"/v1/users/{editor.id}", json={"is_admin": True}, headers=app
    ).status_code == (403)
    db_session.expire_all()
    assert db_session.scalar(select(func.count()).where(User.is_admin)) == 0
    # A patch that does not touch admin rights is fine.
    assert api.patch(f"/v1/users/{editor.id}", json={}, headers=headers).status_code == 200


def test_the_last_admin_cannot_be_removed(api: TestClient, db_session: Session) -> None:
    admin = make_user(db_session, "root@example.com", is_admin=True)
    headers = session_headers(login(db_session, admin))
    for request in (
        lambda: api.patch(f"/v1/users/{admin.id}", json={"is_admin": False}, headers=headers),
        lambda: api.delete(f"/v1/users/{admin.id}", headers=headers),
    ):
        response = request()
        assert response.status_code == 409
        assert response.json() == {"detail": "Cannot remove the last administrator"}

    second = make_user(db_session, "second@example.com", is_admin=True)
    demoted = api.patch(f"/v1/users/{admin.id}", json={"is_admin": False}, headers=headers)
    assert demoted.status_code == 200
    # `admin` is no admin any more; the remaining one cannot be deleted by a non-admin.
    editor = application_headers(db_session, Permission.change_user)
    assert api.delete(f"/v1/users/{second.id}", headers=editor).status_code == 403
    assert (
        api.delete(f"/v1/users/{second.id}", headers=admin_headers(db_session, "x@y.z")).status_code
        == 204
    )


def test_users_me_shows_teams(api: TestClient, db_session: Session) -> None:
    user = make_user(db_session, permissions=[Permission.view_test])
    me = api.get("/v1/users/me", headers=session_headers(login(db_session, user))).json()
    assert me["teams"][0]["permissions"] == ["view_test"]
