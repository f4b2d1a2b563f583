"""How every operation declares who may call it.

Each route carries exactly one access declaration as a dependency:

* `requires(*permissions)`: the caller needs all the named permissions (admins pass);
* `authenticated()`: open, unless REQUIRE_AUTHENTICATION is on, then any known caller;
* `loopback_only()`: only clients on the same host (health checks).

The declarations are objects the application can find on its routes, which is how the OpenAPI
document lists each operation's `x-permissions` and how a test proves no route lacks one.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request, status
from fastapi.routing import APIRoute, iter_route_contexts
from sqlalchemy.orm import Session

from test_observer.db.engine import get_session
from test_observer.db.models import Permission
from test_observer.settings import Settings

from .principal import Principal, resolve_principal

DbSession = Annotated[Session, Depends(get_session, scope="function")]

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _not_authenticated() -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, "Not authenticated")


class AccessRule:
    """Base of the access declarations; subclasses are FastAPI dependencies."""


class PermissionRequirement(AccessRule):
    def __init__(self, permissions: tuple[Permission, ...]) -> None:
        self.permissions = frozenset(permissions)

    def __call__(self, request: Request, session: DbSession) -> Principal:
        settings = _settings(request)
        principal = resolve_principal(request, session)
        if settings.require_authentication and not principal.is_authenticated:
            raise _not_authenticated()
        if principal.is_admin:
            return principal
        missing = self.permissions - settings.ignore_permissions - principal.granted
        if missing:
            raise HTTPException(status.HTTP_403_FORBIDDEN, "Insufficient permissions")
        return principal


class AuthenticationRequirement(AccessRule):
    def __init__(self, *, allow_cookie_without_csrf: bool = False) -> None:
        self.allow_cookie_without_csrf = allow_cookie_without_csrf

    def __call__(self, request: Request, session: DbSession) -> Principal:
        principal = resolve_principal(
            request, session, require_csrf=not self.allow_cookie_without_csrf
        )
        if _settings(request).require_authentication and not principal.is_authenticated:
            raise _not_authenticated()
        return principal


class LoopbackRequirement(AccessRule):
    def __call__(self, request: Request) -> None:
        host = request.client.host if request.client else ""
        if host not in LOOPBACK_HOSTS:
            raise HTTPException(status.HTTP_403_FORBIDDEN, "Forbidden")


def requires(*permissions: Permission) -> Any:
    """Declare the permissions an operation needs; resolves to the calling `Principal`."""
    if not permissions:
        raise ValueError("requires() needs at least one permission")
    return Depends(PermissionRequirement(permissions))


def authenticated(*, allow_cookie_without_csrf: bool = False) -> Any:
    return Depends(AuthenticationRequirement(allow_cookie_without_csrf=allow_cookie_without_csrf))


def loopback_only() -> Any:
    return Depends(LoopbackRequirement())


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
