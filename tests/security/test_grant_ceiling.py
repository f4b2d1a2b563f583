"""Nobody can grant, or obtain, a permission they do not hold.

Each `test_refused_*` is an escalation the service allowed before the grant ceiling: a key with
`add_application`, `change_application` or `change_team` alone could turn itself into every
permission. Each `test_admin_*` is the legitimate workflow that must keep working.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from test_observer.db.models import Application, Permission, Team, User
from tests.backend.principals import (
    application_headers,
    bearer,
    make_application,
    make_user,
    user_headers,
)

Headers = dict[str, str]
EVERYTHING = [permission.value for permission in Permission]


def _detail(response: object) -> str:
    return str(response.json()["detail"])  # type: ignore[attr-defined]


def test_refused_add_application_creating_a_key_with_more_permissions(
    api: TestClient, db_session: Session
) -> None:
    headers = application_headers(db_session, Permission.add_application)
    response = api.post(
        "/v1/applications",
        json={"name": "master-key", "permissions": ["change_user", "add_application"]},
        headers=headers,
    )
    assert response.status_code == 403
    # The detail names what is missing, and only that.
    assert _detail(response) == (
        "Cannot grant permissions without holding these permissions: change_user"
    )
    assert db_session.scalar(select(Application).where(Application.name == "master-key")) is None


def test_add_application_may_grant_what_it_holds(api: TestClient, db_session: Session) -> None:
    headers = application_headers(db_session, Permission.add_application, Permission.change_test)
    response = api.post(
        "/v1/applications",
        json={"name": "reporter", "permissions": ["change_test"]},
        headers=headers,
    )
    assert response.status_code == 200
    assert response.json()["permissions"] == ["change_test"]


def test_refused_change_application_raising_its_own_permissions(
    api: TestClient, db_session: Session
) -> None:
    application, key = make_application(db_session, "ci", [Permission.change_application])
    response = api.patch(
        f"/v1/applications/{application.id}",
        json={"permissions": EVERYTHING},
        headers=bearer(key),
    )
    assert response.status_code == 403
    assert "change_user" in _detail(response)
    db_session.refresh(application)
    assert application.permissions == [Permission.change_application]


def test_refused_change_application_rotating_a_more_privileged_key(
    api: TestClient, db_session: Session
) -> None:
    """Rotation answers the new key in clear: rotating an admin-level key is taking it."""
    powerful, powerful_key = make_application(db_session, "deployer", list(Permission))
    headers = application_headers(db_session, Permission.change_application, name="attacker")
    response = api.post(f"/v1/applications/{powerful.id}/rotate", headers=headers)
    assert response.status_code == 403
    assert "api_key" not in response.json()
    # The victim's key still works: nothing was rotated.
    assert api.get("/v1/applications/me", headers=bearer(powerful_key)).status_code == 200


def test_refused_change_application_patching_or_deleting_a_more_privileged_application(
    api: TestClient, db_session: Session
) -> None:
    powerful, _ = make_application(db_session, "deployer", [Permission.change_user])
    headers = application_headers(db_session, Permission.change_application, name="attacker")
    patched = api.patch(
        f"/v1/applications/{powerful.id}", json={"permissions": []}, headers=headers
    )
    assert patched.status_code == 403
    assert _detail(patched) == (
        f"Cannot act on application {powerful.id} without holding these permissions: change_user"
    )
    assert api.delete(f"/v1/applications/{powerful.id}", headers=headers).status_code == 403
    assert db_session.get(Application, powerful.id) is not None


def test_change_application_may_act_on_an_application_within_its_permissions(
    api: TestClient, db_session: Session
) -> None:
    modest, _ = make_application(db_session, "reporter", [Permission.change_test])
    headers = application_headers(
        db_session, Permission.change_application, Permission.change_test, name="operator"
    )
    url = f"/v1/applications/{modest.id}"
    assert api.patch(url, json={"permissions": []}, headers=headers).status_code == 200
    assert api.post(f"{url}/rotate", headers=headers).status_code == 200
    assert api.delete(url, headers=headers).status_code == 204


def test_refused_change_team_creating_a_team_with_more_permissions(
    api: TestClient, db_session: Session
) -> None:
    headers = user_headers(db_session, permissions=[Permission.change_team])
    response = api.post(
        "/v1/teams", json={"name": "admins", "permissions": ["change_user"]}, headers=headers
    )
    assert response.status_code == 403
    assert "change_user" in _detail(response)
    assert db_session.scalar(select(Team).where(Team.name == "admins")) is None


def test_refused_change_team_granting_through_a_matching_rule(
    api: TestClient, db_session: Session
) -> None:
    """A rule's `grant_permissions` reach every member of its teams: a grant like any other."""
    headers = user_headers(db_session, permissions=[Permission.change_team])
    own_team = db_session.scalar(select(Team))
    assert own_team is not None
    rule = {"family": "snap", "grant_permissions": ["change_artefact"]}
    in_team = api.post(
        "/v1/teams", json={"name": "signers", "artefact_matching_rules": [rule]}, headers=headers
    )
    assert in_team.status_code == 403
    direct = api.post(
        "/v1/artefact-matching-rules", json={**rule, "team_ids": [own_team.id]}, headers=headers
    )
    assert direct.status_code == 403
    assert "change_artefact" in _detail(direct)


def test_refused_change_team_joining_a_privileged_team(
    api: TestClient, db_session: Session
) -> None:
    privileged = Team(name="admins", permissions=[Permission.change_user])
    db_session.add(privileged)
    db_session.commit()
    attacker = make_user(db_session, "mallory@example.com", permissions=[Permission.change_team])
    headers = user_headers(db_session, "other@example.com", permissions=[Permission.change_team])
    # Any caller with change_team alone: neither themself nor someone else may be put in it.
    response = api.post(f"/v1/teams/{privileged.id}/members/{attacker.id}", headers=headers)
    assert response.status_code == 403
    assert "change_user" in _detail(response)
    raised = api.patch(
        f"/v1/teams/{privileged.id}", json={"permissions": ["change_team"]}, headers=headers
    )
    assert raised.status_code == 403


def test_change_team_may_manage_teams_within_its_permissions(
    api: TestClient, db_session: Session
) -> None:
    headers = user_headers(db_session, permissions=[Permission.change_team, Permission.view_test])
    user = make_user(db_session, "bob@example.com")
    created = api.post(
        "/v1/teams", json={"name": "viewers", "permissions": ["view_test"]}, headers=headers
    )
    assert created.status_code == 201
    team_id = created.json()["id"]
    added = api.post(f"/v1/teams/{team_id}/members/{user.id}", headers=headers)
    assert added.status_code == 200
    assert [member["id"] for member in added.json()["members"]] == [user.id]
    assert api.delete(f"/v1/teams/{team_id}/members/{user.id}", headers=headers).status_code == 200


def test_admin_grants_anything(api: TestClient, db_session: Session) -> None:
    admin = user_headers(db_session, "root@example.com", is_admin=True)
    created = api.post(
        "/v1/applications", json={"name": "deployer", "permissions": EVERYTHING}, headers=admin
    )
    assert created.status_code == 200
    application_id = created.json()["id"]
    url = f"/v1/applications/{application_id}"
    assert api.patch(url, json={"permissions": ["view_test"]}, headers=admin).status_code == 200
    assert api.post(f"{url}/rotate", headers=admin).status_code == 200
    assert api.delete(url, headers=admin).status_code == 204

    team = api.post(
        "/v1/teams",
        json={
            "name": "admins",
            "permissions": EVERYTHING,
            "artefact_matching_rules": [{"family": "snap", "grant_permissions": ["change_rerun"]}],
        },
        headers=admin,
    )
    assert team.status_code == 201
    member = make_user(db_session, "new@example.com")
    joined = api.post(f"/v1/teams/{team.json()['id']}/members/{member.id}", headers=admin)
    assert joined.status_code == 200


@pytest.mark.parametrize("ignored", [[Permission.change_user], []])
def test_ignored_permissions_count_as_held(
    make_client: Callable[..., TestClient], db_session: Session, ignored: list[Permission]
) -> None:
    """IGNORE_PERMISSIONS already gives everyone the permission; granting it gives no more."""
    from tests.backend.principals import SESSIONS_SECRET

    api = make_client(sessions_secret=SESSIONS_SECRET, ignore_permissions=frozenset(ignored))
    headers = application_headers(db_session, Permission.add_application)
    response = api.post(
        "/v1/applications", json={"name": "new", "permissions": ["change_user"]}, headers=headers
    )
    assert response.status_code == (200 if ignored else 403)


def test_only_admins_link_a_team_to_launchpad(api: TestClient, db_session: Session) -> None:
    team = Team(name="reviewers")
    db_session.add(team)
    db_session.commit()
    headers = user_headers(db_session, permissions=[Permission.change_team])
    link = {"launchpad_team": "canonical-reviewers"}
    assert api.patch(f"/v1/teams/{team.id}", json=link, headers=headers).status_code == 403
    admin = user_headers(db_session, "root@example.com", is_admin=True)
    linked = api.patch(f"/v1/teams/{team.id}", json=link, headers=admin)
    assert linked.status_code == 200
    assert linked.json()["launchpad_team"] == "canonical-reviewers"
    # A linked team's members come from Launchpad, not from the API.
    user = db_session.scalar(select(User).where(User.email == "root@example.com"))
    assert user is not None
    refused = api.post(f"/v1/teams/{team.id}/members/{user.id}", headers=admin)
    assert refused.status_code == 409


def test_refused_change_team_reusing_a_granting_rule_through_an_empty_spec(
    api: TestClient, db_session: Session
) -> None:
    """A team's rule spec equal to an existing rule links the team to that rule: with all the
    permissions the rule already grants to its other teams."""
    admin = user_headers(db_session, "root@example.com", is_admin=True)
    signers = api.post(
        "/v1/teams",
        json={
            "name": "signers",
            "artefact_matching_rules": [
                {"family": "snap", "grant_permissions": ["change_artefact"]}
            ],
        },
        headers=admin,
    )
    assert signers.status_code == 201
    headers = user_headers(db_session, permissions=[Permission.change_team])
    own_team = db_session.scalar(select(Team).where(Team.name == "team-of-ada@example.com"))
    assert own_team is not None
    response = api.patch(
        f"/v1/teams/{own_team.id}",
        json={"artefact_matching_rules": [{"family": "snap"}]},
        headers=headers,
    )
    assert response.status_code == 403
    assert "change_artefact" in _detail(response)
    created = api.post(
        "/v1/teams",
        json={"name": "sneaky", "artefact_matching_rules": [{"family": "snap"}]},
        headers=headers,
    )
    assert created.status_code == 403
    assert db_session.scalar(select(Team).where(Team.name == "sneaky")) is None
