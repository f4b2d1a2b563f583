"""Who the caller is: API keys, signed session cookies with the CSRF header, and
REQUIRE_AUTHENTICATION (rules A1-A6, A12)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import delete
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from test_observer.db.models import Permission, UserSession
from tests.backend.principals import (
    SESSIONS_SECRET,
    bearer,
    login,
    make_application,
    make_user,
    session_headers,
    signed_session_cookie,
)


def test_session_cookie_with_csrf_header_authenticates_the_user(
    api: TestClient, db_session: Session
) -> None:
    user = make_user(db_session)
    response = api.get("/v1/users/me", headers=session_headers(login(db_session, user)))
    assert response.status_code == 200
    assert response.json()["email"] == "ada@example.com"


def test_A1_cookie_without_csrf_header_is_anonymous(api: TestClient, db_session: Session) -> None:
    cookie = login(db_session, make_user(db_session, is_admin=True))
    headers = session_headers(cookie, csrf=False)
    assert api.get("/v1/users/me", headers=headers).json() is None
    # Not even an admin's cookie opens a permission-protected endpoint without the header.
    assert api.get("/v1/permissions", headers=headers).status_code == 403
    assert api.get("/v1/permissions", headers=session_headers(cookie)).status_code == 200


def test_csrf_header_name_is_case_insensitive(api: TestClient, db_session: Session) -> None:
    cookie = login(db_session, make_user(db_session))
    headers = {"Cookie": f"session={cookie}", "x-csrf-TOKEN": "anything"}
    assert api.get("/v1/users/me", headers=headers).json()["email"] == "ada@example.com"


def test_cookie_signed_with_another_secret_is_anonymous(
    api: TestClient, db_session: Session
) -> None:
    user = make_user(db_session)
    login(db_session, user)
    forged = signed_session_cookie(1, secret="not the server's secret")
    assert api.get("/v1/users/me", headers=session_headers(forged)).json() is None


def test_A2_expired_or_deleted_session_is_anonymous(api: TestClient, db_session: Session) -> None:
    user = make_user(db_session)
    expired = login(db_session, user, expires_in=timedelta(seconds=-1))
    assert api.get("/v1/users/me", headers=session_headers(expired)).json() is None

    live = login(db_session, user)
    assert api.get("/v1/users/me", headers=session_headers(live)).json() is not None
    db_session.execute(delete(UserSession))
    db_session.commit()
    assert api.get("/v1/users/me", headers=session_headers(live)).json() is None


def test_A3_bearer_key_authenticates_the_application(api: TestClient, db_session: Session) -> None:
    _, key = make_application(db_session, "ci", [Permission.view_permission])
    assert api.get("/v1/permissions", headers=bearer(key)).status_code == 200
    assert api.get("/v1/applications/me", headers=bearer(key)).json()["name"] == "ci"


@pytest.mark.parametrize(
    "header", ["bearer {key}", "BEARER {key}", "Bearer {key} extra", "Token {key}", "{key}"]
)
def test_A3_malformed_credentials_are_anonymous_not_401(
    api: TestClient, db_session: Session, header: str
) -> None:
    _, key = make_application(db_session, "ci", [Permission.view_permission])
    headers = {"Authorization": header.format(key=key)}
    assert api.get("/v1/applications/me", headers=headers).json() is None
    response = api.get("/v1/permissions", headers=headers)
    assert response.status_code == 403
    assert response.json() == {"detail": "Insufficient permissions"}


@pytest.mark.parametrize("path", ["/v1/permissions", "/v1/applications/me", "/v1/version", "/"])
def test_an_unknown_key_is_401_invalid_api_key(
    api: TestClient, db_session: Session, path: str
) -> None:
    # A deviation: the original service treated an unknown key as no key (then 403).
    _, key = make_application(db_session, "ci", [Permission.view_permission])
    response = api.get(path, headers=bearer("x" + key))
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid API key"}
    assert response.headers["www-authenticate"] == "Bearer"
    assert api.get(path, headers=bearer(key)).status_code == 200


def test_a_rotated_or_deleted_applications_key_is_401(api: TestClient, db_session: Session) -> None:
    from test_observer.applications import service

    application, key = make_application(db_session, "ci", [Permission.view_permission])
    assert api.get("/v1/permissions", headers=bearer(key)).status_code == 200
    service.rotate_key(db_session, None, api.app.state.settings, application.id)
    db_session.commit()
    rotated = api.get("/v1/permissions", headers=bearer(key))
    assert (rotated.status_code, rotated.json()) == (401, {"detail": "Invalid API key"})


AUTHENTICATION_ONLY = ["/", "/v1/version", "/openapi.json", "/docs"]


@pytest.mark.parametrize("path", AUTHENTICATION_ONLY)
def test_A4_authentication_only_paths(
    make_client: Callable[..., TestClient], db_session: Session, path: str
) -> None:
    open_api = make_client(sessions_secret=SESSIONS_SECRET)
    assert open_api.get(path).status_code == 200

    closed = make_client(sessions_secret=SESSIONS_SECRET, require_authentication=True)
    anonymous = closed.get(path)
    assert anonymous.status_code == 401
    assert anonymous.json() == {"detail": "Not authenticated"}
    _, key = make_application(db_session)
    assert closed.get(path, headers=bearer(key)).status_code == 200
    cookie = login(db_session, make_user(db_session))
    assert closed.get(path, headers=session_headers(cookie)).status_code == 200


def test_A5_users_me(make_client: Callable[..., TestClient], db_session: Session) -> None:
    _, key = make_application(db_session)
    cookie = login(db_session, make_user(db_session))

    relaxed = make_client(sessions_secret=SESSIONS_SECRET)
    assert relaxed.get("/v1/users/me").json() is None
    assert relaxed.get("/v1/users/me", headers=bearer(key)).json() is None
    me = relaxed.get("/v1/users/me", headers=session_headers(cookie)).json()
    assert me["email"] == "ada@example.com"
    assert set(me) == {"id", "email", "name", "launchpad_handle", "teams", "is_admin"}

    strict = make_client(sessions_secret=SESSIONS_SECRET, require_authentication=True)
    assert strict.get("/v1/users/me").status_code == 401
    assert strict.get("/v1/users/me", headers=bearer(key)).status_code == 401
    assert strict.get("/v1/users/me", headers=session_headers(cookie)).status_code == 200


def test_A6_applications_me(make_client: Callable[..., TestClient], db_session: Session) -> None:
    _, key = make_application(db_session, "ci", [Permission.view_test])
    cookie = login(db_session, make_user(db_session))

    relaxed = make_client(sessions_secret=SESSIONS_SECRET)
    assert relaxed.get("/v1/applications/me").json() is None
    assert relaxed.get("/v1/applications/me", headers=session_headers(cookie)).json() is None
    me = relaxed.get("/v1/applications/me", headers=bearer(key)).json()
    assert me["name"] == "ci"
    assert me["permissions"] == ["view_test"]
    assert me["api_key"] != key

    strict = make_client(sessions_secret=SESSIONS_SECRET, require_authentication=True)
    assert strict.get("/v1/applications/me").status_code == 401
    assert strict.get("/v1/applications/me", headers=session_headers(cookie)).status_code == 401
    assert strict.get("/v1/applications/me", headers=bearer(key)).status_code == 200


def test_A12_only_the_documentation_accepts_a_cookie_without_csrf(
    make_client: Callable[..., TestClient], db_session: Session
) -> None:
    strict = make_client(sessions_secret=SESSIONS_SECRET, require_authentication=True)
    cookie = login(db_session, make_user(db_session))
    browser = session_headers(cookie, csrf=False)
    assert strict.get("/docs", headers=browser).status_code == 200
    assert strict.get("/openapi.json", headers=browser).status_code == 200
    assert strict.get("/v1/version", headers=browser).status_code == 401
    assert strict.get("/v1/users/me", headers=browser).status_code == 401


def test_both_credentials_union_their_permissions(api: TestClient, db_session: Session) -> None:
    _, key = make_application(db_session, "ci", [Permission.view_user])
    cookie = login(db_session, make_user(db_session, permissions=[Permission.view_team]))
    both = {**bearer(key), **session_headers(cookie)}
    assert api.get("/v1/users", headers=both).status_code == 200
    assert api.get("/v1/teams", headers=both).status_code == 200
    assert api.get("/v1/teams", headers=bearer(key)).status_code == 403
    assert api.get("/v1/users", headers=session_headers(cookie)).status_code == 403
