"""The outbox: events written in the transaction of the change they announce.

`emit` writes, in one statement, the events some active webhook subscribes to, one delivery
per matching webhook, and a job for the worker to send them. If the transaction rolls back, so
do the events; if it commits, the events are there for the worker, which may be down at the
time. An event nobody subscribes to is not written.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from test_observer.auth.principal import read_generation
from test_observer.db.models import Artefact

# The job (see jobs/registry.py) that sends a webhook's pending deliveries, in order.
DELIVER_TASK = "deliver-webhook"
QUEUE = "default"


class EventType(StrEnum):
    ARTEFACT_STATUS_CHANGED = "artefact.status_changed"
    ARTEFACT_REVIEWERS_CHANGED = "artefact.reviewers_changed"
    ARTEFACT_READINESS_CHANGED = "artefact.readiness_changed"
    ENVIRONMENT_REVIEW_DECIDED = "environment_review.decided"
    TEST_EXECUTION_ENDED = "test_execution.ended"
    ISSUE_ATTACHED = "issue.attached"


@dataclass(frozen=True)
class Event:
    type: EventType
    data: dict[str, Any]
    # What subscriptions filter on; None for events about no single artefact.
    family: str | None = None
    artefact_name: str | None = None
    id: uuid.UUID = field(default_factory=uuid.uuid4)


def artefact_data(artefact: Artefact) -> dict[str, Any]:
    """How every event names its artefact (the page's link is added when it is sent)."""
    return {
        "id": artefact.id,
        "family": artefact.family.value,
        "name": artefact.name,
        "version": artefact.version,
        "stage": artefact.stage,
        "track": artefact.track,
        "series": artefact.series,
        "os": artefact.os,
        "status": artefact.status.value,
    }


def about(artefact: Artefact, event_type: EventType, data: dict[str, Any]) -> Event:
    """An event about one artefact, filterable by its family and name."""
    return Event(
        type=event_type,
        data={"artefact": artefact_data(artefact), **data},
        family=artefact.family.value,
        artefact_name=artefact.name,
    )


# Events → matching active webhooks → events and deliveries → at most one waiting job per
# webhook (a job already waiting will send the new deliveries too).
_EMIT = text(
    """
    WITH input AS MATERIALIZED (
        SELECT * FROM jsonb_to_recordset(CAST(:events AS jsonb))
            AS e(ord int, id uuid, event_type text, family text, artefact_name text, data jsonb)
    ),
    matched AS MATERIALIZED (
        SELECT i.ord, i.id AS event_id, w.id AS webhook_id
        FROM input i
        JOIN webhook w
          ON w.active
         AND i.event_type = ANY (w.event_types)
         AND (cardinality(w.families) = 0 OR i.family = ANY (w.families))
         AND (cardinality(w.artefact_names) = 0 OR i.artefact_name = ANY (w.artefact_names))
    ),
    events AS (
        INSERT INTO webhook_event (id, event_type, data)
        SELECT i.id, i.event_type, i.data FROM input i
        WHERE i.id IN (SELECT event_id FROM matched)
    ),
    deliveries AS (
        INSERT INTO webhook_delivery (webhook_id, event_id)
        SELECT webhook_id, event_id FROM matched ORDER BY ord, webhook_id
        RETURNING webhook_id
    )
    INSERT INTO procrastinate_jobs (queue_name, task_name, lock, queueing_lock, args)
    SELECT DISTINCT :queue, :task, 'webhook:' || webhook_id, 'webhook:' || webhook_id,
           jsonb_build_object('arguments', jsonb_build_array(webhook_id::text))
    FROM deliveries
    ON CONFLICT (queueing_lock) WHERE status = 'todo' DO NOTHING
    """
)

# A run of the webhook's job at `at` (NULL: now); a waiting run is moved earlier, never later.
_WAKE = text(
    """
    INSERT INTO procrastinate_jobs (queue_name, task_name, lock, queueing_lock, args, scheduled_at)
    SELECT :queue, :task, 'webhook:' || id, 'webhook:' || id,
           jsonb_build_object('arguments', jsonb_build_array(id::text)), CAST(:at AS timestamptz)
    FROM unnest(CAST(:ids AS int[])) AS id
    ON CONFLICT (queueing_lock) WHERE status = 'todo' DO UPDATE
    SET scheduled_at = CASE
        WHEN procrastinate_jobs.scheduled_at IS NULL OR EXCLUDED.scheduled_at IS NULL THEN NULL
        ELSE least(procrastinate_jobs.scheduled_at, EXCLUDED.scheduled_at)
    END
    """
)


_WANTED = text(
    "SELECT EXISTS (SELECT 1 FROM webhook WHERE active AND CAST(:event_type AS varchar) = ANY "
    "(event_types))"
)


def wanted(session: Session, event_type: EventType) -> bool:
    """Whether some active webhook subscribes to the event type: an event whose data costs
    more than a row to gather can be skipped when none does (`emit` would write nothing).

    In a request that read the callers' generation, the answer is remembered with the callers
    (`auth.cache`) under that generation, which every change to a subscription moves (revision
    0027): a webhook created or deactivated before a request arrived is seen by it, on every
    worker and unit, and a write costs no round trip for it otherwise.
    """
    remembered = read_generation(session)
    key = ("webhooks subscribed to", event_type)
    if remembered is not None:
        known = remembered[0].get(key, remembered[1])
        if known is not None:
            return bool(known)
    answer = bool(session.scalar(_WANTED, {"event_type": event_type.value}))
    if remembered is not None:
        remembered[0].store(key, answer, remembered[1])
    return answer


def emit(session: Session, events: Sequence[Event]) -> None:
    """Write the events in the session's transaction: one statement however many."""
    if not events:
        return
    rows = [
        {
            "ord": position,
            "id": str(event.id),
            "event_type": event.type.value,
            "family": event.family,
            "artefact_name": event.artefact_name,
            "data": event.data,
        }
        for position, event in enumerate(events)
    ]
    session.execute(_EMIT, {"events": json.dumps(rows), "queue": QUEUE, "task": DELIVER_TASK})


def wake(
    session: Session | Connection, webhook_ids: Iterable[int], at: datetime | None = None
) -> None:
    """Have the worker send these webhooks' pending deliveries at `at` (UTC; None: now)."""
    ids = sorted(set(webhook_ids))
    if ids:
        at_text = None if at is None else at.isoformat() + "+00:00"
        session.execute(_WAKE, {"ids": ids, "at": at_text, "queue": QUEUE, "task": DELIVER_TASK})
