"""Test cases: names for autocompletion and reported issues."""

from typing import Annotated

from fastapi import APIRouter, Query

from test_observer.auth import requires
from test_observer.auth.access import DbSession
from test_observer.db.models import FamilyName, Permission

from . import service
from .schemas import TestCasesResponse, TestReportedIssueRequest, TestReportedIssueResponse

router = APIRouter(prefix="/v1/test-cases", tags=["test-cases"])


@router.get("", dependencies=[requires(Permission.view_test)])
def get_test_cases(
    session: DbSession,
    q: Annotated[str | None, Query(description="Case-insensitive part of the name")] = None,
    families: Annotated[
        list[FamilyName] | None,
        Query(description="Only test cases with results for artefacts of these families"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> TestCasesResponse:
    """Test case names with their template ids, sorted by name."""
    return service.list_test_cases(session, q, families or [], limit, offset)


@router.get("/reported-issues", dependencies=[requires(Permission.view_test_case_reported_issue)])
def get_reported_issues(
    session: DbSession, template_id: str | None = None, case_name: str | None = None
) -> list[TestReportedIssueResponse]:
    return service.list_reported_issues(session, template_id, case_name)


@router.post(
    "/reported-issues", dependencies=[requires(Permission.change_test_case_reported_issue)]
)
def create_reported_issue(
    session: DbSession, request: TestReportedIssueRequest
) -> TestReportedIssueResponse:
    return service.create_reported_issue(session, request)


@router.put(
    "/reported-issues/{issue_id}",
    dependencies=[requires(Permission.change_test_case_reported_issue)],
)
def update_reported_issue(
    session: DbSession, issue_id: int, request: TestReportedIssueRequest
) -> TestReportedIssueResponse:
    """Replace every field of the issue."""
    return service.update_reported_issue(session, issue_id, request)


@router.delete(
    "/reported-issues/{issue_id}",
    dependencies=[requires(Permission.change_test_case_reported_issue)],
)
def delete_reported_issue(session: DbSession, issue_id: int) -> None:
    service.delete_reported_issue(session, issue_id)
