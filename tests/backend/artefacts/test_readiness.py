"""Readiness: the verdict flips as each reason is resolved, and the listing's summary costs a
fixed number of statements."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from test_observer.db.models import (
    ArtefactBuildEnvironmentReview,
    ArtefactBuildEnvironmentReviewDecision,
    IssueTestResultAttachment,
    Quarantine,
    TestResult,
    TestResultStatus,
)
from tests.backend.factories import (
    make_artefact,
    make_build,
    make_environment,
    make_execution,
    make_result,
    make_review,
)
from tests.backend.planted import P, Planted, plant
from tests.backend.statements import count_statements

APPROVED = ArtefactBuildEnvironmentReviewDecision.APPROVED_ALL_TESTS_PASS


def readiness(api: TestClient, artefact_id: int) -> dict[str, Any]:
    response = api.get(f"/v1/artefacts/{artefact_id}/readiness")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert (body["verdict"] == "ready") == (body["reasons"] == [])
    return body


def reasons(api: TestClient, artefact_id: int) -> list[str]:
    return [reason["code"] for reason in readiness(api, artefact_id)["reasons"]]


@pytest.fixture
def planted(db_session: Session) -> Planted:
    planted = plant(db_session)
    build = planted.current_builds[-1]
    for env in planted.environments.values():
        make_review(db_session, build, env)
    # An environment that ran the previous version only.
    base_build = planted.executions["base"][("e1", "smoke")].artefact_build_id
    e5 = make_environment(db_session, "e5")
    planted.environments["e5"] = e5
    execution = make_execution(db_session, db_session.get_one(type(build), base_build), e5)
    make_result(db_session, execution, "steady", P)
    db_session.commit()
    return planted


def test_the_verdict_flips_as_each_reason_is_resolved(
    api: TestClient, planted: Planted, db_session: Session
) -> None:
    current = planted.current.id
    body = readiness(api, current)
    assert body["base_artefact_id"] == planted.base.id
    assert body["verdict"] == "not_ready"
    assert reasons(api, current) == [
        "undecided_reviews",
        "untriaged_failures",
        "regressions",
        "missing_environments",
    ]
    counts = body["counts"]
    assert counts["regressions"] == len(planted.expected["regression"])
    assert (counts["reviews_total"], counts["reviews_decided"]) == (4, 0)
    # Failed now: reg 3 times, wobbly and still twice, added, skipped and x-new once.
    assert counts["untriaged_failures"] == 10
    assert [e["name"] for e in body["missing_environments"]] == ["e5"]

    # 1. Every review decided.
    db_session.execute(update(ArtefactBuildEnvironmentReview).values(review_decision=[APPROVED]))
    db_session.commit()
    assert reasons(api, current) == ["untriaged_failures", "regressions", "missing_environments"]
    assert readiness(api, current)["review_decisions"] == [{"decision": APPROVED.value, "count": 4}]

    # 2. The missing environment runs this version too (any test plan).
    build = planted.current_builds[-1]
    make_result(
        db_session, make_execution(db_session, build, planted.environments["e5"], "other"), "t", P
    )
    db_session.commit()
    assert reasons(api, current) == ["untriaged_failures", "regressions"]

    # 3. Every failure has an issue: triaged, but the regressions remain.
    assert planted.issue is not None
    failed_now = db_session.scalars(
        select(TestResult.id).where(
            TestResult.status == TestResultStatus.FAILED,
            TestResult.test_execution_id.in_(
                [e.id for e in planted.executions["current"].values()]
            ),
        )
    ).all()
    db_session.add_all(
        IssueTestResultAttachment(issue_id=planted.issue.id, test_result_id=result_id)
        for result_id in failed_now
    )
    db_session.commit()
    assert reasons(api, current) == ["regressions"]

    # 4. The regressions are quarantined: ready, with the quarantined failures counted apart.
    put = {"reason": "known", "expires_at": (datetime.now(UTC) + timedelta(days=1)).isoformat()}
    assert api.put("/v1/quarantines", json={"test_case": "reg", **put}).status_code == 200
    e1 = planted.environments["e1"].id
    response = api.put(
        "/v1/quarantines", json={"test_case": "wobbly", "environment_ids": [e1], **put}
    )
    assert response.status_code == 200
    body = readiness(api, current)
    assert body["verdict"] == "ready"
    assert body["counts"]["quarantined_failures"] == 4
    assert body["counts"]["regressions"] == 0

    # A quarantine that expires stops excusing the failure, without anything running.
    db_session.execute(
        update(Quarantine)
        .where(Quarantine.environment_id == e1)
        .values(expires_at=datetime.now(UTC).replace(tzinfo=None) - timedelta(seconds=1))
    )
    db_session.commit()
    assert reasons(api, current) == ["regressions"]
    db_session.execute(update(Quarantine).values(expires_at=None))
    db_session.commit()
    assert reasons(api, current) == []

    # 5. A rejected review holds it back again.
    db_session.execute(
        update(ArtefactBuildEnvironmentReview)
        .where(ArtefactBuildEnvironmentReview.environment_id == e1)
        .values(review_decision=[ArtefactBuildEnvironmentReviewDecision.REJECTED])
    )
    db_session.commit()
    assert reasons(api, current) == ["rejected_reviews"]


def test_untriaged_failures_without_a_previous_version(
    api: TestClient, db_session: Session
) -> None:
    artefact = make_artefact(db_session, name="lonely", due_date=datetime(2030, 1, 2).date())
    build = make_build(db_session, artefact)
    env = make_environment(db_session)
    make_review(db_session, build, env, review_decision=[APPROVED])
    execution = make_execution(db_session, build, env)
    make_result(db_session, execution, "a", TestResultStatus.FAILED)
    make_result(db_session, execution, "b", P)
    db_session.commit()
    body = readiness(api, artefact.id)
    assert body["base_artefact_id"] is None
    assert body["due_date"] == "2030-01-02"
    assert [r["code"] for r in body["reasons"]] == ["untriaged_failures"]
    assert body["counts"]["untriaged_failures"] == 1
    assert body["counts"]["regressions"] == 0
    assert body["missing_environments"] == []


def test_nothing_tested_is_not_ready(api: TestClient, db_session: Session) -> None:
    artefact = make_artefact(db_session, name="untested")
    db_session.commit()
    assert reasons(api, artefact.id) == ["no_reviews"]
    assert api.get("/v1/artefacts/999999/readiness").status_code == 404


def test_the_listing_carries_summaries_on_request_in_fixed_statements(
    api: TestClient, planted: Planted, db_session: Session, engine: Engine
) -> None:
    listed = {a["id"]: a for a in api.get("/v1/artefacts").json()}
    assert listed[planted.current.id]["readiness"] is None

    def summaries() -> tuple[dict[int, Any], int]:
        with count_statements(engine) as counter:
            response = api.get("/v1/artefacts", params={"readiness": "true"})
        assert response.status_code == 200, response.text
        return {a["id"]: a["readiness"] for a in response.json()}, counter.count

    found, few = summaries()
    assert found[planted.current.id] == {
        "verdict": "not_ready",
        "reasons": [
            "undecided_reviews",
            "untriaged_failures",
            "regressions",
            "missing_environments",
        ],
        "counts": readiness(api, planted.current.id)["counts"],
    }
    for n in range(4):
        other = make_artefact(db_session, name=f"other-{n}", version="1")
        build = make_build(db_session, other)
        env = make_environment(db_session, f"other-env-{n}")
        make_review(db_session, build, env, review_decision=[APPROVED])
        make_result(db_session, make_execution(db_session, build, env), "t", P)
    db_session.commit()
    found, more = summaries()
    assert more == few
    assert sum(1 for summary in found.values() if summary["verdict"] == "ready") == 4
