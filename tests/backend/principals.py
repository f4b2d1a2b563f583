"""Real callers for API tests: users with signed session cookies, applications with keys."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

from itsdangerous import TimestampSigner
from sqlalchemy.orm import Session

from test_observer.auth.keys import digest_api_key, generate_api_key, visible_prefix
from test_observer.db.models import Application, Permission, Team, User, UserSession

# The tests' apps are built with this secret so that they can sign session cookies.
SESSIONS_SECRET = "a secret only the tests know"
CSRF = {"X-CSRF-Token": "1"}


def signed_session_cookie(session_id: int, secret: str = SESSIONS_SECRET) -> str:
    """The `session` cookie the app's session middleware would set for this session row."""
    payload = base64.b64encode(json.dumps({"id": session_id}).encode())
    return TimestampSigner(secret).sign(payload).decode()


def make_user(
    db: Session,
    email: str = "ada@example.com",
    *,
    name: str | None = None,
    is_admin: bool = False,
    permissions: list[Permission] | None = None,
    handle: str | None = None,
) -> User:
    user = User(email=email, name=name or email.split("@")[0], is_admin=is_admin)
    user.launchpad_handle = handle
    db.add(user)
    if permissions is not None:
        team = Team(name=f"team-of-{email}", permissions=permissions)
        team.members = [user]
        db.add(team)
    db.commit()
    return user


def login(db: Session, user: User, *, expires_in: timedelta = timedelta(days=14)) -> str:
    """A session row for `user`; returns the signed cookie value."""
    now = datetime.now(UTC).replace(tzinfo=None)
    row = UserSession(user_id=user.id, expires_at=now + expires_in)
    db.add(row)
    db.commit()
    return signed_session_cookie(row.id)


def session_headers(cookie: str, *, csrf: bool = True) -> dict[str, str]:
    headers = {"Cookie": f"session={cookie}"}
    if csrf:
        headers.update(CSRF)
    return headers


def user_headers(db: Session, email: str = "ada@example.com", **user: object) -> dict[str, str]:
    """Headers of a signed-in user made with `make_user(email, **user)`."""
    return session_headers(login(db, make_user(db, email, **user)))  # type: ignore[arg-type]


def make_application(
    db: Session, name: str = "ci", permissions: list[Permission] | None = None
) -> tuple[Application, str]:
    key = generate_api_key()
    application = Application(
        name=name,
        permissions=permissions or [],
        api_key_digest=digest_api_key(key),
        api_key_prefix=visible_prefix(key),
    )
    db.add(application)
    db.commit()
    return application, key


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def application_headers(db: Session, *permissions: Permission, name: str = "ci") -> dict[str, str]:
    return bearer(make_application(db, name, list(permissions))[1])
