"""Many CI jobs reporting one artefact at the same moment, through a real server."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from test_observer.db.models import (
    Artefact,
    ArtefactBuild,
    ArtefactBuildEnvironmentReview,
    ArtefactMatchingRule,
    FamilyName,
    Notification,
    Team,
    TestExecution,
    TestExecutionRelevantLink,
    User,
    artefact_reviewers_association,
    environment_review_reviewers_association,
)
from tests.backend.executions.conftest import EVERY_PERMISSION, snap
from tests.backend.executions.live import serve

THREADS = 16
SHARED_CI_LINK = "https://ci.example/job/shared"
LINKS = [
    {"label": "Log", "url": "https://logs.example/1"},
    {"label": "Dashboard", "url": "https://dash.example/1"},
]


def payloads() -> list[dict[str, Any]]:
    """Half the jobs retry one run (same ci_link); the others are runs of their own."""
    jobs = []
    for i in range(THREADS):
        if i % 2 == 0:
            fields = {"ci_link": SHARED_CI_LINK, "arch": "arm64", "environment": "rpi4b"}
        else:
            arch = "amd64" if i % 4 == 1 else "arm64"
            fields = {
                "ci_link": f"https://ci.example/job/{i}",
                "arch": arch,
                "environment": f"e{i}",
            }
        jobs.append(snap(relevant_links=LINKS, needs_assignment=True, **fields))
    return jobs


def arrange_reviewers(session: Session) -> None:
    team = Team(name="qa")
    team.members = [User(email=f"u{i}@example.com", name=f"U{i}") for i in range(3)]
    rule = ArtefactMatchingRule(family=FamilyName.snap)
    rule.teams = [team]
    session.add_all([team, rule])
    session.commit()


def test_concurrent_start_tests_for_one_artefact(
    make_client: Callable[..., TestClient], db_session: Session
) -> None:
    arrange_reviewers(db_session)
    app = make_client(ignore_permissions=EVERY_PERMISSION).app
    barrier = threading.Barrier(THREADS)

    with serve(app) as base_url:  # type: ignore[arg-type]

        def call(payload: dict[str, Any]) -> httpx.Response:
            with httpx.Client(base_url=base_url, timeout=30) as client:
                barrier.wait()
                return client.put("/v1/test-executions/start-test", json=payload)

        with ThreadPoolExecutor(THREADS) as pool:
            responses = list(pool.map(call, payloads()))

    assert [r.status_code for r in responses] == [200] * THREADS, [r.text for r in responses]
    shared_ids = {r.json()["id"] for r in responses[::2]}
    assert len(shared_ids) == 1

    def count(model: Any) -> int:
        return db_session.scalar(select(func.count()).select_from(model)) or 0

    assert count(Artefact) == 1
    builds = db_session.scalars(select(ArtefactBuild.architecture)).all()
    assert sorted(builds) == ["amd64", "arm64"]
    ci_links = db_session.scalars(select(TestExecution.ci_link)).all()
    assert len(ci_links) == 1 + THREADS // 2
    assert len(set(ci_links)) == len(ci_links)
    links = db_session.execute(
        select(TestExecutionRelevantLink.test_execution_id, TestExecutionRelevantLink.url)
    ).all()
    assert Counter(links).most_common(1)[0][1] == 1
    assert len(links) == len(LINKS) * len(ci_links)

    # Assignment took turns: one reviewer for 9 executions, notified once, and every
    # environment review has exactly that one reviewer.
    reviewers = db_session.scalars(select(artefact_reviewers_association.c.user_id)).all()
    assert len(reviewers) == 1
    assert db_session.scalars(select(Notification.user_id)).all() == reviewers
    held = (
        db_session.execute(select(environment_review_reviewers_association.c.user_id))
        .scalars()
        .all()
    )
    assert held == reviewers * len(held)
    assert len(held) == count(ArtefactBuildEnvironmentReview) == 1 + THREADS // 2
