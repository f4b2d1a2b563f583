"""/v1/applications: API clients and their keys."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Response, status

from test_observer.auth import AppSettings, Principal, caller, requires
from test_observer.db.engine import DbSession
from test_observer.db.models import Permission
from test_observer.errors import NotAuthenticatedError
from test_observer.input_safety import EdgeRoute

from . import service
from .schemas import ApplicationPatch, ApplicationPost, ApplicationResponse

router = APIRouter(prefix="/v1/applications", tags=["applications"], route_class=EdgeRoute)


def _response(view: service.ApplicationView) -> ApplicationResponse:
    return ApplicationResponse.model_validate(view, from_attributes=True)


@router.get("", dependencies=[requires(Permission.view_application)])
def get_applications(session: DbSession) -> list[ApplicationResponse]:
    return [_response(view) for view in service.list_applications(session)]


CEILING: dict[int | str, dict[str, Any]] = {
    status.HTTP_403_FORBIDDEN: {
        "description": "The caller lacks a permission it would grant, or one the application has"
    }
}


@router.post("", responses=CEILING)
def create_application(
    body: ApplicationPost,
    session: DbSession,
    settings: AppSettings,
    principal: Annotated[Principal, requires(Permission.add_application)],
) -> ApplicationResponse:
    """Create an application; the response is the only one that shows its key in clear.

    The caller must hold every permission it gives the application (admins hold all)."""
    view = service.create_application(session, principal, settings, body.name, body.permissions)
    return _response(view)


# The `me` routes come before `/{application_id}` so that "me" is never parsed as an id.
@router.get("/me")
def get_authenticated_application(
    principal: Annotated[Principal, caller("application")],
) -> ApplicationResponse | None:
    """The calling application (identified by its key), or null."""
    if principal.application is None:
        return None
    return _response(service.view_of(principal.application))


@router.post(
    "/me/rotate",
    responses={status.HTTP_401_UNAUTHORIZED: {"description": "No valid API key was given"}},
)
def rotate_own_key(
    principal: Annotated[Principal, caller("application", always=True)], session: DbSession
) -> ApplicationResponse:
    """Replace the caller's key; the key used for this request stops working at once."""
    if principal.application is None:  # the access rule already answered 401
        raise NotAuthenticatedError("Not authenticated")
    return _response(service.rotate_own_key(session, principal))


@router.get("/{application_id:int}", dependencies=[requires(Permission.view_application)])
def get_application(application_id: int, session: DbSession) -> ApplicationResponse:
    return _response(service.get_application(session, application_id))


@router.patch("/{application_id:int}", responses=CEILING)
def update_application(
    application_id: int,
    body: ApplicationPatch,
    session: DbSession,
    settings: AppSettings,
    principal: Annotated[Principal, requires(Permission.change_application)],
) -> ApplicationResponse:
    """Replace the permissions; the caller must hold the old and the new ones."""
    view = service.update_permissions(
        session, principal, settings, application_id, body.permissions
    )
    return _response(view)


@router.post("/{application_id}/rotate", responses=CEILING)
def rotate_key(
    application_id: int,
    session: DbSession,
    settings: AppSettings,
    principal: Annotated[Principal, requires(Permission.change_application)],
) -> ApplicationResponse:
    """Replace the key and answer it in clear; the caller must hold the application's
    permissions, since it receives them with the key."""
    return _response(service.rotate_key(session, principal, settings, application_id))


@router.delete(
    "/{application_id:int}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=CEILING,
)
def delete_application(
    application_id: int,
    session: DbSession,
    settings: AppSettings,
    principal: Annotated[Principal, requires(Permission.change_application)],
) -> Response:
    """Delete the application (idempotent); the caller must hold its permissions."""
    service.delete_application(session, principal, settings, application_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
