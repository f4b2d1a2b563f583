"""`artefact.readiness_changed`: each write that can change a verdict announces a flip once, in
its own transaction; a write that leaves the verdict alone announces nothing; concurrent
writers announce one flip once."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from test_observer.db.engine import make_session_factory
from test_observer.db.models import (
    Artefact,
    ArtefactBuild,
    ArtefactBuildEnvironmentReview,
    ArtefactBuildEnvironmentReviewDecision,
    Environment,
    Issue,
    IssueSource,
    TestExecution,
    TestResult,
    TestResultStatus,
    WebhookEvent,
)
from test_observer.executions.requests import TestResultRequest
from test_observer.executions.results import post_results
from test_observer.webhooks.payloads import summary
from tests.backend.factories import (
    make_artefact,
    make_build,
    make_environment,
    make_execution,
    make_result,
    make_review,
)
from tests.backend.statements import count_statements
from tests.backend.webhooks.conftest import subscribe

pytestmark = pytest.mark.usefixtures("_empty_queue")
URL = "https://hooks.example.com/in"
APPROVED = [ArtefactBuildEnvironmentReviewDecision.APPROVED_ALL_TESTS_PASS]
F = TestResultStatus.FAILED


@pytest.fixture
def subscribed(api: TestClient, admin: dict[str, str]) -> None:
    subscribe(api, admin, URL, event_types=["artefact.readiness_changed"])


@dataclass
class Ready:
    artefact: Artefact
    build: ArtefactBuild
    environment: Environment
    execution: TestExecution
    review: ArtefactBuildEnvironmentReview


def ready_artefact(db_session: Session, **fields: Any) -> Ready:
    """The first of its line, tested on one environment, everything passed and approved: ready,
    and announced as such."""
    artefact = make_artefact(db_session, readiness_verdict="ready", **fields)
    build = make_build(db_session, artefact)
    environment = make_environment(db_session, name=f"rpi-{artefact.version}")
    execution = make_execution(db_session, build, environment, ci_link=f"https://ci/{artefact.id}")
    make_result(db_session, execution, "boot")
    review = make_review(db_session, build, environment, review_decision=APPROVED)
    db_session.commit()
    return Ready(artefact, build, environment, execution, review)


def flips(db_session: Session) -> list[tuple[int, str, str, list[str]]]:
    db_session.expire_all()
    return [
        (
            event.data["artefact"]["id"],
            event.data["previous_verdict"],
            event.data["verdict"],
            event.data["reasons"],
        )
        for event in db_session.scalars(
            select(WebhookEvent)
            .where(WebhookEvent.event_type == "artefact.readiness_changed")
            .order_by(WebhookEvent.occurred_at, WebhookEvent.id)
        )
    ]


def announced(db_session: Session, artefact_id: int, verdict: str | None) -> None:
    """As if `verdict` had been announced last (None: none yet)."""
    db_session.execute(
        update(Artefact).where(Artefact.id == artefact_id).values(readiness_verdict=verdict)
    )
    db_session.commit()


def verdict(db_session: Session, artefact_id: int) -> str | None:
    db_session.expire_all()
    return db_session.scalar(select(Artefact.readiness_verdict).where(Artefact.id == artefact_id))


def post(api: TestClient, headers: dict[str, str], execution_id: int, **statuses: str) -> None:
    body = [{"name": name, "status": status} for name, status in statuses.items()]
    response = api.post(
        f"/v1/test-executions/{execution_id}/test-results", json=body, headers=headers
    )
    assert response.status_code == 200, response.json()


def issue(db_session: Session) -> Issue:
    made = Issue(source=IssueSource.GITHUB, project="canonical/x", key="7", title="Known")
    db_session.add(made)
    db_session.commit()
    return made


@pytest.mark.usefixtures("subscribed")
def test_results_posted_flip_it_once_and_more_of_the_same_says_nothing(
    api: TestClient, admin: dict[str, str], db_session: Session
) -> None:
    ready = ready_artefact(db_session)
    post(api, admin, ready.execution.id, net="PASSED")
    assert flips(db_session) == []

    post(api, admin, ready.execution.id, wifi="FAILED")
    post(api, admin, ready.execution.id, audio="FAILED")
    assert flips(db_session) == [(ready.artefact.id, "ready", "not_ready", ["untriaged_failures"])]
    assert verdict(db_session, ready.artefact.id) == "not_ready"

    [event] = db_session.scalars(select(WebhookEvent)).all()
    assert event.data["counts"]["untriaged_failures"] == 1
    assert event.data["artefact"]["name"] == "core22"


@pytest.mark.usefixtures("subscribed")
def test_an_ended_execution_flips_it(
    api: TestClient, admin: dict[str, str], db_session: Session
) -> None:
    ready = ready_artefact(db_session)
    results = [{"name": "boot", "status": "fail", "category": "", "comment": "", "io_log": ""}]
    response = api.put(
        "/v1/test-executions/end-test",
        json={"ci_link": ready.execution.ci_link, "test_results": results},
        headers=admin,
    )
    assert response.status_code == 200, response.json()
    assert flips(db_session) == [(ready.artefact.id, "ready", "not_ready", ["untriaged_failures"])]


@pytest.mark.usefixtures("subscribed")
def test_a_review_decision_flips_it(
    api: TestClient, admin: dict[str, str], db_session: Session
) -> None:
    ready = ready_artefact(db_session)
    path = f"/v1/artefacts/{ready.artefact.id}/environment-reviews/{ready.review.id}"
    undecided = api.patch(path, json={"review_decision": []}, headers=admin)
    assert undecided.status_code == 200, undecided.json()
    comment = api.patch(path, json={"review_comment": "looking"}, headers=admin)
    assert comment.status_code == 200
    approved = api.patch(path, json={"review_decision": [APPROVED[0].value]}, headers=admin)
    assert approved.status_code == 200
    assert flips(db_session) == [
        (ready.artefact.id, "ready", "not_ready", ["undecided_reviews"]),
        (ready.artefact.id, "not_ready", "ready", []),
    ]


@pytest.mark.usefixtures("subscribed")
def test_attaching_and_detaching_an_issue_flip_it(
    api: TestClient, admin: dict[str, str], db_session: Session
) -> None:
    ready = ready_artefact(db_session)
    failed = make_result(db_session, ready.execution, "wifi", F)
    announced(db_session, ready.artefact.id, "not_ready")
    known = issue(db_session)
    body = {"test_results": [failed.id]}
    assert api.post(f"/v1/issues/{known.id}/attach", json=body, headers=admin).status_code == 200
    assert api.post(f"/v1/issues/{known.id}/attach", json=body, headers=admin).status_code == 200
    assert api.post(f"/v1/issues/{known.id}/detach", json=body, headers=admin).status_code == 200
    assert flips(db_session) == [
        (ready.artefact.id, "not_ready", "ready", []),
        (ready.artefact.id, "ready", "not_ready", ["untriaged_failures"]),
    ]


@pytest.mark.usefixtures("subscribed")
def test_a_quarantine_set_and_lifted_flips_it(
    api: TestClient, admin: dict[str, str], db_session: Session
) -> None:
    ready = ready_artefact(db_session)
    make_result(db_session, ready.execution, "wifi", F)
    announced(db_session, ready.artefact.id, "not_ready")
    expires = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    body = {"test_case": "wifi", "reason": "known", "expires_at": expires}
    assert api.put("/v1/quarantines", json=body, headers=admin).status_code == 200
    lifted = api.delete("/v1/quarantines", params={"test_case": "wifi"}, headers=admin)
    assert lifted.status_code == 200, lifted.json()
    assert flips(db_session) == [
        (ready.artefact.id, "not_ready", "ready", []),
        (ready.artefact.id, "ready", "not_ready", ["untriaged_failures"]),
    ]


@pytest.mark.usefixtures("subscribed")
def test_a_test_started_on_a_new_environment_flips_it(
    api: TestClient, admin: dict[str, str], db_session: Session
) -> None:
    ready = ready_artefact(db_session)
    payload = {
        "family": "snap",
        "name": "core22",
        "version": "20240101",
        "revision": 1,
        "track": "22",
        "store": "ubuntu",
        "arch": "amd64",
        "execution_stage": "beta",
        "environment": "pi5",
        "test_plan": "smoke",
    }
    response = api.put("/v1/test-executions/start-test", json=payload, headers=admin)
    assert response.status_code == 200, response.json()
    assert flips(db_session) == [(ready.artefact.id, "ready", "not_ready", ["undecided_reviews"])]


@pytest.mark.usefixtures("subscribed")
def test_results_of_the_previous_version_flip_the_next_one(
    api: TestClient, admin: dict[str, str], db_session: Session, engine: Engine
) -> None:
    """A new run of the base's cell changes the next version's comparison: `boot` failed in
    both (triaged), then passes in the base's new run, so the next version regresses."""
    base = ready_artefact(db_session, version="1")
    current = ready_artefact(db_session, version="2")
    # Same environment, same cell.
    db_session.execute(
        update(TestExecution)
        .where(TestExecution.id == current.execution.id)
        .values(environment_id=base.environment.id)
    )
    db_session.execute(
        update(ArtefactBuildEnvironmentReview)
        .where(ArtefactBuildEnvironmentReview.id == current.review.id)
        .values(environment_id=base.environment.id)
    )
    db_session.execute(
        update(TestResult)
        .where(TestResult.test_execution_id.in_([base.execution.id, current.execution.id]))
        .values(status=F, environment_id=base.environment.id)
    )
    known = issue(db_session)
    for execution in (base.execution, current.execution):
        response = api.post(
            f"/v1/issues/{known.id}/attach",
            json={"test_results": [r.id for r in execution_results(db_session, execution.id)]},
            headers=admin,
        )
        assert response.status_code == 200
    assert verdict(db_session, current.artefact.id) == "ready"
    before = len(flips(db_session))

    rerun = make_execution(db_session, base.build, base.environment)
    db_session.commit()
    post(api, admin, rerun.id, boot="PASSED")
    assert flips(db_session)[before:] == [
        (current.artefact.id, "ready", "not_ready", ["regressions"])
    ]

    # Still regressing: the cheap rules say so, and the comparison is not made again.
    with count_statements(engine) as counter:
        post(api, admin, current.execution.id, net="PASSED")
    assert [s for s in counter.statements if "classified" in s] == []
    # The regression quarantined: ready again.
    expires = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    body = {"test_case": "boot", "reason": "known", "expires_at": expires}
    assert api.put("/v1/quarantines", json=body, headers=admin).status_code == 200
    assert flips(db_session)[before + 1 :] == [(current.artefact.id, "not_ready", "ready", [])]


def execution_results(db_session: Session, execution_id: int) -> list[TestResult]:
    return list(
        db_session.scalars(select(TestResult).where(TestResult.test_execution_id == execution_id))
    )


@pytest.mark.usefixtures("subscribed")
def test_writes_that_leave_the_verdict_alone_announce_nothing(
    api: TestClient, admin: dict[str, str], db_session: Session
) -> None:
    ready = ready_artefact(db_session)
    # Readiness does not read the sign-off status.
    response = api.patch(
        f"/v1/artefacts/{ready.artefact.id}", json={"status": "APPROVED"}, headers=admin
    )
    assert response.status_code == 200, response.json()
    post(api, admin, ready.execution.id, boot="PASSED")
    assert flips(db_session) == []
    assert verdict(db_session, ready.artefact.id) == "ready"


@pytest.mark.usefixtures("subscribed")
def test_declaring_and_withdrawing_expected_environments_flip_it(
    api: TestClient, admin: dict[str, str], db_session: Session
) -> None:
    ready = ready_artefact(db_session)
    declaration = {"family": "snap", "artefact_name": ready.artefact.name}
    declared = api.put(
        "/v1/expected-environments",
        json={**declaration, "environments": [ready.environment.name, "elsewhere"]},
        headers=admin,
    )
    assert declared.status_code == 200, declared.json()
    assert flips(db_session) == [
        (ready.artefact.id, "ready", "not_ready", ["missing_environments"])
    ]
    withdrawn = api.delete("/v1/expected-environments", params=declaration, headers=admin)
    assert withdrawn.status_code == 204
    assert flips(db_session)[1:] == [(ready.artefact.id, "not_ready", "ready", [])]


def test_an_artefact_nobody_listens_for_costs_one_statement(
    api: TestClient, admin: dict[str, str], db_session: Session, engine: Engine
) -> None:
    subscribe(api, admin, URL, event_types=["artefact.readiness_changed"], families=["deb"])
    ready = ready_artefact(db_session)
    with count_statements(engine) as counter:
        post(api, admin, ready.execution.id, wifi="FAILED")
    readiness = [s for s in counter.statements if "readiness_verdict" in s]
    # The lock statement finds no artefact a webhook wants: nothing computed, nothing stored.
    assert len(readiness) == 1
    assert flips(db_session) == []
    assert verdict(db_session, ready.artefact.id) == "ready"


def test_without_a_subscriber_the_verdict_is_not_computed(
    api: TestClient, admin: dict[str, str], db_session: Session, engine: Engine
) -> None:
    ready = ready_artefact(db_session)
    with count_statements(engine) as counter:
        post(api, admin, ready.execution.id, wifi="FAILED")
    assert [s for s in counter.statements if "readiness_verdict" in s] == []
    assert verdict(db_session, ready.artefact.id) == "ready"


@pytest.mark.usefixtures("subscribed")
def test_a_verdict_never_recorded_is_recorded_without_an_event(
    api: TestClient, admin: dict[str, str], db_session: Session
) -> None:
    ready = ready_artefact(db_session)
    announced(db_session, ready.artefact.id, None)
    post(api, admin, ready.execution.id, wifi="FAILED")
    assert flips(db_session) == []
    assert verdict(db_session, ready.artefact.id) == "not_ready"


@pytest.mark.usefixtures("subscribed")
def test_concurrent_writers_announce_one_flip_once(db_session: Session, engine: Engine) -> None:
    """Two uploads of failures to two executions of a ready artefact, the second while the
    first has computed its verdict but not committed: the second waits for the artefact's row,
    then sees the first's failure and the verdict it recorded."""
    ready = ready_artefact(db_session)
    pi5 = make_environment(db_session, name="pi5")
    other = make_execution(db_session, ready.build, pi5)
    make_review(db_session, ready.build, pi5, review_decision=APPROVED)
    db_session.commit()
    sessions = make_session_factory(engine)
    first_computed = threading.Event()
    release_first = threading.Event()
    errors: list[BaseException] = []

    def first() -> None:
        try:
            with sessions.begin() as session:
                post_results(session, ready.execution.id, [failure("wifi")])
                first_computed.set()
                release_first.wait(10)
        except BaseException as error:
            errors.append(error)
            first_computed.set()

    def second() -> None:
        try:
            with sessions.begin() as session:
                post_results(session, other.id, [failure("audio")])
        except BaseException as error:
            errors.append(error)

    one = threading.Thread(target=first)
    one.start()
    assert first_computed.wait(10)
    two = threading.Thread(target=second)
    two.start()
    two.join(1)
    # The second is waiting for the first's lock on the artefact.
    assert two.is_alive()
    release_first.set()
    one.join(10)
    two.join(10)
    assert errors == []
    assert flips(db_session) == [(ready.artefact.id, "ready", "not_ready", ["untriaged_failures"])]


def failure(name: str) -> TestResultRequest:
    # Distinct logs: failures with one signature would make the writers take turns on it.
    return TestResultRequest(name=name, status=F, io_log=f"{name} is broken")


def test_chat_lines_name_the_verdicts_and_the_regressions() -> None:
    about = {"name": "core22", "version": "2", "family": "snap", "stage": "beta", "url": "u"}
    readiness = {
        "artefact": about,
        "previous_verdict": "ready",
        "verdict": "not_ready",
        "reasons": ["regressions"],
    }
    ended = {
        "artefact": about,
        "test_execution": {
            "test_plan": "smoke",
            "environment": "rpi4",
            "architecture": "arm64",
            "status": "FAILED",
        },
        "results": {"passed": 9, "failed": 2, "skipped": 0},
        "regressions": 1,
    }

    def line(kind: str, data: dict[str, Any]) -> str:
        return summary({"type": kind, "data": data}, lambda label, url: f"[{label}]")

    assert line("artefact.readiness_changed", readiness) == (
        "[core22 2] (snap, beta): readiness ready \N{RIGHTWARDS ARROW} not_ready (regressions)"
    )
    assert line("test_execution.ended", ended) == (
        "[core22 2] (snap, beta): smoke on rpi4 (arm64) ended FAILED: 9 passed, 2 failed, "
        "0 skipped, 1 regression"
    )


@pytest.mark.usefixtures("subscribed")
def test_an_artefact_still_held_back_by_a_review_is_not_compared_again(
    api: TestClient, admin: dict[str, str], db_session: Session, engine: Engine
) -> None:
    ready = ready_artefact(db_session)
    db_session.execute(
        update(ArtefactBuildEnvironmentReview)
        .where(ArtefactBuildEnvironmentReview.id == ready.review.id)
        .values(review_decision=[])
    )
    announced(db_session, ready.artefact.id, "not_ready")
    with count_statements(engine) as counter:
        post(api, admin, ready.execution.id, wifi="FAILED")
    assert [s for s in counter.statements if "classified" in s] == []
    # Decided, the failure still holds it back; triaged, the full rule finds it ready.
    path = f"/v1/artefacts/{ready.artefact.id}/environment-reviews/{ready.review.id}"
    assert (
        api.patch(path, json={"review_decision": [APPROVED[0].value]}, headers=admin).status_code
        == 200
    )
    assert flips(db_session) == []
    known = issue(db_session)
    failed = db_session.scalars(select(TestResult.id).where(TestResult.status == F)).all()
    body = {"test_results": list(failed)}
    assert api.post(f"/v1/issues/{known.id}/attach", json=body, headers=admin).status_code == 200
    assert flips(db_session) == [(ready.artefact.id, "not_ready", "ready", [])]
