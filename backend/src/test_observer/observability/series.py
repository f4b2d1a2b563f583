"""The domain series: what `DomainCollector` reads from the database when Prometheus scrapes.

Each series is a name, its labels and one grouped query returning one row per label
combination, the label values first and the value last (a summary ends with its quantiles, sum
and count). The result series count test results by artefact line, environment, plan and test;
the background jobs' series are read from the job queue's tables (procrastinate's
`procrastinate_jobs` and `procrastinate_events`): runs finished in the window, their durations,
whether each job's latest run failed, and the jobs waiting or running now; the webhook series
count deliveries.

To add a series, append a `Series` to `DOMAIN_SERIES` (or pass it to `DomainCollector`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import (
    Float,
    Integer,
    Select,
    String,
    case,
    cast,
    column,
    func,
    literal_column,
    select,
    table,
    true,
    values,
)
from sqlalchemy.dialects.postgresql import distinct_on

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
    Webhook,
    WebhookDelivery,
)
from test_observer.db.models.executions import test_execution_metadata_association_table

# A select of any number of columns: the label values, then the value.
Query = Select[*tuple[Any, ...]]

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
    # values in `labels` order, then the value (a summary: its quantiles, sum and count).
    query: Callable[[datetime | None], Query]
    kind: Literal["gauge", "summary"] = "gauge"


def _counted(since: datetime | None, *extra: Any) -> Query:
    """Results counted per label combination, with each label standing for an id.

    Grouping integers is what keeps a refresh fast: an artefact's labels leave out its version,
    so its versions share one "line" id (the lowest artefact id among them); environments
    share one id per name across architectures; plan and case names are unique already.
    """
    artefact_labels = (
        Artefact.family,
        Artefact.name,
        Artefact.stage,
        Artefact.track,
        Artefact.series,
        Artefact.os,
    )
    lines = select(
        ArtefactBuild.id.label("build_id"),
        func.min(Artefact.id).over(partition_by=artefact_labels).label("line_id"),
    ).join(Artefact, Artefact.id == ArtefactBuild.artefact_id)
    lines_subquery = lines.subquery()
    environments = select(
        Environment.id.label("environment_id"),
        func.min(Environment.id).over(partition_by=Environment.name).label("name_id"),
    ).subquery()
    keys = (
        lines_subquery.c.line_id,
        environments.c.name_id,
        TestExecution.test_plan_id,
        TestResult.test_case_id,
        TestResult.status,
        *extra,
    )
    query = (
        select(*keys, func.count().label("n"))
        .select_from(TestResult)
        .join(TestExecution, TestExecution.id == TestResult.test_execution_id)
        .join(lines_subquery, lines_subquery.c.build_id == TestExecution.artefact_build_id)
        .join(environments, environments.c.environment_id == TestExecution.environment_id)
    )
    if since is not None:
        query = query.where(TestResult.created_at >= since)
    return query.group_by(*keys)


def _labelled(counted: Any, *extra_columns: Any) -> Query:
    """The label values the ids stand for, and the counts."""
    return (
        select(
            Artefact.family,
            Artefact.name,
            Artefact.stage,
            Artefact.track,
            Artefact.series,
            Artefact.os,
            Environment.name,
            TestPlan.name,
            TestCase.name,
            counted.c.status,
            *extra_columns,
            counted.c.n,
        )
        .select_from(counted)
        .join(Artefact, Artefact.id == counted.c.line_id)
        .join(Environment, Environment.id == counted.c.name_id)
        .join(TestPlan, TestPlan.id == counted.c.test_plan_id)
        .join(TestCase, TestCase.id == counted.c.test_case_id)
    )


def _results(since: datetime | None) -> Query:
    return _labelled(_counted(since).subquery())


def _triaged(since: datetime | None) -> Query:
    attachment = IssueTestResultAttachment
    counted = (
        _counted(since, attachment.issue_id)
        .join(attachment, attachment.test_result_id == TestResult.id)
        .subquery()
    )
    # An issue is unique by (source, project, key): its id stands for its labels.
    return _labelled(counted, Issue.source, Issue.project, Issue.key).join(
        Issue, Issue.id == counted.c.issue_id
    )


def _metadata(since: datetime | None) -> Query:
    association = test_execution_metadata_association_table
    counted = (
        _counted(since, association.c.test_execution_metadata_id)
        .join(association, association.c.test_execution_id == TestExecution.id)
        .subquery()
    )
    # A metadata row is unique by (category, value).
    return _labelled(counted, TestExecutionMetadata.category, TestExecutionMetadata.value).join(
        TestExecutionMetadata,
        TestExecutionMetadata.id == counted.c.test_execution_metadata_id,
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

EXECUTION_LABELS = (
    "family",
    "artefact_name",
    "artefact_version",
    "revision",
    "artefact_stage",
    "track",
    "environment_name",
    "status",
)


def _executions(since: datetime | None) -> Query:
    """Test executions per artefact version (and build revision, for snaps and charms),
    environment and execution status: the charm compatibility matrix and the per-version
    views. Counted by integer keys first, like the results, then labelled; builds of other
    architectures with the same revision, and environments sharing a name, add up."""
    keys = (TestExecution.artefact_build_id, TestExecution.environment_id, TestExecution.status)
    counted = select(*keys, func.count().label("n")).group_by(*keys)
    if since is not None:
        counted = counted.where(TestExecution.created_at >= since)
    counted_subquery = counted.subquery()
    labels = (
        Artefact.family,
        Artefact.name,
        Artefact.version,
        func.coalesce(cast(ArtefactBuild.revision, String), ""),
        Artefact.stage,
        Artefact.track,
        Environment.name,
        counted_subquery.c.status,
    )
    return (
        select(*labels, func.sum(counted_subquery.c.n))
        .select_from(counted_subquery)
        .join(ArtefactBuild, ArtefactBuild.id == counted_subquery.c.artefact_build_id)
        .join(Artefact, Artefact.id == ArtefactBuild.artefact_id)
        .join(Environment, Environment.id == counted_subquery.c.environment_id)
        .group_by(*labels)
    )


TEST_EXECUTIONS = Series(
    "test_observer_test_executions",
    "Test executions by artefact version, build revision, environment and execution status",
    EXECUTION_LABELS,
    _executions,
)

# The job queue's tables are procrastinate's, not our models: only the columns read here.
_jobs = table(
    "procrastinate_jobs",
    column("id"),
    column("queue_name"),
    column("task_name"),
    column("status"),
)
_events = table(
    "procrastinate_events", column("id"), column("job_id"), column("type"), column("at")
)
# The outcomes that end a run. A failed attempt that is retried ends as "deferred_for_retry"
# and is not a run of its own: the job's run ends when its last attempt does.
RUN_OUTCOMES = ("succeeded", "failed", "aborted")
QUEUED_STATUSES = ("todo", "doing")
SUMMARY_QUANTILES = (0.5, 0.95)


def _one_of(expression: Any, names: Sequence[str]) -> Any:
    """`expression IN ('a', 'b')` with the names written into the SQL: the queue's partial
    indexes serve a statement only when PostgreSQL sees these values while planning it, which a
    prepared statement's parameters do not guarantee."""
    return expression.in_([literal_column(f"'{name}'") for name in names])


def _runs_finished(since: datetime | None, *, durations: bool = False) -> Any:
    """One row per run that ended in the window: its job's name, outcome, end and event id;
    with `durations`, the seconds from the attempt's start to its end.

    Bounded by the window: the index job_events_finished_ix (revision 0010) finds the ending
    events by time, and each row looks up its job and start by key, so the cost follows the
    runs in the window, not the size of the queue's history.
    """
    ended = _events.alias("ended")
    # A lookup per run rather than a join: joined, PostgreSQL prefers to hash the whole jobs
    # table, which grows with the history.
    task = select(_jobs.c.task_name).where(_jobs.c.id == ended.c.job_id).scalar_subquery()
    columns: list[Any] = [
        task.label("task"),
        cast(ended.c.type, String).label("status"),
        ended.c.at.label("at"),
        ended.c.id.label("id"),
    ]
    query = select().select_from(ended)
    if durations:
        started = _events.alias("started")
        start = (
            select(func.max(started.c.at).label("at"))
            .where(
                started.c.job_id == ended.c.job_id,
                started.c.type == literal_column("'started'"),
                started.c.id < ended.c.id,
            )
            .lateral("start")
        )
        query = query.join(start, true())
        columns.append(cast(func.extract("epoch", ended.c.at - start.c.at), Float).label("seconds"))
    query = query.add_columns(*columns).where(_one_of(ended.c.type, RUN_OUTCOMES))
    if since is not None:
        query = query.where(ended.c.at >= since)
    return query.subquery("runs")


def _job_runs(since: datetime | None) -> Query:
    runs = _runs_finished(since)
    counted = (
        select(runs.c.task, runs.c.status, func.count().label("n"))
        .group_by(runs.c.task, runs.c.status)
        .subquery("counted")
    )
    # Every job that ran reports every outcome, zero included, so that a failure ratio or an
    # alert on failures never lacks its series.
    outcomes = values(column("status", String), name="outcomes").data(
        [(outcome,) for outcome in RUN_OUTCOMES]
    )
    return (
        select(
            counted.c.task,
            outcomes.c.status,
            func.sum(case((counted.c.status == outcomes.c.status, counted.c.n), else_=0)),
        )
        .select_from(counted)
        .join(outcomes, true())
        .group_by(counted.c.task, outcomes.c.status)
    )


def _job_durations(since: datetime | None) -> Query:
    runs = _runs_finished(since, durations=True)
    quantiles = [
        func.percentile_cont(quantile).within_group(runs.c.seconds)
        for quantile in SUMMARY_QUANTILES
    ]
    return (
        select(
            runs.c.task,
            runs.c.status,
            *quantiles,
            func.sum(runs.c.seconds),
            func.count(runs.c.seconds),
        )
        .where(runs.c.seconds.is_not(None))
        .group_by(runs.c.task, runs.c.status)
    )


def _job_last_run_failed(since: datetime | None) -> Query:
    runs = _runs_finished(since)
    return (
        select(runs.c.task, cast(runs.c.status == "failed", Integer))
        .ext(distinct_on(runs.c.task))
        .order_by(runs.c.task, runs.c.at.desc(), runs.c.id.desc())
    )


def _job_queue(since: datetime | None) -> Query:
    # The queue as it is now, whatever the window: the partial index on waiting and running
    # jobs (procrastinate_jobs_id_lock_idx_v1) keeps this to the few jobs in the queue.
    statuses = values(column("status", String), name="statuses").data(
        [(status,) for status in QUEUED_STATUSES]
    )
    return (
        select(
            _jobs.c.queue_name,
            _jobs.c.task_name,
            statuses.c.status,
            func.count().filter(cast(_jobs.c.status, String) == statuses.c.status),
        )
        .select_from(_jobs)
        .join(statuses, true())
        .where(_one_of(_jobs.c.status, QUEUED_STATUSES))
        .group_by(_jobs.c.queue_name, _jobs.c.task_name, statuses.c.status)
    )


JOB_RUNS = Series(
    "test_observer_job_runs",
    "Background job runs that ended in the window, by job and outcome",
    ("task", "status"),
    _job_runs,
)
JOB_DURATION = Series(
    "test_observer_job_duration_seconds",
    "Seconds from the start to the end of the background job runs that ended in the window",
    ("task", "status"),
    _job_durations,
    kind="summary",
)
JOB_LAST_RUN_FAILED = Series(
    "test_observer_job_last_run_failed",
    "1 when the latest run of a background job in the window failed, 0 when it did not",
    ("task",),
    _job_last_run_failed,
)
JOB_QUEUE = Series(
    "test_observer_job_queue_depth",
    "Background jobs waiting (todo) or running (doing), by queue and job",
    ("queue", "task", "status"),
    _job_queue,
)
JOB_SERIES: tuple[Series, ...] = (JOB_RUNS, JOB_DURATION, JOB_LAST_RUN_FAILED, JOB_QUEUE)

WEBHOOK_STATUSES = ("pending", "delivered", "failed")


def _webhook_attempted(since: datetime | None) -> Any:
    """Deliveries whose latest attempt was in the window (index on last_attempt_at)."""
    query = select(
        WebhookDelivery.webhook_id, WebhookDelivery.status, WebhookDelivery.last_duration_s
    ).where(WebhookDelivery.last_attempt_at.is_not(None))
    if since is not None:
        query = query.where(WebhookDelivery.last_attempt_at >= since)
    return query.subquery("attempted")


def _webhook_deliveries(since: datetime | None) -> Query:
    attempted = _webhook_attempted(since)
    statuses = values(column("status", String), name="statuses").data(
        [(status,) for status in WEBHOOK_STATUSES]
    )
    # Every webhook attempted in the window reports every status, zeros included.
    return (
        select(
            cast(attempted.c.webhook_id, String),
            statuses.c.status,
            func.count().filter(attempted.c.status == statuses.c.status),
        )
        .select_from(attempted)
        .join(statuses, true())
        .group_by(attempted.c.webhook_id, statuses.c.status)
    )


def _webhook_durations(since: datetime | None) -> Query:
    attempted = _webhook_attempted(since)
    seconds = attempted.c.last_duration_s
    return (
        select(
            cast(attempted.c.webhook_id, String),
            *[func.percentile_cont(q).within_group(seconds) for q in SUMMARY_QUANTILES],
            func.sum(seconds),
            func.count(seconds),
        )
        .where(seconds.is_not(None))
        .group_by(attempted.c.webhook_id)
    )


def _webhook_failing(since: datetime | None) -> Query:
    # Now, whatever the window: the head of each active webhook's queue has been failing since
    # its first attempt. The partial index on pending deliveries keeps this to those.
    now = func.timezone("utc", func.now())
    failing_since = func.min(WebhookDelivery.first_attempt_at)
    return (
        select(
            cast(Webhook.id, String),
            func.coalesce(func.extract("epoch", now - failing_since), 0),
        )
        .select_from(Webhook)
        .outerjoin(
            WebhookDelivery,
            (WebhookDelivery.webhook_id == Webhook.id)
            & (WebhookDelivery.status == "pending")
            & (WebhookDelivery.attempts > 0),
        )
        .where(Webhook.active)
        .group_by(Webhook.id)
    )


def _webhook_pending(since: datetime | None) -> Query:
    return (
        select(cast(Webhook.id, String), func.count(WebhookDelivery.id))
        .select_from(Webhook)
        .outerjoin(
            WebhookDelivery,
            (WebhookDelivery.webhook_id == Webhook.id) & (WebhookDelivery.status == "pending"),
        )
        .group_by(Webhook.id)
    )


WEBHOOK_SERIES: tuple[Series, ...] = (
    Series(
        "test_observer_webhook_deliveries",
        "Webhook deliveries last attempted in the window, by webhook and status",
        ("webhook_id", "status"),
        _webhook_deliveries,
    ),
    Series(
        "test_observer_webhook_delivery_duration_seconds",
        "Seconds the latest attempt of the webhook deliveries attempted in the window took",
        ("webhook_id",),
        _webhook_durations,
        kind="summary",
    ),
    Series(
        "test_observer_webhook_failing_seconds",
        "Seconds since the first failed attempt of the oldest waiting delivery of each active "
        "webhook (0: not failing)",
        ("webhook_id",),
        _webhook_failing,
    ),
    Series(
        "test_observer_webhook_pending_deliveries",
        "Webhook deliveries waiting to be sent, by webhook",
        ("webhook_id",),
        _webhook_pending,
    ),
)
DOMAIN_SERIES: tuple[Series, ...] = (
    TEST_RESULTS,
    TEST_RESULTS_TRIAGED,
    TEST_RESULTS_METADATA,
    TEST_EXECUTIONS,
    *JOB_SERIES,
    *WEBHOOK_SERIES,
)
