"""The domain series: grouped counts read from the database when Prometheus scrapes.

Every unit serving the same database reports the same numbers, because they are the database's
numbers: nothing is counted in the process, so nothing is double counted or lost on restart.

To add a series (for example the background jobs' runs, failures or queue depth), append a
`Series` to `DOMAIN_SERIES` (or pass it to `DomainCollector`): a name, its labels and a query
returning one row per label combination, the label values first and the value last.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine, Select, func, select, text

from test_observer.db.models import (
    Artefact,
    ArtefactBuild,
    Environment,
    Issue,
    IssueTestResultAttachment,
    TestCase,
    TestExecution,
    TestExecutionMetadata,
    TestPlan,
    TestResult,
)
from test_observer.db.models.executions import test_execution_metadata_association_table

logger = logging.getLogger(__name__)

# A select of any number of columns: the label values, then the value.
Query = Select[*tuple[Any, ...]]

# A scrape must not hold a connection for ever when the database is locked or overloaded.
QUERY_TIMEOUT_MS = 10_000

RESULT_LABELS = (
    "family",
    "artefact_name",
    "artefact_stage",
    "track",
    "series",
    "os",
    "environment_name",
    "test_plan",
    "test_name",
    "status",
)


@dataclass(frozen=True)
class Series:
    """One gauge family computed by one grouped query."""

    name: str
    documentation: str
    labels: tuple[str, ...]
    # Given the oldest creation time to count (None: all history), a query selecting the label
    # values in `labels` order, then the value.
    query: Callable[[datetime | None], Query]


def _results(since: datetime | None, *extra: object) -> Query:
    """Results joined to everything their labels come from, grouped by those labels."""
    columns: tuple[Any, ...] = (
        Artefact.family,
        Artefact.name,
        Artefact.stage,
        Artefact.track,
        Artefact.series,
        Artefact.os,
        Environment.name,
        TestPlan.name,
        TestCase.name,
        TestResult.status,
        *extra,
    )
    query = (
        select(*columns, func.count())
        .select_from(TestResult)
        .join(TestCase, TestCase.id == TestResult.test_case_id)
        .join(TestExecution, TestExecution.id == TestResult.test_execution_id)
        .join(Environment, Environment.id == TestExecution.environment_id)
        .join(TestPlan, TestPlan.id == TestExecution.test_plan_id)
        .join(ArtefactBuild, ArtefactBuild.id == TestExecution.artefact_build_id)
        .join(Artefact, Artefact.id == ArtefactBuild.artefact_id)
        .group_by(*columns)
    )
    if since is not None:
        query = query.where(TestResult.created_at >= since)
    return query


def _triaged(since: datetime | None) -> Query:
    return (
        _results(since, Issue.source, Issue.project, Issue.key)
        .join(IssueTestResultAttachment, IssueTestResultAttachment.test_result_id == TestResult.id)
        .join(Issue, Issue.id == IssueTestResultAttachment.issue_id)
    )


def _metadata(since: datetime | None) -> Query:
    association = test_execution_metadata_association_table
    return (
        _results(since, TestExecutionMetadata.category, TestExecutionMetadata.value)
        .join(association, association.c.test_execution_id == TestExecution.id)
        .join(
            TestExecutionMetadata,
            TestExecutionMetadata.id == association.c.test_execution_metadata_id,
        )
    )


TEST_RESULTS = Series(
    "test_observer_test_results",
    "Test results by artefact, environment, test and status",
    RESULT_LABELS,
    _results,
)
TEST_RESULTS_TRIAGED = Series(
    "test_observer_test_results_triaged",
    "Test results attached to an issue",
    (*RESULT_LABELS, "issue_source", "issue_project", "issue_key"),
    _triaged,
)
TEST_RESULTS_METADATA = Series(
    "test_observer_test_results_metadata",
    "Test results by a metadata pair of their execution",
    (*RESULT_LABELS, "metadata_category", "metadata_value"),
    _metadata,
)
DOMAIN_SERIES: tuple[Series, ...] = (TEST_RESULTS, TEST_RESULTS_TRIAGED, TEST_RESULTS_METADATA)


def _label(value: object) -> str:
    # Enums export their JSON value ("snap", "FAILED", "jira"); absent values are "".
    if value is None:
        return ""
    return str(getattr(value, "value", value))


class DomainCollector(Collector):
    """Runs the series' queries at scrape time, reusing the answer for `cache_seconds`."""

    def __init__(
        self,
        engine: Engine,
        *,
        cache_seconds: float,
        init_days: int,
        series: Sequence[Series] = DOMAIN_SERIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine
        self.cache_seconds = cache_seconds
        self.init_days = init_days
        self.series = tuple(series)
        self._clock = clock
        self._lock = threading.Lock()
        self._cached: list[Metric] = []
        self._cached_at: float | None = None

    def describe(self) -> list[Metric]:
        # Describing without querying keeps registration free of database access.
        return [GaugeMetricFamily(s.name, s.documentation, labels=s.labels) for s in self.series]

    def collect(self) -> Iterator[Metric]:
        # One scrape at a time queries; concurrent scrapes wait and reuse its answer.
        with self._lock:
            now = self._clock()
            fresh = self._cached_at is not None and now - self._cached_at < self.cache_seconds
            if not fresh:
                self._cached = self._query()
                self._cached_at = self._clock()
            yield from self._cached

    def _query(self) -> list[Metric]:
        since = None
        if self.init_days:
            since = datetime.now(UTC).replace(tzinfo=None) - timedelta(days=self.init_days)
        started = time.perf_counter()
        families: list[Metric] = []
        up = 1.0
        try:
            with self.engine.connect() as connection:
                connection.execute(text(f"SET LOCAL statement_timeout = {QUERY_TIMEOUT_MS}"))
                for series in self.series:
                    family = GaugeMetricFamily(
                        series.name, series.documentation, labels=series.labels
                    )
                    for row in connection.execute(series.query(since)):
                        values = tuple(row)
                        family.add_metric([_label(v) for v in values[:-1]], float(values[-1]))
                    families.append(family)
        except Exception:
            # A scrape must still answer (with the failure visible) when the database does not.
            logger.exception("the domain metrics query failed")
            families = []
            up = 0.0
        families.append(
            GaugeMetricFamily(
                "test_observer_database_up",
                "1 when the last domain metrics query succeeded, 0 when it failed",
                value=up,
            )
        )
        families.append(
            GaugeMetricFamily(
                "test_observer_domain_metrics_query_seconds",
                "How long the last domain metrics query took",
                value=time.perf_counter() - started,
            )
        )
        return families
