"""Notification writes and reads at scale: `uv run tox -e bench`.

Measures, against a migrated database of its own:

* one `notify_reviewers_assigned` call for 1,000 new reviewers (one statement);
* the same call again, when every one of them already has an unread notification;
* `GET /v1/users/me/notifications` (first page) and `/count?unread_only=true` for a user
  with 50,000 notifications, 10,000 of them unread.

It prints a table and fails when a figure misses its target.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from test_observer.app import create_app
from test_observer.db import migrate
from test_observer.db.engine import make_engine
from test_observer.notifications.service import notify_reviewers_assigned
from test_observer.settings import Settings
from tests.backend.factories import make_artefact
from tests.backend.principals import SESSIONS_SECRET, login, make_user, session_headers
from tests.database import scratch_database

REVIEWERS = 1000
NOTIFICATIONS = 50_000
UNREAD = 10_000
TARGETS_MS = {
    "notify 1,000 new reviewers": 500.0,
    "notify 1,000 already notified": 500.0,
    "list first page of 50,000": 100.0,
    "count 10,000 unread": 100.0,
}


@pytest.fixture(scope="module")
def engine(database_server: str) -> Iterator[tuple[Engine, str]]:
    with scratch_database(database_server, "bench_notifications") as url:
        migrate.upgrade(url)
        engine = make_engine(url)
        yield engine, url
        engine.dispose()


def _timed(action: Callable[[], Any], repeat: int = 1) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - start)
    return best * 1000


def test_notification_figures(engine: tuple[Engine, str]) -> None:
    db_engine, url = engine
    settings = Settings(db_url=url, sessions_secret=SESSIONS_SECRET)
    figures: dict[str, float] = {}
    with Session(db_engine, expire_on_commit=False) as db:
        artefact = make_artefact(db)
        db.execute(
            text(
                "INSERT INTO app_user (email, name) "
                "SELECT 'r' || i || '@example.com', 'R' || i FROM generate_series(1, :n) i"
            ),
            {"n": REVIEWERS},
        )
        db.commit()
        ids = list(db.scalars(text("SELECT id FROM app_user ORDER BY id")))

        def notify() -> None:
            notify_reviewers_assigned(db, settings, artefact.id, ids)
            db.commit()

        figures["notify 1,000 new reviewers"] = _timed(notify)
        figures["notify 1,000 already notified"] = _timed(notify, repeat=3)

        reader = make_user(db, "reader@example.com")
        db.execute(
            text(
                "INSERT INTO notification (user_id, notification_type, target_url, dismissed_at) "
                "SELECT :user, 'USER_ASSIGNED_ARTEFACT_REVIEW', 'https://f/snaps/' || i, "
                "CASE WHEN i > :unread THEN now() END FROM generate_series(1, :n) i"
            ),
            {"user": reader.id, "unread": UNREAD, "n": NOTIFICATIONS},
        )
        db.execute(text("ANALYZE notification"))
        db.commit()
        headers = session_headers(login(db, reader))

    client = TestClient(create_app(settings, engine=db_engine))
    listed = client.get("/v1/users/me/notifications", headers=headers)
    assert listed.json()["count"] == NOTIFICATIONS
    figures["list first page of 50,000"] = _timed(
        lambda: client.get("/v1/users/me/notifications", headers=headers), repeat=5
    )
    counted = client.get(
        "/v1/users/me/notifications/count", params={"unread_only": True}, headers=headers
    )
    assert counted.json() == UNREAD
    figures["count 10,000 unread"] = _timed(
        lambda: client.get(
            "/v1/users/me/notifications/count", params={"unread_only": True}, headers=headers
        ),
        repeat=5,
    )

    print()
    print(f"{'measure':<34}{'ms':>10}{'target':>10}")
    for name, value in figures.items():
        print(f"{name:<34}{value:>10.1f}{TARGETS_MS[name]:>10.0f}")
    missed = [name for name, value in figures.items() if value > TARGETS_MS[name]]
    assert not missed, f"missed targets: {missed}"
