"""GET /v1/test-executions: executions matching filters, with their artefact and results.

A fixed number of queries per page: one for the count, one for the page of ids, then the
shared set-based response builders.
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from test_observer.artefacts.response_queries import artefact_responses
from test_observer.artefacts.schemas import ArtefactBuildMinimalResponse
from test_observer.db.models import ArtefactBuild, TestExecution, TestResult
from test_observer.errors import UnprocessableError
from test_observer.result_filters.model import AnyOrNone, IdsFilter, TestExecutionRerunFilters
from test_observer.result_filters.sql import (
    events_presence,
    execution_conditions,
    joined,
    results_presence,
)

from .response_queries import execution_responses, result_responses
from .schemas import TestExecutionResponseWithContext, TestExecutionSearchResponse


def parse_event_names(names: list[str] | None) -> list[str] | AnyOrNone | None:
    if not names:
        return None
    reserved = {"any", "none"} & set(names)
    if reserved and len(set(names)) > 1:
        raise UnprocessableError(
            "Cannot combine reserved values 'any'/'none' with specific filter values."
        )
    if reserved:
        return "any" if "any" in reserved else "none"
    return names


def search_executions(
    session: Session,
    filters: TestExecutionRerunFilters,
    *,
    test_result: IdsFilter | None,
    event_names: list[str] | AnyOrNone | None,
    limit: int,
    offset: int,
) -> TestExecutionSearchResponse:
    conditions = execution_conditions(filters)
    conditions.append(results_presence(test_result))
    if event_names is not None:
        conditions.append(events_presence(event_names))
    matching = joined(select(TestExecution.id)).where(*conditions)
    total = session.scalar(select(func.count()).select_from(matching.subquery())) or 0
    page = session.execute(
        joined(select(TestExecution.id, ArtefactBuild))
        .where(*conditions)
        .order_by(TestExecution.created_at.desc(), TestExecution.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    execution_ids = [execution_id for execution_id, _ in page]

    results_by_execution: dict[int, list[int]] = defaultdict(list)
    if test_result != "none" and execution_ids:
        query = (
            select(TestResult.test_execution_id, TestResult.id)
            .where(TestResult.test_execution_id.in_(execution_ids))
            .order_by(TestResult.created_at.desc(), TestResult.id.desc())
        )
        if isinstance(test_result, list) and test_result:
            query = query.where(TestResult.id.in_(test_result))
        for execution_id, result_id in session.execute(query):
            results_by_execution[execution_id].append(result_id)

    executions = execution_responses(session, execution_ids)
    artefacts = artefact_responses(session, {build.artefact_id for _, build in page})
    results = result_responses(
        session, [rid for ids in results_by_execution.values() for rid in ids]
    )
    items = [
        TestExecutionResponseWithContext(
            **executions[execution_id].model_dump(),
            artefact=artefacts[build.artefact_id],
            artefact_build=ArtefactBuildMinimalResponse.model_validate(build),
            test_results=[results[rid] for rid in results_by_execution[execution_id]],
        )
        for execution_id, build in page
    ]
    return TestExecutionSearchResponse(
        count=total, limit=limit, offset=offset, test_executions=items
    )
