"""What an audit event costs a request: `uv run tox -e bench -- -k audit`.

The same requests run with and without the audit write, alternating one for one in the same
run (so that the machine's load hits both alike), against a migrated database of its own:

* `PATCH /v1/applications/{id}` toggling one permission (one event per request);
* `PATCH /v1/artefacts/{id}/environment-reviews` changing 50 reviews (50 events in one
  multi-row INSERT).

"Without" replaces the recording function in the service modules by one that does nothing,
so the request does everything else identically. The figure is the difference of the
medians; it fails when one event costs a request 1 ms or more.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from test_observer.app import create_app
from test_observer.applications import service as applications
from test_observer.artefacts import reviews
from test_observer.db import migrate
from test_observer.db.engine import make_engine
from test_observer.db.models import ArtefactBuildEnvironmentReviewDecision, Permission
from test_observer.settings import Settings
from tests.backend.factories import make_artefact, make_build, make_environment, make_review
from tests.backend.principals import SESSIONS_SECRET, login, make_user, session_headers
from tests.database import scratch_database

ROUNDS = int(os.environ.get("BENCH_AUDIT_ROUNDS", "200"))
REVIEWS = 50
TARGET_MS = 1.0
DECISIONS = [
    [ArtefactBuildEnvironmentReviewDecision.APPROVED_ALL_TESTS_PASS.value],
    [ArtefactBuildEnvironmentReviewDecision.APPROVED_INCONSISTENT_TEST.value],
]


@pytest.fixture(scope="module")
def engine(database_server: str) -> Iterator[tuple[Engine, str]]:
    with scratch_database(database_server, "bench_audit") as url:
        migrate.upgrade(url)
        engine = make_engine(url)
        yield engine, url
        engine.dispose()


def _alternate(
    monkeypatch: pytest.MonkeyPatch,
    request: Callable[[int], Any],
    disable: Callable[[pytest.MonkeyPatch], None],
) -> tuple[list[float], list[float]]:
    """Milliseconds of each request with and without the audit write, alternating."""
    with_audit: list[float] = []
    without_audit: list[float] = []
    for n in range(2 * ROUNDS + 10):
        audited = n % 2 == 0
        with monkeypatch.context() as patch:
            if not audited:
                disable(patch)
            start = time.perf_counter()
            response = request(n)
            elapsed = (time.perf_counter() - start) * 1000
        assert response.status_code == 200, response.text
        if n >= 10:  # the first requests warm the pool and caches
            (with_audit if audited else without_audit).append(elapsed)
    return with_audit, without_audit


def _nothing(*args: Any, **kwargs: Any) -> None:
    return None


def test_audit_event_cost(engine: tuple[Engine, str], monkeypatch: pytest.MonkeyPatch) -> None:
    db_engine, url = engine
    settings = Settings(db_url=url, sessions_secret=SESSIONS_SECRET)
    with Session(db_engine, expire_on_commit=False) as db:
        admin = make_user(db, "root@example.com", is_admin=True)
        headers = session_headers(login(db, admin))
        artefact = make_artefact(db)
        build = make_build(db, artefact)
        review_ids = [
            make_review(db, build, make_environment(db, f"env-{n}")).id for n in range(REVIEWS)
        ]
        db.commit()
        reviewer = make_user(
            db, "rev@example.com", permissions=[Permission.change_environment_review]
        )
        reviewer_headers = session_headers(login(db, reviewer))
    client = TestClient(create_app(settings, engine=db_engine))
    created = client.post(
        "/v1/applications", json={"name": "ci", "permissions": []}, headers=headers
    ).json()

    # Every request changes something, so that both kinds commit a write (the fsync of a
    # commit would otherwise be counted as the event's cost).
    def patch_application(n: int) -> Any:
        permissions = ["view_test"] if n % 2 == 0 else []
        return client.patch(
            f"/v1/applications/{created['id']}", json={"permissions": permissions}, headers=headers
        )

    def patch_reviews(n: int) -> Any:
        decision = DECISIONS[n % 2]
        body = [{"id": review_id, "review_decision": decision} for review_id in review_ids]
        return client.patch(
            f"/v1/artefacts/{artefact.id}/environment-reviews", json=body, headers=reviewer_headers
        )

    figures = {
        "PATCH application (1 event)": _alternate(
            monkeypatch,
            patch_application,
            lambda patch: patch.setattr(applications, "record_audit_event", _nothing),
        ),
        f"PATCH {REVIEWS} reviews ({REVIEWS} events)": _alternate(
            monkeypatch,
            patch_reviews,
            lambda patch: patch.setattr(reviews, "record_audit_events", _nothing),
        ),
    }

    load = os.getloadavg()[0]
    print()
    print(
        f"{ROUNDS} requests each way, alternating; load average {load:.1f} on {os.cpu_count()} CPUs"
    )
    print(f"{'request':<32}{'without ms':>12}{'with ms':>10}{'cost ms':>10}{'ratio':>8}")
    costs = {}
    for name, (with_audit, without_audit) in figures.items():
        base = statistics.median(without_audit)
        audited = statistics.median(with_audit)
        costs[name] = audited - base
        print(
            f"{name:<32}{base:>12.2f}{audited:>10.2f}{audited - base:>10.2f}{audited / base:>8.3f}"
        )
    assert costs["PATCH application (1 event)"] < TARGET_MS, costs
