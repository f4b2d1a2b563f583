"""The filters as query-string parameters: every list that takes them reads them here.

The execution search reads the executions' filters; the results search, the flaky list and
the failure signatures read the results' filters, which are the executions' and a few more.
"""

# No `from __future__ import annotations`: FastAPI reads these signatures at import.
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Query

from test_observer.db.models import FamilyName, TestExecutionStatus, TestResultStatus

from .model import TestExecutionRerunFilters, TestResultSearchFilters
from .parsing import parse_execution_metadata, parse_id_filter

# Repeated ids, or the single value "any" or "none". Read as text and parsed by
# `parse_id_filter`, so that every search answers a bad value with the same 422; the document
# still lists the forms the parser accepts.
IDS_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "array", "items": {"type": "integer"}},
        {"type": "array", "items": {"const": "any", "type": "string"}},
        {"type": "array", "items": {"const": "none", "type": "string"}},
        {"type": "null"},
    ]
}


def ids_query(*, description: str | None = None, deprecated: bool = False) -> Any:
    return Query(
        description=description or "Ids (repeat the key), or the single value 'any' or 'none'",
        json_schema_extra=IDS_SCHEMA,
        deprecated=deprecated,
    )


IdsOrKeyword = Annotated[list[str] | None, ids_query()]
Strings = Annotated[list[str] | None, Query()]


def execution_filters(
    families: Annotated[list[FamilyName] | None, Query()] = None,
    artefacts: Strings = None,
    artefact_versions: Strings = None,
    artefact_stages: Strings = None,
    artefact_tracks: Strings = None,
    artefact_is_archived: bool | None = None,
    environments: Strings = None,
    test_plans: Annotated[
        list[str] | None, Query(description="Only executions of these test plans")
    ] = None,
    test_execution_statuses: Annotated[list[TestExecutionStatus] | None, Query()] = None,
    reviewer_ids: IdsOrKeyword = None,
    assignee_ids: Annotated[
        list[str] | None,
        ids_query(description="Deprecated alias of reviewer_ids", deprecated=True),
    ] = None,
    rerun_is_requested: bool | None = None,
    execution_is_latest: bool | None = None,
    from_date: Annotated[
        datetime | None,
        Query(description="From then: an execution's last update, a result's creation"),
    ] = None,
    until_date: Annotated[
        datetime | None,
        Query(description="Until then: an execution's last update, a result's creation"),
    ] = None,
    execution_metadata: Annotated[
        list[str] | None, Query(description="Items of base64(category):base64(value)")
    ] = None,
) -> TestExecutionRerunFilters:
    """The executions' filters from the query string."""
    # The deprecated alias counts only without reviewer_ids, as the filter object says.
    reviewers = (
        parse_id_filter("reviewer_ids", reviewer_ids)
        if reviewer_ids
        else parse_id_filter("assignee_ids", assignee_ids)
    )
    return TestExecutionRerunFilters(
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
        from_date=from_date,
        until_date=until_date,
    )


ExecutionFilters = Annotated[TestExecutionRerunFilters, Depends(execution_filters)]


def result_filters(
    executions: ExecutionFilters,
    test_cases: Strings = None,
    template_ids: Strings = None,
    issues: IdsOrKeyword = None,
    test_result_statuses: Annotated[list[TestResultStatus] | None, Query()] = None,
    failure_signatures: IdsOrKeyword = None,
) -> TestResultSearchFilters:
    """The results' filters from the query string: the executions' filters and the results'."""
    return TestResultSearchFilters(
        **dict(executions),
        test_cases=test_cases,
        template_ids=template_ids,
        issues=parse_id_filter("issues", issues),
        test_result_statuses=test_result_statuses,
        failure_signatures=parse_id_filter("failure_signatures", failure_signatures),
    )


ResultFilters = Annotated[TestResultSearchFilters, Depends(result_filters)]
