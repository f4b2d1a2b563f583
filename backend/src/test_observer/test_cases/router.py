"""Test cases: names for autocompletion, flaky tests and reported issues."""

from typing import Annotated

from fastapi import APIRouter, Query

from test_observer.auth import requires
from test_observer.db.engine import DbSession
from test_observer.db.models import FamilyName, Permission
from test_observer.flakiness import MIN_FLIPS, MIN_RUNS
from test_observer.input_safety import EdgeRoute
from test_observer.pagination import Page, paged
from test_observer.reported_issues import service as reported_issues
from test_observer.reported_issues.schemas import (
    TestReportedIssueRequest,
    TestReportedIssueResponse,
)
from test_observer.result_filters.query import ResultFilters

from . import flaky, service
from .schemas import FlakyTestCasesResponse, TestCasesResponse

router = APIRouter(prefix="/v1/test-cases", tags=["test-cases"], route_class=EdgeRoute)


@router.get("", dependencies=[requires(Permission.view_test)])
def get_test_cases(
    session: DbSession,
    q: Annotated[str | None, Query(description="Case-insensitive part of the name")] = None,
    families: Annotated[
        list[FamilyName] | None,
        Query(description="Only test cases with results for artefacts of these families"),
    ] = None,
    page: Page = paged(default=50, maximum=1000),
) -> TestCasesResponse:
    """Test case names with their template ids, sorted by name."""
    return service.list_test_cases(session, q, families or [], page.limit, page.offset)


@router.get("/flaky", dependencies=[requires(Permission.view_test)])
def get_flaky_test_cases(
    session: DbSession,
    page: Annotated[Page, paged(default=50, maximum=1000, minimum=0)],
    filters: ResultFilters,
    min_runs: Annotated[
        int, Query(ge=2, description="Fewest runs (PASSED or FAILED results) a pair needs")
    ] = MIN_RUNS,
    min_flips: Annotated[
        int, Query(ge=0, description="Fewest status changes between consecutive runs")
    ] = MIN_FLIPS,
) -> FlakyTestCasesResponse:
    """Test cases whose status keeps changing between runs in one environment, most flaky first.

    The results search's filters select the results; without `from_date` the window is the
    30 days before `until_date` (or now). Score = flips / (runs - 1).
    """
    return flaky.flaky_test_cases(
        session,
        filters,
        min_runs=min_runs,
        min_flips=min_flips,
        limit=page.limit,
        offset=page.offset,
    )


@router.get("/reported-issues", dependencies=[requires(Permission.view_test_case_reported_issue)])
def get_reported_issues(
    session: DbSession, template_id: str | None = None, case_name: str | None = None
) -> list[TestReportedIssueResponse]:
    return reported_issues.list_test_case_issues(session, template_id, case_name)


@router.post(
    "/reported-issues", dependencies=[requires(Permission.change_test_case_reported_issue)]
)
def create_reported_issue(
    session: DbSession, request: TestReportedIssueRequest
) -> TestReportedIssueResponse:
    return reported_issues.create(session, reported_issues.TEST_CASE, request)


@router.put(
    "/reported-issues/{issue_id}",
    dependencies=[requires(Permission.change_test_case_reported_issue)],
)
def update_reported_issue(
    session: DbSession, issue_id: int, request: TestReportedIssueRequest
) -> TestReportedIssueResponse:
    """Replace every field of the issue."""
    return reported_issues.replace(session, reported_issues.TEST_CASE, issue_id, request)


@router.delete(
    "/reported-issues/{issue_id}",
    dependencies=[requires(Permission.change_test_case_reported_issue)],
)
def delete_reported_issue(session: DbSession, issue_id: int) -> None:
    reported_issues.delete(session, reported_issues.TEST_CASE, issue_id)
