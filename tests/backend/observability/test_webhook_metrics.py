"""The webhooks' series: deliveries by status, attempt durations, how long a webhook has been
failing and how many deliveries wait, read from the database after real deliveries."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import Engine, text, update
from sqlalchemy.orm import Session

from test_observer.db.models import WebhookDelivery
from test_observer.jobs.deliver_webhooks import deliver, utc_now
from test_observer.jobs.environment import JobEnvironment
from tests.backend.observability.conftest import Unit
from tests.backend.webhooks.conftest import artefact, hooks, make_env, set_status, subscribe
from tests.backend.webhooks.receiver import Receiver

pytestmark = pytest.mark.usefixtures("_empty_queue")
__all__ = ["hooks", "make_env"]  # fixtures used here


def test_delivery_counts_durations_and_failing_time(
    make_unit: Callable[..., Unit],
    db_session: Session,
    engine: Engine,
    hooks: Receiver,
    make_env: Callable[..., JobEnvironment],
) -> None:
    unit = make_unit()
    healthy = subscribe(unit.client, {}, hooks.url)
    broken = subscribe(unit.client, {}, "http://127.0.0.1:9/nothing-listens")
    made = artefact(db_session)
    set_status(unit.client, {}, made.id, "APPROVED")
    set_status(unit.client, {}, made.id, "UNDECIDED")
    env = make_env()
    deliver(env, healthy["id"])
    deliver(env, broken["id"])
    # The broken one has been failing for two hours.
    with engine.begin() as connection:
        connection.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.webhook_id == broken["id"])
            .values(first_attempt_at=utc_now() - timedelta(hours=2))
        )

    good, bad = str(healthy["id"]), str(broken["id"])
    assert unit.value("test_observer_webhook_deliveries", webhook_id=good, status="delivered") == 2
    assert unit.value("test_observer_webhook_deliveries", webhook_id=bad, status="pending") == 1
    assert unit.value("test_observer_webhook_deliveries", webhook_id=bad, status="delivered") == 0
    assert unit.value("test_observer_webhook_pending_deliveries", webhook_id=bad) == 2
    assert unit.value("test_observer_webhook_pending_deliveries", webhook_id=good) == 0
    assert unit.value("test_observer_webhook_failing_seconds", webhook_id=good) == 0
    failing = unit.value("test_observer_webhook_failing_seconds", webhook_id=bad)
    assert 7200 <= failing < 7300
    count = unit.value("test_observer_webhook_delivery_duration_seconds_count", webhook_id=good)
    assert count == 2
    total = unit.value("test_observer_webhook_delivery_duration_seconds_sum", webhook_id=good)
    assert 0 < total < 10
    with engine.connect() as connection:
        assert connection.scalar(text("SELECT count(*) FROM webhook_delivery")) == 4
