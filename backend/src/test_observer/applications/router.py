"""/v1/applications: API clients and their keys."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Response, status

from test_observer.auth import Principal, caller, requires
from test_observer.auth.access import DbSession
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


@router.post("", dependencies=[requires(Permission.add_application)])
def create_application(body: ApplicationPost, session: DbSession) -> ApplicationResponse:
    """Create an application; the response is the only one that shows its key in clear."""
    return _response(service.create_application(session, body.name, body.permissions))


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
    return _response(service.rotate_key(session, principal.application.id))


@router.get("/{application_id:int}", dependencies=[requires(Permission.view_application)])
def get_application(application_id: int, session: DbSession) -> ApplicationResponse:
    return _response(service.get_application(session, application_id))


@router.patch("/{application_id:int}", dependencies=[requires(Permission.change_application)])
def update_application(
    application_id: int, body: ApplicationPatch, session: DbSession
) -> ApplicationResponse:
    return _response(service.update_permissions(session, application_id, body.permissions))


@router.post("/{application_id}/rotate", dependencies=[requires(Permission.change_application)])
def rotate_key(application_id: int, session: DbSession) -> ApplicationResponse:
    return _response(service.rotate_key(session, application_id))


@router.delete(
    "/{application_id:int}",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=[requires(Permission.change_application)],
)
def delete_application(application_id: int, session: DbSession) -> Response:
    service.delete_application(session, application_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
