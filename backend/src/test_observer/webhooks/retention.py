"""Forgetting old events: the outbox and its deliveries are a log of what was sent, not an
archive.

An event is deleted, with its deliveries, once it is older than the retention and none of its
deliveries is still waiting to be sent (`pending`, retries included) or was made since the
horizon (a redelivery asked for recently stays listed). Deletion goes in batches, each its own
transaction, so that the job never holds many rows locked at once. The events are locked
without waiting (`SKIP LOCKED`): one a redelivery is adding a delivery to is left for the next
run, and while the lock is held no delivery can be added to it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.orm import Session

BATCH_SIZE = 1000

_PRUNE = text(
    """
    WITH doomed AS (
        SELECT e.id
        FROM webhook_event e
        WHERE e.occurred_at < :horizon
          AND NOT EXISTS (
              SELECT 1 FROM webhook_delivery d
              WHERE d.event_id = e.id AND (d.status = 'pending' OR d.created_at >= :horizon)
          )
        ORDER BY e.occurred_at
        LIMIT :batch
        FOR UPDATE SKIP LOCKED
    ),
    deliveries AS (
        SELECT count(*) AS n FROM webhook_delivery WHERE event_id IN (SELECT id FROM doomed)
    ),
    deleted AS (
        DELETE FROM webhook_event WHERE id IN (SELECT id FROM doomed) RETURNING 1
    )
    SELECT (SELECT count(*) FROM deleted), (SELECT n FROM deliveries)
    """
)


def horizon(retention_days: int) -> datetime:
    """The instant (UTC, naive like the columns) before which events are old."""
    return datetime.now(UTC).replace(tzinfo=None) - timedelta(days=retention_days)


def prune_batch(
    session: Session, before: datetime, batch_size: int = BATCH_SIZE
) -> tuple[int, int]:
    """Delete up to `batch_size` events older than `before` and their deliveries; how many
    events and deliveries were deleted."""
    events, deliveries = session.execute(_PRUNE, {"horizon": before, "batch": batch_size}).one()
    return int(events), int(deliveries)
