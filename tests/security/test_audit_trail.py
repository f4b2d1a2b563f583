"""Every privileged change is on record with its actor, and the record cannot be rewritten.

Before the audit trail nobody could answer "who gave this key that permission?" or "who
approved this environment?", and there was nothing to protect.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from test_observer.audit.service import prune_audit_events, record_audit_event
from test_observer.db.models import (
    ArtefactBuildEnvironmentReviewDecision,
    Permission,
    TestCase,
    User,
)
from tests.backend.factories import make_artefact, make_build, make_environment, make_review
from tests.backend.principals import application_headers, user_headers


def test_who_gave_this_key_that_permission(api: TestClient, db_session: Session) -> None:
    admin = user_headers(db_session, "root@example.com", is_admin=True)
    created = api.post(
        "/v1/applications", json={"name": "ci", "permissions": ["view_test"]}, headers=admin
    ).json()
    api.patch(
        f"/v1/applications/{created['id']}",
        json={"permissions": ["view_test", "change_test"]},
        headers=admin,
    )
    auditor = application_headers(db_session, Permission.view_audit, name="auditor")
    events = api.get(
        "/v1/audit-events",
        params={"target_type": "application", "target_id": created["id"]},
        headers=auditor,
    ).json()["events"]
    change = next(e for e in events if e["action"] == "application.permissions_changed")
    assert change["actor"]["kind"] == "user"
    assert change["actor"]["name"] == "root@example.com"
    assert change["before"] == {"permissions": ["view_test"]}
    assert change["after"] == {"permissions": ["view_test", "change_test"]}


def test_who_approved_this_environment(api: TestClient, db_session: Session) -> None:
    artefact = make_artefact(db_session)
    review = make_review(db_session, make_build(db_session, artefact), make_environment(db_session))
    db_session.commit()
    reviewer = user_headers(
        db_session, "rev@example.com", permissions=[Permission.change_environment_review]
    )
    decision = [ArtefactBuildEnvironmentReviewDecision.APPROVED_ALL_TESTS_PASS.value]
    response = api.patch(
        f"/v1/artefacts/{artefact.id}/environment-reviews/{review.id}",
        json={"review_decision": decision},
        headers=reviewer,
    )
    assert response.status_code == 200
    auditor = application_headers(db_session, Permission.view_audit, name="auditor")
    events = api.get(f"/v1/artefacts/{artefact.id}/audit-events", headers=auditor).json()
    [event] = events["events"]
    assert event["target_type"] == "environment_review"
    assert event["target_id"] == str(review.id)
    assert event["actor"]["name"] == "rev@example.com"
    assert event["after"] == {"review_decision": decision}


def test_the_trail_needs_view_audit(api: TestClient, db_session: Session) -> None:
    others = [p for p in Permission if p is not Permission.view_audit]
    headers = application_headers(db_session, *others)
    assert api.get("/v1/audit-events", headers=headers).status_code == 403
    assert api.get("/v1/artefacts/1/audit-events", headers=headers).status_code == 403


def _one_event(db_session: Session) -> int:
    record_audit_event(db_session, None, "test.recorded", "test", 1, after={"n": 1})
    db_session.commit()
    return int(db_session.scalar(text("SELECT max(id) FROM audit_event")) or 0)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_event SET actor_name = 'someone else'",
        "DELETE FROM audit_event",
    ],
)
def test_refused_rewriting_the_trail(db_session: Session, statement: str) -> None:
    """The service's own database role cannot edit or erase the record."""
    _one_event(db_session)
    with pytest.raises(DBAPIError, match="append-only"):
        db_session.execute(text(statement))
    db_session.rollback()
    assert db_session.scalar(text("SELECT count(*) FROM audit_event")) == 1


def test_refused_pruning_recent_events_by_setting_the_horizon(db_session: Session) -> None:
    """The pruning horizon is a transaction-local setting anyone can set: the trigger refuses
    a horizon newer than 30 days, so recent events cannot be deleted that way."""
    _one_event(db_session)
    tomorrow = datetime.now(UTC).replace(tzinfo=None) + timedelta(days=1)
    db_session.execute(
        text("SELECT set_config('test_observer.audit_prune_before', :value, true)"),
        {"value": tomorrow.isoformat(sep=" ")},
    )
    with pytest.raises(DBAPIError, match="append-only"):
        db_session.execute(text("DELETE FROM audit_event"))
    db_session.rollback()
    assert db_session.scalar(text("SELECT count(*) FROM audit_event")) == 1


def test_retention_prunes_only_events_older_than_the_horizon(db_session: Session) -> None:
    # Events are created "in the past" by a superuser-free route: the row's default time is
    # the transaction's, so an old event is written with an explicit created_at.
    for days_ago in (500, 10):
        db_session.execute(
            text(
                "INSERT INTO audit_event (created_at, actor_kind, action, target_type, target_id)"
                " VALUES (timezone('utc', now()) - make_interval(days => :days), 'system',"
                " 'test.recorded', 'test', :days)"
            ),
            {"days": days_ago},
        )
    db_session.commit()
    assert prune_audit_events(db_session, 400) == 1
    db_session.commit()
    left = db_session.scalars(text("SELECT target_id FROM audit_event")).all()
    assert left == ["10"]
    # The setting was local to that transaction: deleting the rest is refused again.
    with pytest.raises(DBAPIError, match="append-only"):
        db_session.execute(text("DELETE FROM audit_event"))
    db_session.rollback()
    assert db_session.get(User, 1) is None


def test_quarantines_expectations_and_webhooks_are_on_record(
    api: TestClient, db_session: Session
) -> None:
    db_session.add(TestCase(name="wifi/connect", category=""))
    db_session.commit()
    admin = user_headers(db_session, "lead@example.com", is_admin=True)
    calls = [
        api.put(
            "/v1/quarantines",
            json={"test_case": "wifi/connect", "reason": "firmware bug"},
            headers=admin,
        ),
        api.delete("/v1/quarantines", params={"test_case": "wifi/connect"}, headers=admin),
        api.put(
            "/v1/expected-environments",
            json={"family": "deb", "artefact_name": "linux", "environments": ["rpi4"]},
            headers=admin,
        ),
        api.delete(
            "/v1/expected-environments",
            params={"family": "deb", "artefact_name": "linux"},
            headers=admin,
        ),
        api.post(
            "/v1/webhooks",
            json={"url": "https://hooks.example.com/x", "event_types": ["artefact.status_changed"]},
            headers=admin,
        ),
    ]
    assert [call.status_code for call in calls] == [200, 200, 200, 204, 201]
    webhook_id = calls[-1].json()["id"]
    assert (
        api.patch(
            f"/v1/webhooks/{webhook_id}", json={"secret": "s" * 32}, headers=admin
        ).status_code
        == 200
    )
    assert api.delete(f"/v1/webhooks/{webhook_id}", headers=admin).status_code == 204

    auditor = application_headers(db_session, Permission.view_audit, name="auditor")
    events = api.get("/v1/audit-events", params={"limit": 100}, headers=auditor).json()["events"]
    actions = {event["action"]: event for event in events}
    for action in (
        "quarantine.set",
        "quarantine.lifted",
        "expected_environments.declared",
        "expected_environments.withdrawn",
        "webhook.created",
        "webhook.updated",
        "webhook.deleted",
    ):
        assert actions[action]["actor"]["name"] == "lead@example.com", action
    # A webhook's secret is never written to the trail.
    assert "s" * 32 not in str(events)
    assert actions["webhook.updated"]["after"]["secret_changed"] is True
