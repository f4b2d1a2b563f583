"""Environments: names for autocompletion and reported issues."""

from typing import Annotated

from fastapi import APIRouter, Query

from test_observer.auth import requires
from test_observer.db.engine import DbSession
from test_observer.db.models import FamilyName, Permission
from test_observer.input_safety import EdgeRoute

from . import service
from .schemas import (
    EnvironmentReportedIssueRequest,
    EnvironmentReportedIssueResponse,
    EnvironmentsResponse,
)

router = APIRouter(prefix="/v1/environments", tags=["environments"], route_class=EdgeRoute)


@router.get("", dependencies=[requires(Permission.view_test)])
def get_environments(
    session: DbSession,
    q: Annotated[str | None, Query(description="Case-insensitive part of the name")] = None,
    families: Annotated[
        list[FamilyName] | None,
        Query(description="Only environments tested with artefacts of these families"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> EnvironmentsResponse:
    """Distinct environment names (any architecture), sorted."""
    return service.list_environment_names(session, q, families or [], limit, offset)


@router.get("/reported-issues", dependencies=[requires(Permission.view_environment_reported_issue)])
def get_reported_issues(
    session: DbSession, is_confirmed: bool | None = None
) -> list[EnvironmentReportedIssueResponse]:
    return service.list_reported_issues(session, is_confirmed)


@router.post(
    "/reported-issues", dependencies=[requires(Permission.change_environment_reported_issue)]
)
def create_reported_issue(
    session: DbSession, request: EnvironmentReportedIssueRequest
) -> EnvironmentReportedIssueResponse:
    return service.create_reported_issue(session, request)


@router.put(
    "/reported-issues/{issue_id}",
    dependencies=[requires(Permission.change_environment_reported_issue)],
)
def update_reported_issue(
    session: DbSession, issue_id: int, request: EnvironmentReportedIssueRequest
) -> EnvironmentReportedIssueResponse:
    """Replace every field of the issue."""
    return service.update_reported_issue(session, issue_id, request)


@router.delete(
    "/reported-issues/{issue_id}",
    dependencies=[requires(Permission.change_environment_reported_issue)],
)
def delete_reported_issue(session: DbSession, issue_id: int) -> None:
    service.delete_reported_issue(session, issue_id)
