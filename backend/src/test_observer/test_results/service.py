"""Searching test results across executions and artefacts."""

from __future__ import annotations

from typing import TypeVarTuple

from sqlalchemy import ColumnElement, func, literal, select
from sqlalchemy.orm import Session

from test_observer.artefacts.response_queries import artefact_responses
from test_observer.artefacts.schemas import ArtefactBuildMinimalResponse
from test_observer.db.models import (
    Artefact,
    ArtefactBuild,
    TestCase,
    TestExecution,
    TestResult,
    TestResultStatus,
)
from test_observer.executions.response_queries import execution_responses, result_responses
from test_observer.result_filters.model import TestResultSearchFilters
from test_observer.result_filters.sql import (
    execution_conditions,
    joined,
    joined_results,
    result_conditions,
)

from .schemas import TestResultSearchItem, TestResultSearchResponse

Ts = TypeVarTuple("Ts")


def _matching_test_cases(session: Session, filters: TestResultSearchFilters) -> list[int] | None:
    """Ids of the test cases the name and template filters select; None when they are unset."""
    if not filters.test_cases and not filters.template_ids:
        return None
    query = select(TestCase.id)
    if filters.test_cases:
        query = query.where(TestCase.name.in_(filters.test_cases))
    if filters.template_ids:
        query = query.where(TestCase.template_id.in_(filters.template_ids))
    return list(session.scalars(query))


STATUS_COUNTS = {
    TestResultStatus.PASSED: TestExecution.passed_count,
    TestResultStatus.FAILED: TestExecution.failed_count,
    TestResultStatus.SKIPPED: TestExecution.skipped_count,
}


def _count(
    session: Session, filters: TestResultSearchFilters, conditions: list[ColumnElement[bool]]
) -> int:
    """The number of matching results.

    When only the executions and the results' statuses are filtered, it adds up the
    executions' counts per status: one row per matching execution instead of one per result,
    so it does not grow with the number of results. Filters on the results themselves (test
    cases, templates, issues, failure signatures, dates) count the matching results.
    """
    if (
        filters.test_cases
        or filters.template_ids
        or filters.issues
        or filters.failure_signatures
        or filters.from_date is not None
        or filters.until_date is not None
    ):
        return session.scalar(joined_results(select(func.count())).where(*conditions)) or 0
    statuses = set(filters.test_result_statuses or STATUS_COUNTS)
    total: ColumnElement[int] = literal(0)
    for status, column in STATUS_COUNTS.items():
        if status in statuses:
            total = total + column
    query = joined(select(func.coalesce(func.sum(total), 0)).select_from(TestExecution))
    return session.scalar(query.where(*execution_conditions(filters, dates=False))) or 0


def search_results(
    session: Session, filters: TestResultSearchFilters, limit: int, offset: int
) -> TestResultSearchResponse:
    """Newest results first; `count` is the number of matches. Twelve statements at most."""
    conditions = result_conditions(filters, test_case_ids=_matching_test_cases(session, filters))
    count = _count(session, filters, conditions)
    rows = (
        session.execute(
            joined_results(select(TestResult.id, TestExecution.id, Artefact.id, ArtefactBuild))
            .where(*conditions)
            .order_by(TestResult.created_at.desc(), TestResult.id.desc())
            .limit(limit)
            .offset(offset)
        ).all()
        if limit
        else []
    )
    results = result_responses(session, [row[0] for row in rows])
    executions = execution_responses(session, [row[1] for row in rows])
    artefacts = artefact_responses(session, [row[2] for row in rows])
    return TestResultSearchResponse(
        count=count,
        limit=limit,
        offset=offset,
        test_results=[
            TestResultSearchItem(
                test_result=results[result_id],
                test_execution=executions[execution_id],
                artefact=artefacts[artefact_id],
                artefact_build=ArtefactBuildMinimalResponse.model_validate(build),
            )
            for result_id, execution_id, artefact_id, build in rows
        ],
    )
