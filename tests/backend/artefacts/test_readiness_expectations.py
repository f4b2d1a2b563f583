"""Readiness's missing environments: the missing-environments endpoint's rule (declared
expectations, else the previous version's environments), one function for both."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from test_observer.db.models import Artefact, ArtefactBuildEnvironmentReviewDecision, Environment
from tests.backend.factories import (
    make_artefact,
    make_build,
    make_environment,
    make_execution,
    make_result,
    make_review,
)

APPROVED = [ArtefactBuildEnvironmentReviewDecision.APPROVED_ALL_TESTS_PASS]
START = datetime(2026, 1, 1)


def version(session: Session, number: str, day: int, *ran: Environment) -> Artefact:
    """A version of one snap line that passed, approved, on each of `ran` (plan "smoke")."""
    artefact = make_artefact(
        session, name="kernel", version=number, created_at=START + timedelta(days=day)
    )
    build = make_build(session, artefact)
    for environment in ran:
        make_review(session, build, environment, review_decision=APPROVED)
        make_result(session, make_execution(session, build, environment), "t")
    session.commit()
    return artefact


def both(api: TestClient, artefact: Artefact) -> tuple[dict[str, Any], dict[str, Any]]:
    readiness = api.get(f"/v1/artefacts/{artefact.id}/readiness")
    missing = api.get(f"/v1/artefacts/{artefact.id}/missing-environments")
    assert readiness.status_code == missing.status_code == 200, (readiness.text, missing.text)
    ready, endpoint = readiness.json(), missing.json()
    # One rule: readiness says what the endpoint says.
    assert ready["missing_environment_names"] == endpoint["missing_environments"]
    assert ready["missing_environments_expected_from"] == endpoint["expected_from"]
    assert ready["counts"]["missing_environments"] == len(endpoint["missing_environments"])
    reasons = [reason["code"] for reason in ready["reasons"]]
    assert ("missing_environments" in reasons) == bool(endpoint["missing_environments"])
    return ready, endpoint


@pytest.fixture
def second(db_session: Session) -> Artefact:
    """Version 2 of a line whose version 1 ran on environments a and b; version 2 on a only."""
    a, b = make_environment(db_session, "a"), make_environment(db_session, "b")
    version(db_session, "1", 0, a, b)
    return version(db_session, "2", 1, a)


def test_an_environment_that_ran_the_previous_version_only_is_missing(
    api: TestClient, db_session: Session, second: Artefact
) -> None:
    ready, _ = both(api, second)
    assert ready["verdict"] == "not_ready"
    assert ready["missing_environments_expected_from"] == "previous_version"
    assert ready["missing_environment_names"] == ["b"]
    b = db_session.scalars(select(Environment).where(Environment.name == "b")).one()
    assert ready["missing_environments"] == [{"id": b.id, "name": "b", "architecture": "amd64"}]


def test_a_declared_environment_not_run_is_missing_and_the_previous_version_is_not_read(
    api: TestClient, db_session: Session, second: Artefact
) -> None:
    # Declared: a, and a device no CI has reported yet. b ran the previous version, but the
    # declaration is the expectation now.
    response = api.put(
        "/v1/expected-environments",
        json={"family": "snap", "artefact_name": "kernel", "environments": ["a", "new-device"]},
    )
    assert response.status_code == 200, response.text
    ready, _ = both(api, second)
    assert ready["verdict"] == "not_ready"
    assert ready["missing_environments_expected_from"] == "declared"
    assert ready["missing_environment_names"] == ["new-device"]
    # Known to no table: a name, without an environment record.
    assert ready["missing_environments"] == []

    # The device runs this version: ready.
    device = make_environment(db_session, "new-device", "arm64")
    build = make_build(db_session, second, revision=2)
    make_review(db_session, build, device, review_decision=APPROVED)
    make_result(db_session, make_execution(db_session, build, device), "t")
    db_session.commit()
    ready, _ = both(api, second)
    assert ready["missing_environment_names"] == []
    assert ready["verdict"] == "ready", ready["reasons"]

    # Withdrawn: the previous version's environments are expected again, and b is missing.
    response = api.delete(
        "/v1/expected-environments", params={"family": "snap", "artefact_name": "kernel"}
    )
    assert response.status_code == 204
    ready, _ = both(api, second)
    assert ready["missing_environment_names"] == ["b"]


def test_the_first_version_without_declarations_misses_nothing(
    api: TestClient, db_session: Session
) -> None:
    first = version(db_session, "1", 0, make_environment(db_session, "a"))
    ready, _ = both(api, first)
    assert ready["verdict"] == "ready"
    assert ready["missing_environments_expected_from"] == "nothing"


def test_the_listing_summary_counts_declared_environments(
    api: TestClient, db_session: Session
) -> None:
    first = version(db_session, "1", 0, make_environment(db_session, "a"))
    response = api.put(
        "/v1/expected-environments",
        json={"family": "snap", "artefact_name": "kernel", "environments": ["a", "x", "y"]},
    )
    assert response.status_code == 200
    listed = api.get("/v1/artefacts", params={"readiness": "true"})
    assert listed.status_code == 200
    summary = {a["id"]: a["readiness"] for a in listed.json()}[first.id]
    assert summary["reasons"] == ["missing_environments"]
    assert summary["counts"]["missing_environments"] == 2
