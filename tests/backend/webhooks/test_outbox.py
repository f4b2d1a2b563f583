"""The outbox: each change writes its events in its own transaction, for the webhooks that
want them, in a fixed number of statements."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from test_observer.db.models import (
    ArtefactBuildEnvironmentReviewDecision,
    Issue,
    IssueSource,
    TestResultStatus,
    User,
    WebhookDelivery,
    WebhookEvent,
)
from test_observer.webhooks.events import Event, EventType, emit
from tests.backend.factories import (
    make_artefact,
    make_build,
    make_environment,
    make_execution,
    make_result,
    make_review,
)
from tests.backend.statements import count_statements
from tests.backend.webhooks.conftest import artefact, set_status, subscribe

pytestmark = pytest.mark.usefixtures("_empty_queue")
EVERY_EVENT = [event_type.value for event_type in EventType]
URL = "https://hooks.example.com/in"


def events(db_session: Session) -> list[tuple[str, dict[str, Any]]]:
    db_session.expire_all()
    return [
        (event.event_type, event.data)
        for event in db_session.scalars(
            select(WebhookEvent)
            .join(WebhookDelivery, WebhookDelivery.event_id == WebhookEvent.id)
            .order_by(WebhookDelivery.id)
        )
    ]


def end_test(api: TestClient, headers: dict[str, str], ci_link: str, **statuses: str) -> None:
    results = [
        {"name": name, "status": status, "category": "", "comment": "", "io_log": ""}
        for name, status in statuses.items()
    ]
    response = api.put(
        "/v1/test-executions/end-test",
        json={"ci_link": ci_link, "test_results": results},
        headers=headers,
    )
    assert response.status_code == 200, response.json()


def queued_jobs(engine: Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as connection:
        return [
            tuple(row)
            for row in connection.execute(
                text(
                    "SELECT task_name, lock, queueing_lock, args FROM procrastinate_jobs "
                    "WHERE status = 'todo' ORDER BY id"
                )
            )
        ]


def test_nothing_is_written_without_a_subscriber(
    api: TestClient, admin: dict[str, str], db_session: Session, engine: Engine
) -> None:
    subscribe(api, admin, URL, event_types=["issue.attached"])
    set_status(api, admin, artefact(db_session).id, "APPROVED")
    assert db_session.scalars(select(WebhookEvent)).all() == []
    assert queued_jobs(engine) == []


def test_a_change_writes_its_event_delivery_and_one_job_per_webhook(
    api: TestClient, admin: dict[str, str], db_session: Session, engine: Engine
) -> None:
    first = subscribe(api, admin, URL)
    second = subscribe(api, admin, URL)
    made = artefact(db_session)
    set_status(api, admin, made.id, "APPROVED")
    set_status(api, admin, made.id, "UNDECIDED")

    [(kind, data), _] = events(db_session)[::2]
    assert kind == "artefact.status_changed"
    assert data == {
        "artefact": {
            "id": made.id,
            "family": "snap",
            "name": "core22",
            "version": "20240101",
            "stage": "beta",
            "track": "22",
            "series": "",
            "os": "",
            "status": "APPROVED",
        },
        "previous_status": "UNDECIDED",
        "status": "APPROVED",
    }
    assert [(d.webhook_id, d.status) for d in db_session.scalars(select(WebhookDelivery))] == [
        (first["id"], "pending"),
        (second["id"], "pending"),
    ] * 2
    # One waiting job per webhook, however many deliveries wait.
    assert queued_jobs(engine) == [
        ("deliver-webhook", f"webhook:{w}", f"webhook:{w}", {"arguments": [str(w)]})
        for w in (first["id"], second["id"])
    ]


def test_a_rolled_back_change_leaves_no_event(
    api: TestClient, admin: dict[str, str], db_session: Session, engine: Engine
) -> None:
    subscribe(api, admin, URL, event_types=EVERY_EVENT)
    with Session(engine) as session, session.begin():
        emit(session, [Event(EventType.ISSUE_ATTACHED, {"n": 1})])
        session.rollback()
    assert events(db_session) == []
    assert queued_jobs(engine) == []


def test_filters_by_family_and_artefact_name(
    api: TestClient, admin: dict[str, str], db_session: Session
) -> None:
    snaps = subscribe(api, admin, URL, families=["snap"])
    named = subscribe(api, admin, URL, artefact_names=["docker"])
    everything = subscribe(api, admin, URL, event_types=EVERY_EVENT)
    snap = artefact(db_session, name="core22")
    deb = artefact(db_session, name="docker", family="deb", stage="proposed")
    set_status(api, admin, snap.id, "APPROVED")
    set_status(api, admin, deb.id, "APPROVED")
    with Session(db_session.get_bind()) as session, session.begin():
        emit(session, [Event(EventType.ISSUE_ATTACHED, {"n": 1})])

    db_session.expire_all()
    got = {
        (d.webhook_id, event_type)
        for d, event_type in db_session.execute(
            select(WebhookDelivery, WebhookEvent.data["artefact"]["name"].astext).join(WebhookEvent)
        )
    }
    assert got == {
        (snaps["id"], "core22"),
        (named["id"], "docker"),
        (everything["id"], "core22"),
        (everything["id"], "docker"),
        (everything["id"], None),
    }


def test_an_inactive_webhook_gets_nothing(
    api: TestClient, admin: dict[str, str], db_session: Session
) -> None:
    subscribe(api, admin, URL, active=False)
    set_status(api, admin, artefact(db_session).id, "APPROVED")
    assert events(db_session) == []


def test_reviewers_changed(api: TestClient, admin: dict[str, str], db_session: Session) -> None:
    subscribe(api, admin, URL, event_types=["artefact.reviewers_changed"])
    made = artefact(db_session)
    ann, bob = User(email="ann@example.com", name="Ann"), User(email="bob@example.com", name="Bob")
    db_session.add_all([ann, bob])
    db_session.commit()

    for reviewers in ([ann.id], [ann.id, bob.id], [ann.id, bob.id], [bob.id]):
        response = api.patch(
            f"/v1/artefacts/{made.id}", json={"reviewer_ids": reviewers}, headers=admin
        )
        assert response.status_code == 200, response.json()

    # The unchanged list wrote nothing.
    assert [
        (data["reviewers"], data["added"], data["removed"]) for _, data in events(db_session)
    ] == [
        ([{"id": ann.id, "name": "Ann"}], [ann.id], []),
        ([{"id": ann.id, "name": "Ann"}, {"id": bob.id, "name": "Bob"}], [bob.id], []),
        ([{"id": bob.id, "name": "Bob"}], [], [ann.id]),
    ]


def test_bulk_review_decisions_write_one_event_each_in_one_statement(
    api: TestClient, admin: dict[str, str], db_session: Session, engine: Engine
) -> None:
    subscribe(api, admin, URL, event_types=["environment_review.decided"])
    made = make_artefact(db_session)
    build = make_build(db_session, made)
    reviews = [
        make_review(db_session, build, make_environment(db_session, name=f"rpi{i}"))
        for i in range(5)
    ]
    db_session.commit()
    approved = ArtefactBuildEnvironmentReviewDecision.APPROVED_ALL_TESTS_PASS.value
    body = [{"id": review.id, "review_decision": [approved]} for review in reviews[:4]]
    body.append({"id": reviews[4].id, "review_comment": "no decision yet"})

    with count_statements(engine) as counter:
        response = api.patch(
            f"/v1/artefacts/{made.id}/environment-reviews", json=body, headers=admin
        )
    assert response.status_code == 200, response.json()

    written = events(db_session)
    assert [data["review"]["environment"] for _, data in written] == [f"rpi{i}" for i in range(4)]
    assert written[0][1]["review"] == {
        "id": reviews[0].id,
        "environment": "rpi0",
        "architecture": "amd64",
        "decision": [approved],
        "comment": "",
    }
    outbox = [s for s in counter.statements if "webhook_event" in s]
    assert len(outbox) == 1

    one = api.patch(
        f"/v1/artefacts/{made.id}/environment-reviews/{reviews[4].id}",
        json={"review_decision": ["REJECTED"]},
        headers=admin,
    )
    assert one.status_code == 200
    assert events(db_session)[-1][1]["review"]["decision"] == ["REJECTED"]


def test_an_ended_execution_reports_its_result_counts(
    api: TestClient, admin: dict[str, str], db_session: Session
) -> None:
    subscribe(api, admin, URL, event_types=["test_execution.ended"])
    made = make_artefact(db_session)
    execution = make_execution(
        db_session,
        make_build(db_session, made),
        make_environment(db_session),
        ci_link="https://ci/1",
    )
    db_session.commit()
    end_test(api, admin, "https://ci/1", a="pass", b="pass", c="fail", d="skip")

    [(kind, data)] = events(db_session)
    assert kind == "test_execution.ended"
    assert data["test_execution"] == {
        "id": execution.id,
        "status": "FAILED",
        "environment": "rpi4",
        "architecture": "amd64",
        "test_plan": "smoke",
        "ci_link": "https://ci/1",
        "c3_link": None,
    }
    assert data["results"] == {"passed": 2, "failed": 1, "skipped": 1}
    assert "regressions" not in data

    # A status set by hand to an ended one is announced too; to the same one, not again.
    other = make_execution(
        db_session,
        make_build(db_session, made, architecture="arm64"),
        make_environment(db_session, name="pi5"),
    )
    db_session.commit()
    for status in ("PASSED", "PASSED"):
        patched = api.patch(
            f"/v1/test-executions/{other.id}", json={"status": status}, headers=admin
        )
        assert patched.status_code == 200, patched.json()
    assert [data["test_execution"]["status"] for _, data in events(db_session)] == [
        "FAILED",
        "PASSED",
    ]


def test_a_bulk_attachment_is_one_event(
    api: TestClient, admin: dict[str, str], db_session: Session
) -> None:
    subscribe(api, admin, URL, event_types=["issue.attached"])
    made = make_artefact(db_session)
    build = make_build(db_session, made)
    executions = [
        make_execution(db_session, build, make_environment(db_session, name=f"e{i}"))
        for i in range(3)
    ]
    ids = [make_result(db_session, execution, f"t{i}").id for i, execution in enumerate(executions)]
    issue = Issue(source=IssueSource.GITHUB, project="canonical/x", key="7", title="Flaky")
    db_session.add(issue)
    db_session.commit()

    response = api.post(f"/v1/issues/{issue.id}/attach", json={"test_results": ids}, headers=admin)
    assert response.status_code == 200, response.json()
    again = api.post(f"/v1/issues/{issue.id}/attach", json={"test_results": ids}, headers=admin)
    assert again.status_code == 200

    # Attaching what is attached already is not news.
    [(kind, data)] = events(db_session)
    assert kind == "issue.attached"
    assert data == {
        "issue": {
            "id": issue.id,
            "source": "github",
            "project": "canonical/x",
            "key": "7",
            "title": "Flaky",
            "url": "https://github.com/canonical/x/issues/7",
        },
        "test_results_attached": 3,
        "test_executions": 3,
    }


def test_an_ended_execution_counts_the_regressions_of_its_cell_only(
    api: TestClient, admin: dict[str, str], db_session: Session, engine: Engine
) -> None:
    subscribe(api, admin, URL, event_types=["test_execution.ended"])
    passed, failed = TestResultStatus.PASSED, TestResultStatus.FAILED
    rpi, pi5 = make_environment(db_session, "rpi"), make_environment(db_session, "pi5")
    base_build = make_build(db_session, make_artefact(db_session, version="1"))
    older = make_execution(db_session, base_build, rpi)
    make_result(db_session, older, "b", passed)
    latest = make_execution(db_session, base_build, rpi)
    for name, status in [("a", passed), ("b", failed), ("c", failed)]:
        make_result(db_session, latest, name, status)
    make_result(db_session, make_execution(db_session, base_build, pi5), "x", passed)
    current_build = make_build(db_session, make_artefact(db_session, version="2"))
    # Another cell's regression is not this execution's.
    make_result(db_session, make_execution(db_session, current_build, pi5), "x", failed)
    make_execution(db_session, current_build, rpi, ci_link="https://ci/2")
    db_session.commit()
    with count_statements(engine) as counter:
        end_test(api, admin, "https://ci/2", a="fail", b="fail", c="fail", d="fail")
    # a passed in the base's latest run of the cell; b failed there; c too; d is new.
    [(_, data)] = events(db_session)
    assert data["regressions"] == 1
    assert len([s for s in counter.statements if "base_builds" in s]) == 1
