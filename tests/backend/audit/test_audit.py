"""The audit trail: every privileged change is recorded in its own transaction with its actor;
`GET /v1/audit-events` filters and pages it."""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from test_observer.db.models import (
    ArtefactBuildEnvironmentReviewDecision,
    ArtefactStatus,
    AuditEvent,
    Permission,
    User,
)
from tests.backend.factories import make_artefact, make_build, make_environment, make_review
from tests.backend.principals import application_headers, make_user, user_headers
from tests.backend.statements import count_statements

Json = dict[str, Any]
APPROVED = [ArtefactBuildEnvironmentReviewDecision.APPROVED_ALL_TESTS_PASS.value]


def audit(
    api: TestClient, db_session: Session, path: str = "/v1/audit-events", **params: Any
) -> Json:
    headers = application_headers(
        db_session, Permission.view_audit, name=f"auditor-{secrets.token_hex(4)}"
    )
    response = api.get(path, params=params, headers=headers)
    assert response.status_code == 200, response.text
    body: Json = response.json()
    return body


def actions(db_session: Session) -> list[tuple[str, str, str | None]]:
    db_session.expire_all()
    return [
        (event.action, event.actor_kind, event.actor_name)
        for event in db_session.scalars(select(AuditEvent).order_by(AuditEvent.id))
    ]


def test_identity_changes_are_recorded_with_their_actor(
    api: TestClient, db_session: Session
) -> None:
    admin = user_headers(db_session, "root@example.com", is_admin=True)
    root = "root@example.com"
    app = api.post(
        "/v1/applications", json={"name": "ci", "permissions": ["view_test"]}, headers=admin
    ).json()
    api.patch(f"/v1/applications/{app['id']}", json={"permissions": []}, headers=admin)
    api.post(f"/v1/applications/{app['id']}/rotate", headers=admin)
    api.delete(f"/v1/applications/{app['id']}", headers=admin)
    team = api.post("/v1/teams", json={"name": "t", "permissions": ["view_test"]}, headers=admin)
    bob = make_user(db_session, "bob@example.com")
    team_id = team.json()["id"]
    api.patch(f"/v1/teams/{team_id}", json={"permissions": []}, headers=admin)
    api.post(f"/v1/teams/{team_id}/members/{bob.id}", headers=admin)
    api.delete(f"/v1/teams/{team_id}/members/{bob.id}", headers=admin)
    api.patch(f"/v1/users/{bob.id}", json={"is_admin": True}, headers=admin)
    rule = api.post(
        "/v1/artefact-matching-rules",
        json={"family": "snap", "team_ids": [team_id], "grant_permissions": ["change_test"]},
        headers=admin,
    ).json()
    api.delete(f"/v1/artefact-matching-rules/{rule['id']}", headers=admin)
    assert actions(db_session) == [
        ("application.created", "user", root),
        ("application.permissions_changed", "user", root),
        ("application.key_rotated", "user", root),
        ("application.deleted", "user", root),
        ("team.created", "user", root),
        ("team.changed", "user", root),
        ("team.member_added", "user", root),
        ("team.member_removed", "user", root),
        ("user.admin_changed", "user", root),
        ("artefact_matching_rule.created", "user", root),
        ("artefact_matching_rule.deleted", "user", root),
    ]


def test_an_application_is_recorded_as_the_actor(api: TestClient, db_session: Session) -> None:
    headers = application_headers(db_session, Permission.add_application, name="provisioner")
    api.post("/v1/applications", json={"name": "new", "permissions": []}, headers=headers)
    own = api.post("/v1/applications/me/rotate", headers=headers)
    assert own.status_code == 200
    assert actions(db_session) == [
        ("application.created", "application", "provisioner"),
        ("application.key_rotated", "application", "provisioner"),
    ]


def test_refused_changes_leave_no_event(api: TestClient, db_session: Session) -> None:
    headers = application_headers(db_session, Permission.add_application)
    response = api.post(
        "/v1/applications", json={"name": "x", "permissions": ["change_user"]}, headers=headers
    )
    assert response.status_code == 403
    assert actions(db_session) == []


def test_artefact_sign_off_and_reviews_are_recorded(api: TestClient, db_session: Session) -> None:
    artefact = make_artefact(db_session)
    build = make_build(db_session, artefact)
    reviews = [
        make_review(db_session, build, make_environment(db_session, f"e{n}")) for n in range(3)
    ]
    db_session.commit()
    reviewer = make_user(
        db_session,
        "rev@example.com",
        permissions=[Permission.change_artefact, Permission.change_environment_review],
    )
    from tests.backend.principals import login, session_headers

    headers = session_headers(login(db_session, reviewer))
    bulk = api.patch(
        f"/v1/artefacts/{artefact.id}/environment-reviews",
        json=[{"id": review.id, "review_decision": APPROVED} for review in reviews],
        headers=headers,
    )
    assert bulk.status_code == 200
    # Unchanged on a second pass: nothing more is recorded.
    api.patch(
        f"/v1/artefacts/{artefact.id}/environment-reviews/{reviews[0].id}",
        json={"review_decision": APPROVED},
        headers=headers,
    )
    patched = api.patch(
        f"/v1/artefacts/{artefact.id}",
        json={"status": ArtefactStatus.APPROVED.value, "reviewer_ids": [reviewer.id]},
        headers=headers,
    )
    assert patched.status_code == 200, patched.text
    trail = audit(api, db_session, f"/v1/artefacts/{artefact.id}/audit-events")
    assert trail["count"] == 4
    newest = trail["events"][0]
    assert newest["action"] == "artefact.changed"
    assert newest["before"] == {"status": "UNDECIDED", "reviewer_ids": []}
    assert newest["after"] == {"status": "APPROVED", "reviewer_ids": [reviewer.id]}
    assert {e["target_id"] for e in trail["events"][1:]} == {str(r.id) for r in reviews}
    assert all(e["actor"]["user_id"] == reviewer.id for e in trail["events"])


def test_a_bulk_review_writes_its_events_in_one_statement(
    api: TestClient, db_session: Session, engine: Engine
) -> None:
    artefact = make_artefact(db_session)
    build = make_build(db_session, artefact)
    reviews = [
        make_review(db_session, build, make_environment(db_session, f"e{n}")) for n in range(40)
    ]
    db_session.commit()
    headers = user_headers(
        db_session, "rev@example.com", permissions=[Permission.change_environment_review]
    )
    body = [{"id": review.id, "review_decision": APPROVED} for review in reviews]
    with count_statements(engine) as counter:
        response = api.patch(
            f"/v1/artefacts/{artefact.id}/environment-reviews", json=body, headers=headers
        )
    assert response.status_code == 200
    inserts = [s for s in counter.statements if s.startswith("INSERT INTO audit_event")]
    assert len(inserts) == 1
    assert db_session.scalar(select(func.count()).select_from(AuditEvent)) == 40


def test_attachment_rules_are_recorded(api: TestClient, db_session: Session) -> None:
    headers = user_headers(
        db_session,
        "triager@example.com",
        permissions=[Permission.change_issue, Permission.change_attachment_rule],
    )
    issue = api.put(
        "/v1/issues", json={"url": "https://github.com/acme/widgets/issues/1"}, headers=headers
    )
    assert issue.status_code == 200, issue.text
    url = f"/v1/issues/{issue.json()['id']}/attachment-rules"
    rule = api.post(url, json={"families": ["snap"]}, headers=headers).json()
    api.patch(f"{url}/{rule['id']}", json={"enabled": False}, headers=headers)
    api.delete(f"{url}/{rule['id']}", headers=headers)
    assert [action for action, _, _ in actions(db_session)] == [
        "attachment_rule.created",
        "attachment_rule.changed",
        "attachment_rule.deleted",
    ]


def test_filters_and_pages(api: TestClient, db_session: Session) -> None:
    admin = user_headers(db_session, "root@example.com", is_admin=True)
    for name in ("a", "b", "c"):
        api.post("/v1/applications", json={"name": name, "permissions": []}, headers=admin)
    api.post("/v1/teams", json={"name": "t"}, headers=admin)
    root = db_session.scalar(select(User).where(User.email == "root@example.com"))
    assert root is not None

    everything = audit(api, db_session)
    assert everything["count"] == 4
    assert everything["events"][0]["action"] == "team.created"  # newest first
    page = audit(api, db_session, target_type="application", limit=2, offset=2)
    assert (page["count"], len(page["events"]), page["limit"], page["offset"]) == (3, 1, 2, 2)
    first_app = everything["events"][-1]["target_id"]
    one = audit(api, db_session, target_type="application", target_id=first_app)
    assert [e["after"]["name"] for e in one["events"]] == ["a"]
    assert audit(api, db_session, actor_user_id=root.id)["count"] == 4
    assert audit(api, db_session, actor_user_id=root.id + 1)["count"] == 0
    assert audit(api, db_session, actor_kind="system")["count"] == 0
    oldest = everything["events"][-1]["created_at"]
    newest = everything["events"][0]["created_at"]
    assert audit(api, db_session, since=oldest)["count"] == 4
    assert audit(api, db_session, until=oldest)["count"] == 0
    assert audit(api, db_session, since=newest)["count"] >= 1
    assert audit(api, db_session, until=newest)["count"] <= 3
    assert (
        audit(api, db_session, since="2000-01-01T00:00:00Z", until="2001-01-01T00:00:00Z")["count"]
        == 0
    )


def test_bad_filters_are_422(api: TestClient, db_session: Session) -> None:
    headers = application_headers(db_session, Permission.view_audit)
    for params in ({"limit": 0}, {"since": "yesterday"}, {"actor_kind": "robot"}):
        assert api.get("/v1/audit-events", params=params, headers=headers).status_code == 422


def test_times_at_the_edge_of_the_calendar_are_no_error(
    api: TestClient, db_session: Session
) -> None:
    headers = application_headers(db_session, Permission.view_audit)
    for params in (
        {"since": "0001-01-01T00:00:00+05:00"},
        {"until": "9999-12-31T23:59:59-05:00"},
    ):
        response = api.get("/v1/audit-events", params=params, headers=headers)
        assert response.status_code == 200, response.text
