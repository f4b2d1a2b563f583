"""sync-issues and sync-issue: bring issues' titles, statuses and labels in line with their
trackers.

Issues are synchronised in three priorities: open (or not yet known) issues often, issues closed
recently less often, issues closed long ago rarely. Each batch is a short read, the tracker
calls with no transaction open, then a short write of what changed. An issue attempted once in a
run is not selected again in that run, so the loop ends even when every call fails.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.orm import Session

from test_observer.db.models import Issue, IssueSource, IssueStatus
from test_observer.errors import NotFoundError, UnavailableError, UnprocessableError
from test_observer.settings import Settings

from .clients.trackers import RemoteIssue, Tracker, configured_trackers
from .environment import JobEnvironment

logger = logging.getLogger(__name__)


class Priority(StrEnum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


def utc_now() -> datetime:
    # Timestamps are stored as naive UTC.
    return datetime.now(UTC).replace(tzinfo=None)


def due(priority: Priority, settings: Settings, now: datetime) -> ColumnElement[bool]:
    """Issues of this priority whose last sync is older than the priority's interval."""

    def not_synced_within(seconds: int) -> ColumnElement[bool]:
        return or_(
            Issue.last_synced_at.is_(None),
            Issue.last_synced_at < now - timedelta(seconds=seconds),
        )

    recent = now - timedelta(days=settings.sync_old_closed_threshold_days)
    closed = Issue.status == IssueStatus.CLOSED
    # A closed issue whose closing time is unknown counts as recently closed until synced.
    closed_at = func.coalesce(Issue.closed_at, now)
    if priority is Priority.HIGH:
        return and_(
            Issue.status.in_([IssueStatus.OPEN, IssueStatus.UNKNOWN]),
            not_synced_within(settings.sync_open_interval_s),
        )
    if priority is Priority.MEDIUM:
        return and_(
            closed, closed_at >= recent, not_synced_within(settings.sync_recent_closed_interval_s)
        )
    return and_(closed, closed_at < recent, not_synced_within(settings.sync_old_closed_interval_s))


def select_due(
    session: Session,
    priority: Priority,
    settings: Settings,
    sources: list[IssueSource],
    exclude: set[int],
    now: datetime,
) -> list[Issue]:
    query = (
        select(Issue)
        .where(due(priority, settings, now), Issue.source.in_(sources))
        .order_by(Issue.last_synced_at.asc().nulls_first(), Issue.id)
        .limit(settings.sync_batch_size)
    )
    if exclude:
        query = query.where(Issue.id.not_in(exclude))
    return list(session.scalars(query))


def changes(issue: Issue, remote: RemoteIssue, now: datetime) -> dict[str, Any]:
    """The fields to write: the changed ones, and always the sync time."""
    values: dict[str, Any] = {"last_synced_at": now}
    if remote.title != issue.title:
        values["title"] = remote.title
    if remote.status != issue.status:
        values["status"] = remote.status
    if remote.labels != sorted(issue.labels or []) or issue.labels is None:
        values["labels"] = remote.labels
    if remote.status == IssueStatus.CLOSED and (
        issue.status != IssueStatus.CLOSED or issue.closed_at is None
    ):
        values["closed_at"] = now
    elif remote.status != IssueStatus.CLOSED and issue.closed_at is not None:
        values["closed_at"] = None
    return values


def fetch(trackers: dict[IssueSource, Tracker], issues: list[Issue]) -> dict[int, RemoteIssue]:
    """The remote state of each issue that could be read (no database work here)."""
    found = {}
    for issue in issues:
        try:
            found[issue.id] = trackers[issue.source].get_issue(issue.project, issue.key)
        except UnavailableError as error:
            logger.warning(
                "sync: %s %s#%s: %s", issue.source.value, issue.project, issue.key, error
            )
    return found


def write(session: Session, issues: list[Issue], remote: dict[int, RemoteIssue]) -> int:
    """Write the batch's changes; how many issues changed beyond their sync time."""
    now = utc_now()
    rows = [
        {"id": issue.id, **changes(issue, remote[issue.id], now)}
        for issue in issues
        if issue.id in remote  # a failed sync writes nothing
    ]
    if rows:
        # One executemany per set of changed columns, not one round trip per issue.
        session.execute(update(Issue), rows)
    return sum(1 for row in rows if len(row) > 2)


def run(env: JobEnvironment, priority: str = "all") -> dict[str, Any]:
    if priority == "all":
        priorities = list(Priority)
    else:
        try:
            priorities = [Priority(priority)]
        except ValueError:
            raise UnprocessableError(
                f"priority must be high, medium, low or all, not {priority!r}"
            ) from None
    summaries = [sync_priority(env, p) for p in priorities]
    if len(summaries) == 1:
        return summaries[0]
    return {"priority": "all", "runs": summaries}


def sync_priority(env: JobEnvironment, priority: Priority) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "priority": priority.value,
        "batches_processed": 0,
        "total_synced": 0,
        "total_updated": 0,
        "total_failed": 0,
    }
    with env.http() as client:
        trackers, skipped = configured_trackers(client, env.settings)
        for line in skipped:
            logger.info("sync: %s; skipping those issues", line)
        summary["skipped_trackers"] = [line.split(":")[0] for line in skipped]
        attempted: set[int] = set()
        while True:
            with env.sessions() as session:
                batch = select_due(
                    session, priority, env.settings, list(trackers), attempted, utc_now()
                )
            if not batch:
                break
            attempted.update(issue.id for issue in batch)
            remote = fetch(trackers, batch)
            with env.sessions.begin() as session:
                summary["total_updated"] += write(session, batch, remote)
            summary["batches_processed"] += 1
            summary["total_synced"] += len(remote)
            summary["total_failed"] += len(batch) - len(remote)
            if len(batch) < env.settings.sync_batch_size:
                break
    return summary


def run_one(env: JobEnvironment, issue_id: str) -> dict[str, Any]:
    """sync-issue ID: synchronise one issue now, whatever its priority; fails if it cannot."""
    try:
        wanted = int(issue_id)
    except ValueError:
        raise UnprocessableError(f"issue id must be a number, not {issue_id!r}") from None
    with env.sessions() as session:
        issue = session.get(Issue, wanted)
    if issue is None:
        raise NotFoundError(f"Issue with id {wanted} not found")
    with env.http() as client:
        trackers, _ = configured_trackers(client, env.settings)
        tracker = trackers.get(issue.source)
        if tracker is None:
            raise UnavailableError(f"no credentials for {issue.source.value}: cannot sync it")
        remote = tracker.get_issue(issue.project, issue.key)
    with env.sessions.begin() as session:
        updated = write(session, [issue], {issue.id: remote})
    return {"issue_id": wanted, "updated": bool(updated), "status": remote.status.value}
