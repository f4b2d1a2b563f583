"""Environments: names for autocompletion and reported issues."""

from typing import Annotated

from fastapi import APIRouter, Query

from test_observer.auth import requires
from test_observer.db.engine import DbSession
from test_observer.db.models import FamilyName, Permission
from test_observer.input_safety import EdgeRoute
from test_observer.pagination import Page, paged
from test_observer.reported_issues import service as reported_issues
from test_observer.reported_issues.schemas import (
    EnvironmentReportedIssueRequest,
    EnvironmentReportedIssueResponse,
)

from . import service
from .schemas import EnvironmentsResponse

router = APIRouter(prefix="/v1/environments", tags=["environments"], route_class=EdgeRoute)


@router.get("", dependencies=[requires(Permission.view_test)])
def get_environments(
    session: DbSession,
    q: Annotated[str | None, Query(description="Case-insensitive part of the name")] = None,
    families: Annotated[
        list[FamilyName] | None,
        Query(description="Only environments tested with artefacts of these families"),
    ] = None,
    page: Page = paged(default=50, maximum=1000),
) -> EnvironmentsResponse:
    """Distinct environment names (any architecture), sorted."""
    return service.list_environment_names(session, q, families or [], page.limit, page.offset)


@router.get("/reported-issues", dependencies=[requires(Permission.view_environment_reported_issue)])
def get_reported_issues(
    session: DbSession, is_confirmed: bool | None = None
) -> list[EnvironmentReportedIssueResponse]:
    return reported_issues.list_environment_issues(session, is_confirmed)


@router.post(
    "/reported-issues", dependencies=[requires(Permission.change_environment_reported_issue)]
)
def create_reported_issue(
    session: DbSession, request: EnvironmentReportedIssueRequest
) -> EnvironmentReportedIssueResponse:
    return reported_issues.create(session, reported_issues.ENVIRONMENT, request)


@router.put(
    "/reported-issues/{issue_id}",
    dependencies=[requires(Permission.change_environment_reported_issue)],
)
def update_reported_issue(
    session: DbSession, issue_id: int, request: EnvironmentReportedIssueRequest
) -> EnvironmentReportedIssueResponse:
    """Replace every field of the issue."""
    return reported_issues.replace(session, reported_issues.ENVIRONMENT, issue_id, request)


@router.delete(
    "/reported-issues/{issue_id}",
    dependencies=[requires(Permission.change_environment_reported_issue)],
)
def delete_reported_issue(session: DbSession, issue_id: int) -> None:
    reported_issues.delete(session, reported_issues.ENVIRONMENT, issue_id)
