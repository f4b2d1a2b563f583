"""Webhooks: what the outbox costs the request that causes an event, and how fast one worker
sends. `uv run --frozen pytest tests/bench/bench_webhooks.py -s -p no:cacheprovider`.

Against a migrated database of its own:

* `PATCH /v1/artefacts/{id}` changing the status, alternately with no webhook subscribed to
  the event and with one subscribed (whose event, delivery and job rows the request then
  writes), in the same run; the difference of the medians is what the rows cost. The `emit`
  statement alone is timed too.
* one `test-observer worker` sending 2,000 events of one webhook to a receiver on loopback.

It prints the figures with the load average and fails when one misses its target: under
1 ms added to the request, at least 200 events per second.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from test_observer.app import create_app
from test_observer.db import migrate
from test_observer.db.engine import make_engine
from test_observer.db.models import Permission
from test_observer.jobs.deliver_webhooks import client
from test_observer.settings import Settings
from test_observer.webhooks.events import Event, EventType, emit
from tests.backend.factories import make_artefact
from tests.backend.webhooks.receiver import receiver
from tests.database import scratch_database

ROUNDS = 300
EVENTS = 2000
TARGET_ADDED_MS = 1.0
TARGET_PER_SECOND = 200.0


@pytest.fixture(scope="module")
def database(database_server: str) -> Iterator[tuple[Engine, str]]:
    with scratch_database(database_server, "bench_webhooks") as url:
        migrate.upgrade(url)
        engine = make_engine(url)
        yield engine, url
        engine.dispose()


def _load() -> str:
    return ", ".join(f"{figure:.2f}" for figure in os.getloadavg())


def _subscribe(client: TestClient, url: str, active: bool) -> int:
    response = client.post(
        "/v1/webhooks",
        json={"url": url, "event_types": ["artefact.status_changed"], "active": active},
    )
    assert response.status_code == 201, response.json()
    return int(response.json()["id"])


def test_outbox_cost_per_request(database: tuple[Engine, str]) -> None:
    engine, url = database
    every = ",".join(permission.value for permission in Permission)
    settings = Settings(db_url=url, ignore_permissions=every)  # type: ignore[arg-type]
    client = TestClient(create_app(settings, engine=engine), client=("127.0.0.1", 50000))
    with Session(engine) as session:
        artefact_id = make_artefact(session).id
        session.commit()
    webhook = _subscribe(client, "https://hooks.example.com/in", active=False)
    # Unrelated subscriptions, so the matching looks at more than one row.
    for _ in range(20):
        client.post(
            "/v1/webhooks",
            json={"url": "https://hooks.example.com/x", "event_types": ["issue.attached"]},
        )

    requests = [0]

    def toggle() -> float:
        requests[0] += 1
        status = "APPROVED" if requests[0] % 2 else "UNDECIDED"
        start = time.perf_counter()
        response = client.patch(f"/v1/artefacts/{artefact_id}", json={"status": status})
        elapsed = time.perf_counter() - start
        assert response.status_code == 200
        return elapsed * 1000

    def subscribed(on: bool) -> None:
        with engine.begin() as connection:
            connection.execute(
                text("UPDATE webhook SET active = :on WHERE id = :id"), {"on": on, "id": webhook}
            )
            # A worker would have taken the waiting job: each request queues a new one.
            connection.execute(text("DELETE FROM procrastinate_jobs WHERE status = 'todo'"))

    for _ in range(30):  # warm-up
        toggle()
    times: dict[bool, list[float]] = {False: [], True: []}
    for round_ in range(ROUNDS):
        for on in (False, True) if round_ % 2 else (True, False):
            subscribed(on)
            times[on].append(toggle())

    with engine.connect() as connection:
        written = connection.scalar(text("SELECT count(*) FROM webhook_delivery"))
    assert written == ROUNDS

    # The statement alone, as PostgreSQL times it (the client's round trip on this shared
    # machine is mostly waiting for a CPU): alternately with the webhook subscribed and not.
    server_ms: dict[bool, list[float]] = {False: [], True: []}
    for round_ in range(ROUNDS // 3):
        for on in (False, True) if round_ % 2 else (True, False):
            subscribed(on)
            server_ms[on].append(_emit_server_ms(engine))
    without, with_ = statistics.median(times[False]), statistics.median(times[True])
    added = with_ - without
    print(f"\nload average: {_load()}")
    print("| request: PATCH status | median ms | p95 ms |")
    print("| --- | --- | --- |")
    for on, label in ((False, "no webhook subscribed"), (True, "one webhook subscribed")):
        values = sorted(times[on])
        p95 = values[int(len(values) * 0.95)]
        print(f"| {label} | {statistics.median(values):.2f} | {p95:.2f} |")
    print(f"added by the outbox rows (difference of medians): {added:.3f} ms")
    for on, label in ((False, "not subscribed"), (True, "subscribed")):
        median = statistics.median(server_ms[on])
        print(f"emit statement, server time (planning + execution), {label}: {median:.3f} ms")
    assert added < TARGET_ADDED_MS
    assert statistics.median(server_ms[True]) < TARGET_ADDED_MS


def _cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far (Linux)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _emit_server_ms(engine: Engine) -> float:
    """Planning and execution time of one `emit` (execution includes the triggers the job
    queue's table fires), by EXPLAIN ANALYZE, rolled back."""
    from test_observer.webhooks.events import _EMIT, DELIVER_TASK, QUEUE

    event = Event(
        EventType.ARTEFACT_STATUS_CHANGED, {"n": 1}, family="snap", artefact_name="core22"
    )
    rows = [
        {
            "ord": 0,
            "id": str(event.id),
            "event_type": event.type.value,
            "family": event.family,
            "artefact_name": event.artefact_name,
            "data": event.data,
        }
    ]
    with engine.connect() as connection, connection.begin() as transaction:
        plan = connection.execute(
            text(f"EXPLAIN (ANALYZE, FORMAT JSON) {_EMIT.text}"),
            {"events": json.dumps(rows), "queue": QUEUE, "task": DELIVER_TASK},
        ).scalar_one()
        transaction.rollback()
    timing = plan[0]
    return float(timing["Planning Time"] + timing["Execution Time"])


def _wait(engine: Engine, query: str, expected: int, seconds: float) -> float:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with engine.connect() as connection:
            if connection.scalar(text(query)) == expected:
                return time.monotonic()
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {query} = {expected}")


def test_one_worker_delivery_rate(database: tuple[Engine, str]) -> None:
    engine, url = database
    delivered = "SELECT count(*) FROM webhook_delivery WHERE status = 'delivered' AND webhook_id = "
    with receiver() as hooks:
        with engine.begin() as connection:
            webhook = connection.scalar(
                text(
                    "INSERT INTO webhook (url, event_types, secret) VALUES "
                    "(:url, '{artefact.status_changed}', 'bench-secret-bench') RETURNING id"
                ),
                {"url": hooks.url},
            )
        env = {
            **os.environ,
            "DB_URL": url,
            "DISABLE_PERIODIC_TASKS": "true",
            "WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
        }
        worker = subprocess.Popen(
            [sys.executable, "-m", "test_observer", "worker", "--name", "bench"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            event: dict[str, Any] = {"artefact": {"id": 1, "family": "snap", "name": "core22"}}

            def events(count: int) -> None:
                with Session(engine) as session, session.begin():
                    emit(
                        session,
                        [
                            Event(EventType.ARTEFACT_STATUS_CHANGED, event, "snap", "core22")
                            for _ in range(count)
                        ],
                    )

            # The baseline: the same number of requests to the same receiver from this
            # process, with the worker's client and nothing else.
            with client(Settings()) as http:
                base_began = time.monotonic()
                for _ in range(EVENTS):
                    http.post(hooks.url, content=b"{}").raise_for_status()
                baseline = EVENTS / (time.monotonic() - base_began)
            hooks.received.clear()
            events(1)  # the worker is up once this one arrives
            _wait(engine, f"{delivered}{webhook}", 1, 120)
            cpu_before = _cpu_seconds(worker.pid)
            began = time.monotonic()
            events(EVENTS)
            ended = _wait(engine, f"{delivered}{webhook}", EVENTS + 1, 300)
            cpu = _cpu_seconds(worker.pid) - cpu_before
        finally:
            worker.terminate()
            worker.wait(60)
    rate = EVENTS / (ended - began)
    print(f"\nload average: {_load()}")
    print(f"one worker, {EVENTS} events to a receiver on loopback: {rate:.0f} events/s")
    print(f"worker CPU: {cpu:.2f} s, {EVENTS / cpu:.0f} events per CPU second")
    print(f"baseline, the bare HTTP requests to the same receiver: {baseline:.0f} requests/s")
    assert len(hooks.received) == EVENTS + 1
    assert rate >= TARGET_PER_SECOND
