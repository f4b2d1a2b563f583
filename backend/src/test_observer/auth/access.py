"""How every operation declares who may call it.

Each route carries exactly one access declaration as a dependency:

* `requires(*permissions)`: the caller needs all the named permissions (admins pass);
* `requires_for_artefacts(permission)`: the permission may also come from artefact matching
  rules; the endpoint finishes the check with `require_artefact_permission` once it knows
  which artefacts the request touches;
* `authenticated()`: open, unless REQUIRE_AUTHENTICATION is on, then any known caller;
* `loopback_only()`: only clients on the same host (health checks).

The declarations are objects the application can find on its routes, which is how the OpenAPI
document lists each operation's `x-permissions` and how a test proves no route lacks one.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.routing import APIRoute, iter_route_contexts
from sqlalchemy.orm import Session

from test_observer.db.engine import DbSession
from test_observer.db.models import Permission
from test_observer.errors import ForbiddenError, NotAuthenticatedError
from test_observer.settings import Settings

from .artefact_access import has_permissions, insufficient_permissions
from .principal import Principal, known_principal, resolve_principal

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def _settings_dependency(request: Request) -> Settings:
    # Async because it does no I/O: a sync dependency costs a trip through the thread pool.
    return _settings(request)


AppSettings = Annotated[Settings, Depends(_settings_dependency)]


def _not_authenticated() -> NotAuthenticatedError:
    return NotAuthenticatedError("Not authenticated")


class AccessRule:
    """Base of the access declarations; subclasses are FastAPI dependencies.

    They are `async`: a caller that needs no lookup (nobody, or one remembered) is known
    without leaving the event loop, and only a lookup goes to the thread pool. A synchronous
    dependency would cost every request a trip there.
    """


async def _caller(request: Request, session: Session, *, require_csrf: bool = True) -> Principal:
    principal = await known_principal(request, require_csrf=require_csrf)
    if principal is None:
        principal = await run_in_threadpool(
            partial(resolve_principal, request, session, require_csrf=require_csrf)
        )
    return principal


class PermissionRequirement(AccessRule):
    def __init__(self, permissions: tuple[Permission, ...]) -> None:
        self.permissions = frozenset(permissions)

    async def __call__(self, request: Request, session: DbSession) -> Principal:
        return self.check(request, await _caller(request, session))

    def check(self, request: Request, principal: Principal) -> Principal:
        settings = _settings(request)
        # Checked before the permissions so that anonymous callers get 401 even when every
        # required permission is ignored: IGNORE_PERMISSIONS must not reopen what
        # REQUIRE_AUTHENTICATION closes.
        if settings.require_authentication and not principal.is_authenticated:
            raise _not_authenticated()
        if not has_permissions(principal, settings, *self.permissions):
            raise insufficient_permissions()
        return principal


class PagePermissionRequirement(PermissionRequirement):
    """Permissions for a page a browser opens by following a link, which sends no custom
    header: a session cookie alone is accepted, as for the API documentation. Only for pages
    that change nothing; a cross-site page can make the browser load one but not read it.
    """

    async def __call__(self, request: Request, session: DbSession) -> Principal:
        return self.check(request, await _caller(request, session, require_csrf=False))


class ArtefactPermissionRequirement(PermissionRequirement):
    """A permission that artefact matching rules can also grant, for the artefacts they match.

    Resolves the caller without deciding: the endpoint knows the artefacts only after reading
    the request, and then calls `require_artefact_permission`.
    """

    def __init__(self, permission: Permission) -> None:
        super().__init__((permission,))
        self.permission = permission

    async def __call__(self, request: Request, session: DbSession) -> Principal:
        principal = await _caller(request, session)
        if _settings(request).require_authentication and not principal.is_authenticated:
            raise _not_authenticated()
        return principal


class AuthenticationRequirement(AccessRule):
    def __init__(self, *, allow_cookie_without_csrf: bool = False) -> None:
        self.allow_cookie_without_csrf = allow_cookie_without_csrf

    async def __call__(self, request: Request, session: DbSession) -> Principal:
        principal = await _caller(request, session, require_csrf=not self.allow_cookie_without_csrf)
        if _settings(request).require_authentication and not principal.is_authenticated:
            raise _not_authenticated()
        return principal


class CallerRequirement(AccessRule):
    """Operations about the caller itself (`/me`): they need no permission, but they concern
    one kind of caller, a signed-in user or an application.

    Without that kind of caller the answer is 401 when `always` is set or when
    REQUIRE_AUTHENTICATION is on; otherwise the endpoint decides (typically `null`).

    With `others_forbidden`, a caller of the other kind gets 403 "Forbidden" instead of 401:
    it is authenticated, just not the kind of caller the operation is about.
    """

    def __init__(
        self,
        kind: Literal["user", "application"],
        *,
        always: bool,
        others_forbidden: bool = False,
    ) -> None:
        self.kind = kind
        self.always = always
        self.others_forbidden = others_forbidden

    async def __call__(self, request: Request, session: DbSession) -> Principal:
        principal = await _caller(request, session)
        present = principal.user if self.kind == "user" else principal.application
        if present is None and (self.always or _settings(request).require_authentication):
            if self.others_forbidden and principal.is_authenticated:
                raise ForbiddenError("Forbidden")
            raise _not_authenticated()
        return principal


class LoopbackRequirement(AccessRule):
    async def __call__(self, request: Request) -> None:
        host = request.client.host if request.client else ""
        if host not in LOOPBACK_HOSTS:
            raise ForbiddenError("Forbidden")


class ProbeRequirement(AccessRule):
    """Open to every client, even when authentication is required: the answer is a status
    word and nothing else, for load balancers and ingress health checks in the cluster."""

    async def __call__(self) -> None:
        return None


def requires(*permissions: Permission) -> Any:
    """Declare the permissions an operation needs; resolves to the calling `Principal`."""
    if not permissions:
        raise ValueError("requires() needs at least one permission")
    return Depends(PermissionRequirement(permissions))


def requires_for_page(*permissions: Permission) -> Any:
    """Like `requires`, for a read-only page opened from a link (see PagePermissionRequirement)."""
    return Depends(PagePermissionRequirement(permissions))


def requires_for_artefacts(permission: Permission) -> Any:
    """Declare a permission that may be granted per artefact; resolves to the `Principal`.

    The endpoint must then call `require_artefact_permission(session, principal, settings,
    permission, artefact_ids)` before changing anything.
    """
    return Depends(ArtefactPermissionRequirement(permission))


def authenticated(*, allow_cookie_without_csrf: bool = False) -> Any:
    return Depends(AuthenticationRequirement(allow_cookie_without_csrf=allow_cookie_without_csrf))


def caller(
    kind: Literal["user", "application"], *, always: bool = False, others_forbidden: bool = False
) -> Any:
    """Declare an operation about the calling user or application; resolves to the `Principal`."""
    return Depends(CallerRequirement(kind, always=always, others_forbidden=others_forbidden))


class SignInRequirement(AccessRule):
    """Sign-in and sign-out: open to everyone, since they are how a caller becomes known."""

    async def __call__(self) -> None:
        return None


def sign_in() -> Any:
    return Depends(SignInRequirement())


def loopback_only() -> Any:
    return Depends(LoopbackRequirement())


def probe() -> Any:
    return Depends(ProbeRequirement())


def access_rules(route: APIRoute) -> list[AccessRule]:
    """The access declarations found among a route's dependencies (at any depth)."""
    found: list[AccessRule] = []
    pending = list(route.dependant.dependencies)
    while pending:
        dependant = pending.pop()
        if isinstance(dependant.call, AccessRule):
            found.append(dependant.call)
        pending.extend(dependant.dependencies)
    return found


def required_permissions(route: APIRoute) -> list[Permission]:
    permissions: set[Permission] = set()
    for rule in access_rules(route):
        if isinstance(rule, PermissionRequirement):
            permissions |= rule.permissions
    return sorted(permissions, key=list(Permission).index)


@dataclass(frozen=True)
class Operation:
    """One HTTP method on one path of the application, with the route that serves it."""

    method: str
    path: str
    route: APIRoute
    in_schema: bool


def operations(app: FastAPI) -> Iterator[Operation]:
    """Every operation of the application, including those of included routers."""
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if not isinstance(route, APIRoute):
            continue
        for method in sorted(context.methods or ()):
            yield Operation(method, str(context.path_format), route, context.include_in_schema)
