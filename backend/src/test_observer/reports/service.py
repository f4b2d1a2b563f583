"""CSV reports over a date range, streamed row by row from a server-side cursor.

Nothing is written to disk, so concurrent requests cannot see each other's reports, and memory
stays flat however many rows a report has.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from enum import Enum
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    CursorResult,
    Engine,
    Select,
    and_,
    func,
    literal_column,
    select,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.orm import aliased

from test_observer.db.models import (
    Artefact,
    ArtefactBuild,
    ArtefactBuildEnvironmentReview,
    ArtefactBuildEnvironmentReviewDecision,
    Environment,
    TestCase,
    TestEvent,
    TestExecution,
    TestPlan,
    TestResult,
)

ROWS_PER_FETCH = 1000

EXECUTIONS_HEADER = [
    "Artefact.family",
    "Artefact.id",
    "Artefact.name",
    "Artefact.version",
    "Artefact.status",
    "Artefact.track",
    "Artefact.stage",
    "Artefact.series",
    "Artefact.repo",
    "Artefact.os",
    "TestExecution.id",
    "TestExecution.status",
    "TestExecution.ci_link",
    "TestExecution.c3_link",
    "TestExecution.checkbox_version",
    "TestExecution.test_plan",
    "TestExecution.created_at",
    "Environment.name",
    "Environment.architecture",
    "ArtefactBuildEnvironmentReview.review_decision",
    "ArtefactBuildEnvironmentReview.review_comment",
    "TestEvents",
]

# `Artefact.series` appears twice: existing consumers read the columns by position.
RESULTS_HEADER = [
    "Artefact.family",
    "Artefact.id",
    "Artefact.name",
    "Artefact.version",
    "Artefact.status",
    "Artefact.track",
    "Artefact.stage",
    "Artefact.series",
    "Artefact.repo",
    "Artefact.os",
    "Artefact.series",
    "Artefact.created_at",
    "TestExecution.id",
    "TestExecution.status",
    "TestExecution.c3_link",
    "TestExecution.checkbox_version",
    "TestPlan.name",
    "Environment.name",
    "Environment.architecture",
    "TestCase.template_id",
    "TestCase.name",
    "TestCase.category",
    "TestResult.status",
    "TestResult.created_at",
]


def cell(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        # str() drops a zero fraction, as the report always has.
        return str(value)
    return value


def decisions_cell(decisions: Sequence[ArtefactBuildEnvironmentReviewDecision]) -> str:
    """The decision list in the Python-repr form the report has always used."""
    items = ", ".join(
        f"<ArtefactBuildEnvironmentReviewDecision.{d.name}: '{d.value}'>" for d in decisions
    )
    return f"[{items}]"


def events_cell(events: list[dict[str, str]]) -> str:
    return repr(events)


# The artefact columns both reports start with, in the order of their headers.
ARTEFACT_COLUMNS = (
    Artefact.family,
    Artefact.id,
    Artefact.name,
    Artefact.version,
    Artefact.status,
    Artefact.track,
    Artefact.stage,
    Artefact.series,
    Artefact.repo,
    Artefact.os,
)


def _join_execution_context(query: Select[*tuple[Any, ...]]) -> Select[*tuple[Any, ...]]:
    """`query`, which reaches TestExecution, joined to its build, artefact, environment, plan."""
    return (
        query.join(ArtefactBuild, ArtefactBuild.id == TestExecution.artefact_build_id)
        .join(Artefact, Artefact.id == ArtefactBuild.artefact_id)
        .join(Environment, Environment.id == TestExecution.environment_id)
        .join(TestPlan, TestPlan.id == TestExecution.test_plan_id)
    )


def _in_test_plans(test_plans: Sequence[str] | None) -> list[ColumnElement[bool]]:
    """No condition without names; both reports join the plans already."""
    return [TestPlan.name.in_(test_plans)] if test_plans else []


def executions_query(
    start: datetime, end: datetime, test_plans: Sequence[str] | None = None
) -> Select[*tuple[Any, ...]]:
    event = aliased(TestEvent)
    as_object = func.json_build_object(
        literal_column("'event_name'"),
        event.event_name,
        literal_column("'timestamp'"),
        func.to_char(event.timestamp, literal_column("'YYYY-MM-DD HH24:MI:SS:MS'")),
        literal_column("'detail'"),
        event.detail,
    )
    events = (
        select(
            func.coalesce(
                func.json_agg(aggregate_order_by(as_object, event.id)),
                literal_column("'[]'::json"),
            )
        )
        .where(event.test_execution_id == TestExecution.id)
        .correlate(TestExecution)
        .scalar_subquery()
    )
    query = select(
        *ARTEFACT_COLUMNS,
        TestExecution.id,
        TestExecution.status,
        TestExecution.ci_link,
        TestExecution.c3_link,
        TestExecution.checkbox_version,
        TestPlan.name,
        TestExecution.created_at,
        Environment.name,
        Environment.architecture,
        ArtefactBuildEnvironmentReview.review_decision,
        ArtefactBuildEnvironmentReview.review_comment,
        events,
    ).select_from(TestExecution)
    return (
        _join_execution_context(query)
        .join(
            ArtefactBuildEnvironmentReview,
            and_(
                ArtefactBuildEnvironmentReview.artefact_build_id == TestExecution.artefact_build_id,
                ArtefactBuildEnvironmentReview.environment_id == TestExecution.environment_id,
            ),
        )
        .where(TestExecution.created_at.between(start, end), *_in_test_plans(test_plans))
        .order_by(TestExecution.id)
    )


def format_execution_row(row: Sequence[Any]) -> list[Any]:
    values = [cell(value) for value in row[:19]]
    return [*values, decisions_cell(row[19]), row[20], events_cell(row[21])]


def results_query(
    start: datetime, end: datetime, test_plans: Sequence[str] | None = None
) -> Select[*tuple[Any, ...]]:
    query = (
        select(
            *ARTEFACT_COLUMNS,
            Artefact.series,
            Artefact.created_at,
            TestExecution.id,
            TestExecution.status,
            TestExecution.c3_link,
            TestExecution.checkbox_version,
            TestPlan.name,
            Environment.name,
            Environment.architecture,
            TestCase.template_id,
            TestCase.name,
            TestCase.category,
            TestResult.status,
            TestResult.created_at,
        )
        .select_from(TestResult)
        .join(TestExecution, TestExecution.id == TestResult.test_execution_id)
    )
    return (
        _join_execution_context(query)
        .join(TestCase, TestCase.id == TestResult.test_case_id)
        .where(Artefact.created_at.between(start, end), *_in_test_plans(test_plans))
        .order_by(TestResult.id)
    )


def format_result_row(row: Sequence[Any]) -> list[Any]:
    return [cell(value) for value in row]


def stream_csv(
    engine: Engine,
    header: list[str],
    query: Select[*tuple[Any, ...]],
    format_row: Callable[[Sequence[Any]], list[Any]],
) -> Iterator[str]:
    """CSV text in chunks: the header, then about ROWS_PER_FETCH rows at a time.

    The query starts before this returns, so a value the database refuses is the request's
    error (a 4xx), not a stream cut off after its first chunk."""
    # A connection of its own: the request's session is closed before streaming starts.
    connection = engine.connect()
    try:
        result = connection.execution_options(
            stream_results=True, yield_per=ROWS_PER_FETCH
        ).execute(query)
    except BaseException:
        connection.close()
        raise
    return _chunks(connection, result, header, format_row)


def _chunks(
    connection: Connection,
    result: CursorResult[Any],
    header: list[str],
    format_row: Callable[[Sequence[Any]], list[Any]],
) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flush() -> str:
        chunk = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return chunk

    with connection, result:
        writer.writerow(header)
        yield flush()
        for partition in result.partitions():
            writer.writerows(format_row(row) for row in partition)
            yield flush()
