"""prune-webhook-events: old events go with their deliveries, in batches; an event still
waiting to be sent, or sent again recently, stays."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from test_observer.db.models import Webhook, WebhookDelivery, WebhookEvent
from test_observer.jobs.environment import JobEnvironment
from test_observer.jobs.prune_webhook_events import run
from test_observer.jobs.registry import JOBS


def now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def event(
    db_session: Session,
    webhook: Webhook,
    days_old: float,
    *statuses: str,
    resent_days_ago: float | None = None,
) -> uuid.UUID:
    occurred = now() - timedelta(days=days_old)
    made = WebhookEvent(
        id=uuid.uuid4(), event_type="test_execution.ended", data={}, occurred_at=occurred
    )
    db_session.add(made)
    db_session.flush()
    for status in statuses:
        db_session.add(
            WebhookDelivery(
                webhook_id=webhook.id, event_id=made.id, status=status, created_at=occurred
            )
        )
    if resent_days_ago is not None:
        db_session.add(
            WebhookDelivery(
                webhook_id=webhook.id,
                event_id=made.id,
                status="delivered",
                created_at=now() - timedelta(days=resent_days_ago),
            )
        )
    db_session.flush()
    return made.id


def test_old_events_go_in_batches_and_waiting_ones_stay(
    db_session: Session, make_env: Callable[..., JobEnvironment]
) -> None:
    webhook = Webhook(url="https://hooks.example.com/in", event_types=["x"], secret="s" * 20)
    db_session.add(webhook)
    db_session.flush()
    old = [event(db_session, webhook, 40, "delivered") for _ in range(4)]
    old.append(event(db_session, webhook, 40, "failed", "delivered"))
    kept = {
        "recent": event(db_session, webhook, 10, "delivered"),
        "retrying": event(db_session, webhook, 40, "failed", "pending"),
        "resent": event(db_session, webhook, 40, "failed", resent_days_ago=1),
    }
    db_session.commit()

    summary = run(make_env(webhook_retention_days=30), batch_size=2)

    assert summary == {"events": 5, "deliveries": 6, "batches": 3}
    db_session.expire_all()
    assert set(db_session.scalars(select(WebhookEvent.id))) == set(kept.values())
    statuses = db_session.scalars(
        select(WebhookDelivery.status).where(WebhookDelivery.event_id == kept["retrying"])
    ).all()
    assert sorted(statuses) == ["failed", "pending"]
    assert (
        db_session.scalars(
            select(WebhookDelivery.id).where(WebhookDelivery.event_id.in_(old))
        ).all()
        == []
    )
    # Nothing left to do: one batch that finds nothing.
    assert run(make_env(webhook_retention_days=30)) == {"events": 0, "deliveries": 0, "batches": 1}


def test_the_job_runs_alone_on_a_schedule_from_its_setting() -> None:
    job = JOBS["prune-webhook-events"]
    assert job.exclusive
    assert [schedule.interval_setting for schedule in job.schedules] == ["webhook_prune_interval_s"]
