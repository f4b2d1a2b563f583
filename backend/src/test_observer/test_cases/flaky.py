"""Flaky tests: test cases whose outcome keeps changing in one environment.

For every (test case, environment) pair, its runs in the window are its PASSED and FAILED
results ordered by creation time (SKIPPED results are not runs: the test did not run). A flip
is a run whose status differs from the pair's previous run. The score is flips / (runs - 1):
0 for a test that always gives the same answer, 1 for one that alternates on every run.

A single flip is a change of state (a regression, or a fix), not flakiness, so by default a
pair needs two flips to be listed (`min_flips`).

The whole list, its count and its page come from one statement: a window function (`lag`)
gives each run its predecessor, an aggregate per pair counts runs, failures and flips.
Each result carries its execution's environment, so the runs come straight from the index on
(environment_id, test_case_id, created_at, id) of passed and failed results, already in the
window's order and with their status: no join to the executions and no sort. Filters on
artefacts, test plans and the like join the executions to narrow the results first.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    DateTime,
    Float,
    SQLColumnExpression,
    bindparam,
    cast,
    func,
    select,
    true,
)
from sqlalchemy.orm import Session, aliased

from test_observer.db.models import (
    Artefact,
    ArtefactBuild,
    Environment,
    TestCase,
    TestExecution,
    TestResult,
    TestResultStatus,
)
from test_observer.flakiness import MIN_FLIPS, MIN_RUNS, WINDOW
from test_observer.quarantines.service import quarantined
from test_observer.result_filters.model import TestResultSearchFilters
from test_observer.result_filters.sql import result_conditions

from .schemas import FlakyTestCase, FlakyTestCasesResponse

DEFAULT_WINDOW = WINDOW
# SKIPPED results are not runs: the test did not run.
RUN_STATUSES = [TestResultStatus.PASSED, TestResultStatus.FAILED]


def _utc_now() -> datetime:
    # Timestamps are stored as naive UTC.
    return datetime.now(UTC).replace(tzinfo=None)


def _literal_time(name: str, value: datetime) -> BindParameter[datetime]:
    """A bound of the window, written into the statement rather than sent as a parameter.

    The driver prepares a statement it sees repeatedly, and PostgreSQL then settles on a
    generic plan: not knowing the bound, it guesses that a third of the results fall in the
    window and reads them by date through the (created_at) index, then sorts them all, which
    is several times slower than the custom plan for a real window.
    """
    if value.tzinfo is not None:
        # As PostgreSQL compares a zoned parameter with the naive UTC column.
        value = value.astimezone(UTC).replace(tzinfo=None)
    return bindparam(name, value, type_=DateTime(), literal_execute=True)


def _in_window(
    created_at: SQLColumnExpression[datetime],
    since: datetime,
    until: datetime | None,
    name: str = "",
) -> list[ColumnElement[bool]]:
    """`created_at` within the window, its bounds written into the statement under `name`."""
    conditions = [created_at >= _literal_time(f"{name}from_date", since)]
    if until is not None:
        conditions.append(created_at <= _literal_time(f"{name}until_date", until))
    return conditions


def _failed_in_window(since: datetime, until: datetime | None) -> ColumnElement[bool]:
    """Whether the result's test case failed in its environment within the window.

    A pair that never failed there has no flip, so when flips are required only the runs of
    pairs that failed reach the window function; the index of failed runs finds those pairs
    (a twentieth of the results on the seeded dataset). Only for the unfiltered list: filtered
    runs come from joins, where PostgreSQL misjudges how many pairs this leaves (it took the
    twelve thousand failed pairs of the seeded dataset for thirty) and plans nested loops that
    take four times as long.
    """
    failed = aliased(TestResult)
    conditions = [
        failed.environment_id == TestResult.environment_id,
        failed.test_case_id == TestResult.test_case_id,
        # A literal, like the bounds, for PostgreSQL to match the index's predicate.
        failed.status
        == bindparam(
            "failed", TestResultStatus.FAILED, type_=TestResult.status.type, literal_execute=True
        ),
        *_in_window(failed.created_at, since, until, "failed_"),
    ]
    return select(failed.id).where(*conditions).exists()


def flaky_test_cases(
    session: Session,
    filters: TestResultSearchFilters,
    *,
    min_runs: int = MIN_RUNS,
    min_flips: int = MIN_FLIPS,
    limit: int = 50,
    offset: int = 0,
) -> FlakyTestCasesResponse:
    """Pairs with at least `min_runs` runs and `min_flips` flips, most flaky first."""
    until = filters.until_date
    since = filters.from_date or (until or _utc_now()) - DEFAULT_WINDOW
    undated = filters.model_copy(update={"from_date": None, "until_date": None})
    conditions = result_conditions(undated) + _in_window(TestResult.created_at, since, until)
    filtered = undated.has_filters()
    if min_flips > 0 and not filtered:
        conditions.append(_failed_in_window(since, until))

    previous = func.lag(TestResult.status).over(
        partition_by=(TestResult.environment_id, TestResult.test_case_id),
        order_by=(TestResult.created_at, TestResult.id),
        # lag ignores the frame; a ROWS frame spares PostgreSQL comparing every row with the
        # next to find its peers, which the default RANGE frame needs.
        rows=(-1, 0),
    )
    runs_query = select(
        TestResult.test_case_id,
        TestResult.environment_id,
        TestResult.status,
        previous.label("previous"),
    ).select_from(TestResult)
    if filtered:
        runs_query = (
            runs_query.join(TestExecution, TestExecution.id == TestResult.test_execution_id)
            .join(TestCase, TestCase.id == TestResult.test_case_id)
            .join(ArtefactBuild, ArtefactBuild.id == TestExecution.artefact_build_id)
            .join(Artefact, Artefact.id == ArtefactBuild.artefact_id)
            .join(Environment, Environment.id == TestResult.environment_id)
        )
    runs = runs_query.where(
        # Literal values, so that the statement matches the predicate of the runs index
        # whatever plan PostgreSQL caches for the prepared statement.
        TestResult.status.in_(
            bindparam("runs", RUN_STATUSES, expanding=True, literal_execute=True)
        ),
        *conditions,
    ).subquery("runs")

    run_count = func.count()
    flips = func.count().filter(runs.c.status != runs.c.previous)
    pairs = (
        select(
            runs.c.test_case_id,
            runs.c.environment_id,
            run_count.label("runs"),
            func.count().filter(runs.c.status == TestResultStatus.FAILED).label("failures"),
            flips.label("flips"),
        )
        # In the window's order, so that the runs are counted as they come, without hashing.
        .group_by(runs.c.environment_id, runs.c.test_case_id)
        .having(run_count >= min_runs, flips >= min_flips)
        .cte("pairs")
    )
    score = cast(pairs.c.flips, Float) / cast(pairs.c.runs - 1, Float)
    page = (
        select(
            pairs.c.test_case_id,
            TestCase.name.label("test_case"),
            TestCase.template_id,
            pairs.c.environment_id,
            Environment.name.label("environment"),
            Environment.architecture,
            pairs.c.runs,
            pairs.c.failures,
            pairs.c.flips,
            score.label("score"),
            # Only for the page's pairs: an index probe each.
            quarantined(pairs.c.test_case_id, pairs.c.environment_id).label("quarantined"),
        )
        .join(TestCase, TestCase.id == pairs.c.test_case_id)
        .join(Environment, Environment.id == pairs.c.environment_id)
        .order_by(
            score.desc(),
            pairs.c.flips.desc(),
            pairs.c.runs.desc(),
            TestCase.name,
            Environment.name,
            Environment.architecture,
        )
        .limit(limit)
        .offset(offset)
        .subquery("page")
    )
    total = select(func.count().label("total")).select_from(pairs).subquery("total")
    # The count comes along even when the page is empty (an offset past the end).
    rows = session.execute(
        select(total.c.total, page)
        .select_from(total)
        .outerjoin(page, true())
        .order_by(
            page.c.score.desc(),
            page.c.flips.desc(),
            page.c.runs.desc(),
            page.c.test_case,
            page.c.environment,
            page.c.architecture,
        )
    ).all()
    return FlakyTestCasesResponse(
        count=rows[0].total,
        limit=limit,
        offset=offset,
        test_cases=[
            FlakyTestCase.model_validate(row, from_attributes=True)
            for row in rows
            if row.test_case_id is not None
        ],
    )
