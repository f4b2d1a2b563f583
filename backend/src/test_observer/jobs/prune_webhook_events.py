"""prune-webhook-events: delete webhook events and deliveries older than the retention
setting, in committed batches; never one still waiting to be sent."""

from __future__ import annotations

from typing import Any

from test_observer.webhooks.retention import BATCH_SIZE, horizon, prune_batch

from .environment import JobEnvironment


def run(env: JobEnvironment, batch_size: int = BATCH_SIZE) -> dict[str, Any]:
    before = horizon(env.settings.webhook_retention_days)
    events = deliveries = batches = 0
    while True:
        with env.sessions.begin() as session:
            deleted_events, deleted_deliveries = prune_batch(session, before, batch_size)
        batches += 1
        events += deleted_events
        deliveries += deleted_deliveries
        if deleted_events < batch_size:
            break
    return {"events": events, "deliveries": deliveries, "batches": batches}
