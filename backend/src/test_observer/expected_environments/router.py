"""Declared expected environments, and an artefact's missing environments."""

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from test_observer.auth import Principal, requires
from test_observer.auth.access import AppSettings
from test_observer.db.engine import DbSession
from test_observer.db.models import FamilyName, Permission
from test_observer.db.text_limits import NAME_LENGTH
from test_observer.input_safety import EdgeRoute

from . import service
from .schemas import (
    ExpectedEnvironmentsListResponse,
    ExpectedEnvironmentsRequest,
    ExpectedEnvironmentsResponse,
    MissingEnvironmentsResponse,
)

router = APIRouter(tags=["expected-environments"], route_class=EdgeRoute)

VIEW = requires(Permission.view_artefact)
CHANGE = requires(Permission.change_expected_environment)
TestPlanQuery = Annotated[
    str | None,
    Query(max_length=NAME_LENGTH, description="The declaration's test plan; omitted: any plan"),
]


@router.get("/v1/artefacts/{artefact_id}/missing-environments", dependencies=[VIEW])
def get_missing_environments(
    artefact_id: int,
    session: DbSession,
    settings: AppSettings,
    test_plans: Annotated[
        list[str] | None,
        Query(description="Compare only executions of these test plans, plan by plan"),
    ] = None,
) -> MissingEnvironmentsResponse:
    """Environments expected of the artefact that none of its executions ran on.

    Expected: the declarations for its family and name when any applies, else the
    environments that ran its previous version.
    """
    return service.missing_environments(
        session, settings.frontend_url, artefact_id, test_plans or []
    )


@router.get("/v1/expected-environments", dependencies=[VIEW])
def get_expected_environments(
    session: DbSession,
    families: Annotated[list[FamilyName] | None, Query()] = None,
    artefact_name: Annotated[str | None, Query(max_length=NAME_LENGTH)] = None,
    test_plan: TestPlanQuery = None,
) -> ExpectedEnvironmentsListResponse:
    """Declarations, by family, artefact name and test plan."""
    return service.list_expected_environments(session, families or [], artefact_name, test_plan)


@router.put("/v1/expected-environments")
def put_expected_environments(
    session: DbSession,
    principal: Annotated[Principal, CHANGE],
    request: ExpectedEnvironmentsRequest,
) -> ExpectedEnvironmentsResponse:
    """Declare the environments every version of an artefact must be tested on, replacing
    the declaration for the same family, artefact name and test plan."""
    return service.declare_expected_environments(session, principal, request)


@router.delete(
    "/v1/expected-environments",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
)
def delete_expected_environments(
    session: DbSession,
    principal: Annotated[Principal, CHANGE],
    family: FamilyName,
    artefact_name: Annotated[str, Query(max_length=NAME_LENGTH)],
    test_plan: TestPlanQuery = None,
) -> Response:
    """Withdraw a declaration; missing environments fall back to the previous version."""
    service.delete_expected_environments(session, principal, family, artefact_name, test_plan)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
