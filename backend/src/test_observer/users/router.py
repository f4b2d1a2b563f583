"""/v1/users: people, their teams and admin rights."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from test_observer.auth import Principal, caller, requires
from test_observer.db.engine import DbSession
from test_observer.db.models import Permission
from test_observer.input_safety import EdgeRoute

from . import service
from .schemas import UserPatch, UserResponse, UsersResponse

router = APIRouter(prefix="/v1/users", tags=["users"], route_class=EdgeRoute)


# `/me` comes before `/{user_id}` so that "me" is never parsed as an id.
@router.get("/me")
def get_authenticated_user(
    principal: Annotated[Principal, caller("user")], session: DbSession
) -> UserResponse | None:
    """The signed-in user, or null (an API key alone is not a user)."""
    if principal.user is None:
        return None
    return UserResponse.model_validate(service.get_user(session, principal.user.id))


@router.get("", dependencies=[requires(Permission.view_user)])
def get_users(
    session: DbSession,
    limit: Annotated[
        int, Query(ge=1, le=1000, description="Maximum number of results to return (default: 50)")
    ] = 50,
    offset: Annotated[
        int, Query(ge=0, description="Number of results to skip for pagination (default: 0)")
    ] = 0,
    q: Annotated[
        str | None,
        Query(description="Search term for user email, name, launchpad handle, or id"),
    ] = None,
) -> UsersResponse:
    users, count = service.search_users(session, q, limit, offset)
    return UsersResponse(
        users=[UserResponse.model_validate(user) for user in users],
        count=count,
        limit=limit,
        offset=offset,
    )


@router.get("/{user_id:int}", dependencies=[requires(Permission.view_user)])
def get_user(user_id: int, session: DbSession) -> UserResponse:
    return UserResponse.model_validate(service.get_user(session, user_id))


@router.patch(
    "/{user_id:int}",
    responses={
        status.HTTP_403_FORBIDDEN: {"description": "`is_admin` given by a caller who is no admin"},
        status.HTTP_409_CONFLICT: {"description": "Would remove the last administrator"},
    },
)
def update_user(
    user_id: int,
    body: UserPatch,
    session: DbSession,
    principal: Annotated[Principal, requires(Permission.change_user)],
) -> UserResponse:
    """Change a user. Granting or revoking admin rights needs an admin caller."""
    user = service.update_user(session, principal, user_id, is_admin=body.is_admin)
    return UserResponse.model_validate(user)


@router.delete(
    "/{user_id:int}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={
        status.HTTP_403_FORBIDDEN: {"description": "An admin deleted by a caller who is no admin"},
        status.HTTP_409_CONFLICT: {"description": "Would remove the last administrator"},
    },
)
def delete_user(
    user_id: int,
    session: DbSession,
    principal: Annotated[Principal, requires(Permission.change_user)],
) -> Response:
    """Delete a user with their sessions, notifications, memberships and reviews (idempotent)."""
    service.delete_user(session, principal, user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
