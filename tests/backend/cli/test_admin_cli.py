"""`test-observer admin ...`, run in the test process against the test database
(`tests.backend.command_line`; test_cli starts the `admin` group as a real process)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from test_observer.auth.keys import digest_api_key
from test_observer.db.models import Application, Permission, User, UserSession
from tests.backend.command_line import Completed, run_command
from tests.backend.principals import SESSIONS_SECRET, bearer, session_headers


def admin(database_url: str, *args: str, **env: str) -> Completed:
    return run_command("admin", *args, env={"DB_URL": database_url, **env})


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["create-application"],
        ["add-user"],
        ["promote-user-to-admin"],
        ["clean-sessions"],
        ["login-url"],
    ],
)
def test_every_admin_command_has_help(command: list[str]) -> None:
    result = admin("postgresql://nobody@127.0.0.1:1/none", *command, "--help")
    assert result.returncode == 0, result.stderr
    assert "Usage" in result.stdout


def test_create_application_prints_only_the_key(
    database_url: str, db_session: Session, api: TestClient
) -> None:
    result = admin(database_url, "create-application", "ci", "-p", "view_test", "-p", "view_user")
    assert result.returncode == 0, result.stderr
    key = result.stdout.strip()
    assert re.fullmatch(r"to_[A-Za-z0-9_-]{43}", key)
    assert result.stdout == key + "\n"
    assert "ci" in result.stderr

    application = db_session.scalars(select(Application)).one()
    assert application.name == "ci"
    assert application.permissions == [Permission.view_test, Permission.view_user]
    assert application.api_key_digest == digest_api_key(key)
    assert api.get("/v1/users", headers=bearer(key)).status_code == 200


def test_create_application_with_all_permissions(database_url: str, db_session: Session) -> None:
    result = admin(database_url, "create-application", "jenkins", "--all-permissions")
    assert result.returncode == 0, result.stderr
    application = db_session.scalars(select(Application)).one()
    assert application.permissions == list(Permission)


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["create-application", "ci"], "--all-permissions"),
        (["create-application", "ci", "-p", "view_test", "--all-permissions"], "either"),
        (["create-application", "ci", "-p", "fly"], "unknown permission 'fly'"),
        (["promote-user-to-admin", "nobody@example.com"], "no user with email"),
        (["add-user", "not-an-email"], "not an email address"),
    ],
)
def test_failures_exit_1_with_one_line(
    database_url: str, db_session: Session, args: list[str], reason: str
) -> None:
    result = admin(database_url, *args)
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("Error: ")
    assert not lines[0][len("Error: ")].islower()  # one style: a capitalised sentence
    assert reason.lower() in lines[0].lower()
    assert db_session.scalars(select(Application)).all() == []


def test_duplicate_application_name(database_url: str, db_session: Session) -> None:
    first = admin(database_url, "create-application", "ci", "--all-permissions")
    assert first.returncode == 0
    second = admin(database_url, "create-application", "ci", "--all-permissions")
    assert second.returncode == 1
    assert second.stdout == ""
    assert second.stderr.strip() == "Error: Application with name 'ci' already exists"
    assert db_session.scalars(select(Application.api_key_digest)).all() == [
        digest_api_key(first.stdout.strip())
    ]


def test_add_user_is_idempotent_and_promotion(database_url: str, db_session: Session) -> None:
    assert admin(database_url, "add-user", "ada@example.com", "--name", "Ada L").returncode == 0
    again = admin(database_url, "add-user", "ada@example.com", "--name", "Someone else")
    assert again.returncode == 0
    users = db_session.scalars(select(User)).all()
    assert [(u.email, u.name, u.is_admin) for u in users] == [("ada@example.com", "Ada L", False)]

    promoted = admin(database_url, "promote-user-to-admin", "ada@example.com")
    assert promoted.returncode == 0, promoted.stderr
    db_session.expire_all()
    assert db_session.scalars(select(User.is_admin)).one() is True


def test_unreachable_database(db_session: Session) -> None:
    result = admin("postgresql://x@127.0.0.1:1/none", "add-user", "ada@example.com")
    assert result.returncode == 1
    assert "Cannot reach the database" in result.stderr


def test_clean_sessions_deletes_only_expired_ones(database_url: str, db_session: Session) -> None:
    """A11: expired sessions go, live ones stay."""
    user = User(email="ada@example.com", name="Ada")
    db_session.add(user)
    db_session.flush()
    now = datetime.now(UTC).replace(tzinfo=None)
    expired = UserSession(user_id=user.id, expires_at=now - timedelta(minutes=1))
    live = UserSession(user_id=user.id, expires_at=now + timedelta(days=14))
    db_session.add_all([expired, live])
    db_session.commit()

    result = admin(database_url, "clean-sessions")
    assert result.returncode == 0, result.stderr
    assert "Deleted 1 expired sessions" in result.stderr
    db_session.expire_all()
    assert db_session.scalars(select(UserSession.id)).all() == [live.id]


LOCAL = {"USE_LOCAL_LOGIN": "true", "SAML_SP_BASE_URL": "http://localhost:30000"}


def test_login_url_signs_in_once(
    database_url: str, db_session: Session, make_client: Callable[..., TestClient]
) -> None:
    result = admin(database_url, "login-url", "dev@example.com", "--name", "Dev", **LOCAL)
    assert result.returncode == 0, result.stderr
    link = result.stdout.strip()
    assert link.startswith("http://localhost:30000/v1/auth/local/login?token=")
    path = link.removeprefix("http://localhost:30000")

    client = make_client(use_local_login=True, sessions_secret=SESSIONS_SECRET)
    client.follow_redirects = False
    signed_in = client.get(path)
    assert (signed_in.status_code, signed_in.headers["location"]) == (302, "http://localhost:30001")
    cookie = signed_in.headers["set-cookie"].split(";")[0].removeprefix("session=")
    me = client.get("/v1/users/me", headers=session_headers(cookie)).json()
    assert (me["email"], me["name"]) == ("dev@example.com", "Dev")

    reused = client.get(path)
    assert reused.status_code == 403
    assert "already used" in reused.json()["detail"]


def test_login_url_is_refused_outside_local_development(
    database_url: str, db_session: Session, make_client: Callable[..., TestClient]
) -> None:
    off = admin(database_url, "login-url", "dev@example.com")
    assert off.returncode == 1
    assert off.stderr.strip().count("\n") == 0
    assert "USE_LOCAL_LOGIN=true" in off.stderr
    with_idp = admin(
        database_url,
        "login-url",
        "dev@example.com",
        SAML_IDP_METADATA_URL="https://idp.example/metadata",
        **LOCAL,
    )
    assert with_idp.returncode == 1
    assert db_session.scalars(select(User)).all() == []

    # A link made while local sign-in was on stops working when the server runs without it.
    link = admin(database_url, "login-url", "dev@example.com", **LOCAL).stdout.strip()
    path = link.removeprefix("http://localhost:30000")
    production = make_client(sessions_secret=SESSIONS_SECRET).get(path, follow_redirects=False)
    assert (production.status_code, production.json()) == (
        404,
        {"detail": "Local sign-in is disabled"},
    )
