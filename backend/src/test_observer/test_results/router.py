"""Searching test results: the search page and the filters of bulk actions."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from test_observer.auth import requires
from test_observer.db.engine import DbSession
from test_observer.db.models import (
    FamilyName,
    Permission,
    TestExecutionStatus,
    TestResultStatus,
)
from test_observer.executions.filters import (
    TestResultSearchFilters,
    parse_execution_metadata,
    parse_id_filter,
)
from test_observer.input_safety import EdgeRoute
from test_observer.pagination import Page, paged

from . import service
from .schemas import TestResultSearchResponse

router = APIRouter(prefix="/v1/test-results", tags=["test-results"], route_class=EdgeRoute)

IdsOrKeyword = Annotated[
    list[str] | None,
    Query(description="Ids (repeat the key), or the single value 'any' or 'none'"),
]
Strings = Annotated[list[str] | None, Query()]


def result_search_filters(
    families: Annotated[list[FamilyName] | None, Query()] = None,
    artefacts: Strings = None,
    artefact_versions: Strings = None,
    artefact_stages: Strings = None,
    artefact_tracks: Strings = None,
    artefact_is_archived: bool | None = None,
    environments: Strings = None,
    test_plans: Annotated[
        list[str] | None, Query(description="Only results of executions of these test plans")
    ] = None,
    test_cases: Strings = None,
    template_ids: Strings = None,
    issues: IdsOrKeyword = None,
    test_result_statuses: Annotated[list[TestResultStatus] | None, Query()] = None,
    failure_signatures: IdsOrKeyword = None,
    test_execution_statuses: Annotated[list[TestExecutionStatus] | None, Query()] = None,
    reviewer_ids: IdsOrKeyword = None,
    assignee_ids: Annotated[
        list[str] | None, Query(description="Deprecated alias of reviewer_ids", deprecated=True)
    ] = None,
    rerun_is_requested: bool | None = None,
    execution_is_latest: bool | None = None,
    from_date: Annotated[datetime | None, Query(description="Results created from then")] = None,
    until_date: Annotated[datetime | None, Query(description="Results created until then")] = None,
    execution_metadata: Annotated[
        list[str] | None, Query(description="Items of base64(category):base64(value)")
    ] = None,
) -> TestResultSearchFilters:
    """The query-string filters of the results search; other result lists take them too."""
    reviewers = (
        parse_id_filter("reviewer_ids", reviewer_ids)
        if reviewer_ids
        else parse_id_filter("assignee_ids", assignee_ids)
    )
    return TestResultSearchFilters(
        families=families,
        artefacts=artefacts,
        artefact_versions=artefact_versions,
        artefact_stages=artefact_stages,
        artefact_tracks=artefact_tracks,
        artefact_is_archived=artefact_is_archived,
        environments=environments,
        test_plans=test_plans,
        execution_metadata=parse_execution_metadata(execution_metadata),
        test_execution_statuses=test_execution_statuses,
        reviewer_ids=reviewers,
        rerun_is_requested=rerun_is_requested,
        execution_is_latest=execution_is_latest,
        test_cases=test_cases,
        template_ids=template_ids,
        issues=parse_id_filter("issues", issues),
        test_result_statuses=test_result_statuses,
        failure_signatures=parse_id_filter("failure_signatures", failure_signatures),
        from_date=from_date,
        until_date=until_date,
    )


ResultSearchFilters = Annotated[TestResultSearchFilters, Depends(result_search_filters)]


@router.get("", dependencies=[requires(Permission.view_test)])
def search_test_results(
    session: DbSession,
    page: Annotated[Page, paged(default=50, maximum=1000, minimum=0)],
    filters: ResultSearchFilters,
) -> TestResultSearchResponse:
    """Results matching every given filter, newest first."""
    return service.search_results(session, filters, page.limit, page.offset)
