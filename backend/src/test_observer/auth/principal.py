"""Resolving the caller of a request: an application (API key), a user session, or nobody."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fastapi import Request
from fastapi.requests import HTTPConnection
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from test_observer.db.engine import REQUEST
from test_observer.db.models import (
    Application,
    Permission,
    Team,
    User,
    UserSession,
    team_users_association,
)
from test_observer.errors import NotAuthenticatedError

from .cache import CallerCache
from .keys import digest_api_key

CSRF_HEADER = "x-csrf-token"
# The cookie that carries a signed-in user's session (the session middleware's).
SESSION_COOKIE = "session"
# The request's state key of the generation read started on arrival (`prefetch.py`), which the
# access declaration awaits.
GENERATION_READ = "auth_generation_read"


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


def _callers(connection: HTTPConnection) -> tuple[CallerCache, dict[str, Any]] | None:
    """The app's cache of callers (while it is served) and the request's state, where the
    generation read for the request is kept."""
    callers = getattr(connection.app.state, "callers", None)
    if not isinstance(callers, CallerCache):
        return None
    return callers, connection.scope.setdefault("state", {})


def _remembered(request: HTTPConnection, *, read: bool = True) -> tuple[CallerCache, int] | None:
    """The app's cache of callers and the generation this request reads it at (read once per
    request, after it arrived; with `read` false, only if it was), or None: look the caller
    up."""
    found = _callers(request)
    if found is None:
        return None
    callers, state = found
    generation = state.get("auth_generation")
    if generation is None and read:
        generation = state["auth_generation"] = callers.generation()
    return None if generation is None else (callers, generation)


def read_generation(session: Session) -> tuple[CallerCache, int] | None:
    """The app's cache and the generation the request of `session` read, for answers
    remembered like callers; None outside a request, or when the request read none (it
    presented no credentials, or the read failed): look the answer up."""
    request = session.info.get(REQUEST)
    return None if request is None else _remembered(request, read=False)


@dataclass(frozen=True)
class _SignedIn:
    user: User
    expires_at: datetime
    team_permissions: frozenset[Permission]


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _signed_in(
    request: HTTPConnection, session: Session, *, require_csrf: bool
) -> _SignedIn | None:
    session_id = _session_id(request, require_csrf=require_csrf)
    if session_id is None:
        return None
    cache = _remembered(request)
    key = ("session", session_id)
    remembered = cache[0].get(key, cache[1]) if cache is not None else None
    if remembered is not None and remembered.expires_at > _now():
        return remembered  # type: ignore[no-any-return]
    row = session.execute(
        select(User, UserSession.expires_at)
        .join(UserSession, UserSession.user_id == User.id)
        .where(UserSession.id == session_id, UserSession.expires_at > _now())
    ).first()
    if row is None:
        return None
    user, expires_at = row
    team_permissions = session.scalars(
        select(func.unnest(Team.permissions))
        .join(team_users_association, team_users_association.c.team_id == Team.id)
        .where(team_users_association.c.user_id == user.id)
    )
    signed_in = _SignedIn(user, expires_at, frozenset(Permission(p) for p in team_permissions))
    # A snapshot, shared by the requests that find it remembered: its columns are read, never
    # written or lazily loaded.
    session.expunge(user)
    if cache is not None:
        cache[0].store(key, signed_in, cache[1])
    return signed_in


def _application(request: HTTPConnection, session: Session, token: str) -> Application:
    """The application whose key is `token`; a key nobody issued is a 401."""
    digest = digest_api_key(token)
    cache = _remembered(request)
    key = ("key", digest)
    application = cache[0].get(key, cache[1]) if cache is not None else None
    if application is not None:
        return application  # type: ignore[no-any-return]
    application = session.scalar(select(Application).where(Application.api_key_digest == digest))
    # Treating the key as absent would answer "insufficient permissions", which hides a
    # typo or a revoked key from the CI author who has to fix it.
    if application is None:
        raise _invalid_key()
    session.expunge(application)  # a snapshot, as for users
    if cache is not None:
        cache[0].store(key, application, cache[1])
    return application


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
        _application(request, session, token)
        return True
    return _signed_in(request, session, require_csrf=True) is not None


def _invalid_key() -> NotAuthenticatedError:
    return NotAuthenticatedError("Invalid API key", headers={"WWW-Authenticate": "Bearer"})


async def _remembered_async(
    connection: HTTPConnection, *, require_csrf: bool
) -> tuple[Application | None, _SignedIn | None] | None:
    """The caller's application and signed-in user when they need no lookup: none (no
    credentials), or remembered at the current generation, read from the event loop. None:
    they must be looked up."""
    token = _bearer_token(connection)
    session_id = _session_id(connection, require_csrf=require_csrf)
    if token is None and session_id is None:
        return None, None
    found = _callers(connection)
    if found is None:
        return None
    callers, state = found
    generation = state.get("auth_generation")
    if generation is None:
        started = state.pop(GENERATION_READ, None)
        generation = state["auth_generation"] = await (
            started if started is not None else callers.current_generation()
        )
    if generation is None:
        return None
    application: Application | None = None
    signed_in: _SignedIn | None = None
    if token is not None:
        application = callers.get(("key", digest_api_key(token)), generation)
        if application is None:
            return None
    if session_id is not None:
        signed_in = callers.get(("session", session_id), generation)
        if signed_in is None or signed_in.expires_at <= _now():
            return None
    return application, signed_in


async def known_principal(request: Request, *, require_csrf: bool = True) -> Principal | None:
    """The caller of `request` when it needs no lookup (see `_remembered_async`); None: it
    must be looked up (`resolve_principal`, in a thread)."""
    cached = getattr(request.state, "principal", None)
    if isinstance(cached, Principal):
        return cached
    known = await _remembered_async(request, require_csrf=require_csrf)
    return None if known is None else _principal(request, *known)


async def remembered_caller(connection: HTTPConnection) -> bool:
    """Whether the request's credentials name a caller remembered at the current generation:
    `authenticates` without a lookup. False says nothing: the caller must then be looked up."""
    known = await _remembered_async(connection, require_csrf=True)
    return known is not None and known != (None, None)


def _principal(
    request: Request, application: Application | None, signed_in: _SignedIn | None
) -> Principal:
    granted: set[Permission] = set(application.permissions) if application else set()
    if signed_in is not None:
        granted |= signed_in.team_permissions
    user = signed_in.user if signed_in is not None else None
    principal = Principal(user=user, application=application, granted=frozenset(granted))
    request.state.principal = principal
    return principal


def resolve_principal(
    request: Request, session: Session, *, require_csrf: bool = True
) -> Principal:
    """The caller of `request`, resolved once per request and kept on `request.state`."""
    cached = getattr(request.state, "principal", None)
    if isinstance(cached, Principal):
        return cached

    token = _bearer_token(request)
    application = _application(request, session, token) if token is not None else None
    signed_in = _signed_in(request, session, require_csrf=require_csrf)
    return _principal(request, application, signed_in)
