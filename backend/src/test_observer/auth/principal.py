"""Resolving the caller of a request: an application (API key), a user session, or nobody."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from fastapi import Request
from fastapi.requests import HTTPConnection
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from test_observer.db.models import (
    Application,
    Permission,
    Team,
    User,
    UserSession,
    team_users_association,
)
from test_observer.errors import NotAuthenticatedError

from .keys import digest_api_key

CSRF_HEADER = "x-csrf-token"


@dataclass(frozen=True)
class Principal:
    user: User | None = None
    application: Application | None = None
    # Union of the user's teams' permissions and the application's permissions.
    granted: frozenset[Permission] = field(default_factory=frozenset)

    @property
    def is_authenticated(self) -> bool:
        return self.user is not None or self.application is not None

    @property
    def is_admin(self) -> bool:
        return self.user is not None and self.user.is_admin


def _bearer_token(request: HTTPConnection) -> str | None:
    # Exactly "Bearer <key>", as the original service accepts it; anything else is no key.
    parts = request.headers.get("authorization", "").split()
    if len(parts) != 2 or parts[0] != "Bearer":
        return None
    return parts[1]


def _session_user(request: HTTPConnection, session: Session, *, require_csrf: bool) -> User | None:
    session_id = _session_id(request, require_csrf=require_csrf)
    if session_id is None:
        return None
    now = datetime.now(UTC).replace(tzinfo=None)
    return session.scalar(
        select(User)
        .join(UserSession, UserSession.user_id == User.id)
        .where(UserSession.id == session_id, UserSession.expires_at > now)
    )


def _session_id(request: HTTPConnection, *, require_csrf: bool) -> int | None:
    # A cookie alone is not enough: requiring a custom header means a cross-site form or link
    # cannot act with the user's session.
    if require_csrf and CSRF_HEADER not in request.headers:
        return None
    if "session" not in request.scope:
        return None
    session_id = request.session.get("id")
    return session_id if isinstance(session_id, int) else None


def presents_credentials(request: HTTPConnection) -> bool:
    """Whether the request carries a key or a session that may name a caller (no database)."""
    return _bearer_token(request) is not None or _session_id(request, require_csrf=True) is not None


def authenticates(request: HTTPConnection, session: Session) -> bool:
    """Whether the request's credentials name a known caller: the check the edge makes before
    it reads a body larger than anonymous callers may send. A key nobody issued is a 401, as
    `resolve_principal` answers it."""
    token = _bearer_token(request)
    if token is not None:
        known = session.scalar(
            select(Application.id).where(Application.api_key_digest == digest_api_key(token))
        )
        if known is None:
            raise _invalid_key()
        return True
    return _session_user(request, session, require_csrf=True) is not None


def _invalid_key() -> NotAuthenticatedError:
    return NotAuthenticatedError("Invalid API key", headers={"WWW-Authenticate": "Bearer"})


def resolve_principal(
    request: Request, session: Session, *, require_csrf: bool = True
) -> Principal:
    """The caller of `request`, resolved once per request and kept on `request.state`."""
    cached = getattr(request.state, "principal", None)
    if isinstance(cached, Principal):
        return cached

    application = None
    token = _bearer_token(request)
    if token is not None:
        application = session.scalar(
            select(Application).where(Application.api_key_digest == digest_api_key(token))
        )
        # Treating the key as absent would answer "insufficient permissions", which hides a
        # typo or a revoked key from the CI author who has to fix it.
        if application is None:
            raise _invalid_key()
    user = _session_user(request, session, require_csrf=require_csrf)

    granted: set[Permission] = set(application.permissions) if application else set()
    if user is not None:
        team_permissions = session.scalars(
            select(func.unnest(Team.permissions))
            .join(team_users_association, team_users_association.c.team_id == Team.id)
            .where(team_users_association.c.user_id == user.id)
        )
        granted.update(Permission(p) for p in team_permissions)

    principal = Principal(user=user, application=application, granted=frozenset(granted))
    request.state.principal = principal
    return principal
