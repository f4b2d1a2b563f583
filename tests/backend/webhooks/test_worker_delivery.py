"""`test-observer worker` sends webhooks: each event once, and an event whose delivery the
worker was killed in the middle of is sent again, with the same id, by the next worker."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from tests.backend.jobs.test_worker import STARTUP_S, environment, rows, wait_for, worker
from tests.backend.webhooks.conftest import LOOPBACK, artefact, set_status, subscribe
from tests.backend.webhooks.receiver import Receiver

pytestmark = pytest.mark.usefixtures("_empty_queue")


def delivered(engine: Engine) -> list[tuple[object, ...]]:
    return rows(engine, "SELECT status, attempts FROM webhook_delivery ORDER BY id")


def test_a_worker_sends_each_event_once(
    api: TestClient,
    headers: dict[str, str],
    db_session: Session,
    engine: Engine,
    database_url: str,
    hooks: Receiver,
) -> None:
    subscribe(api, headers, hooks.url)
    made = artefact(db_session)
    env = environment(
        database_url, DISABLE_PERIODIC_TASKS="true", WEBHOOK_ALLOWED_NETWORKS=LOOPBACK
    )
    with worker("sender", env):
        for status in ("APPROVED", "UNDECIDED", "APPROVED", "UNDECIDED"):
            set_status(api, headers, made.id, status)
        wait_for(lambda: len(hooks.received) >= 4, STARTUP_S, "four deliveries")
        # Still the same a moment later: nothing is sent twice.
        wait_for(lambda: delivered(engine) == [("delivered", 1)] * 4, 30, "recorded outcomes")
    expected = [
        str(row[0]) for row in rows(engine, "SELECT event_id FROM webhook_delivery ORDER BY id")
    ]
    assert hooks.event_ids() == expected
    assert len(set(expected)) == 4


def test_a_worker_killed_mid_delivery_leaves_it_to_the_next_worker(
    api: TestClient,
    headers: dict[str, str],
    db_session: Session,
    engine: Engine,
    database_url: str,
    hooks: Receiver,
) -> None:
    subscribe(api, headers, hooks.url)
    made = artefact(db_session)
    env = environment(
        database_url,
        DISABLE_PERIODIC_TASKS="true",
        WEBHOOK_ALLOWED_NETWORKS=LOOPBACK,
        JOB_STALLED_AFTER_S="5",
    )
    hooks.hold = threading.Event()
    set_status(api, headers, made.id, "APPROVED")
    with worker("doomed", env) as doomed:
        wait_for(lambda: len(hooks.received) == 1, STARTUP_S, "the first delivery to arrive")
        doomed.kill()
        doomed.wait(30)
    # The receiver got it, but the worker died before it heard the answer.
    hooks.hold.set()
    hooks.hold = None
    assert delivered(engine) == [("pending", 0)]
    # A change while no worker runs is not lost either.
    set_status(api, headers, made.id, "UNDECIDED")

    with worker("rescuer", env):
        wait_for(lambda: len(hooks.received) >= 3, STARTUP_S, "the deliveries to be sent again")
        wait_for(
            lambda: delivered(engine) == [("delivered", 1), ("delivered", 1)],
            30,
            "recorded outcomes",
        )
    first, second = (
        str(row[0]) for row in rows(engine, "SELECT event_id FROM webhook_delivery ORDER BY id")
    )
    assert hooks.event_ids() == [first, first, second]
