"""/v1/teams and /v1/artefact-matching-rules (rules U4-U10)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from test_observer.db.models import ArtefactMatchingRule, Permission
from tests.backend.principals import application_headers, make_user

Json = dict[str, Any]


@pytest.fixture
def headers(db_session: Session) -> dict[str, str]:
    # The caller holds every permission these tests grant: nobody grants what they do not hold.
    return application_headers(
        db_session,
        Permission.view_team,
        Permission.change_team,
        Permission.view_test,
        Permission.change_test,
        Permission.change_artefact,
        Permission.change_rerun,
    )


def create_team(
    api: TestClient, headers: dict[str, str], name: str = "hw-cert", **body: Any
) -> Json:
    response = api.post("/v1/teams", json={"name": name, **body}, headers=headers)
    assert response.status_code == 201, response.json()
    return response.json()  # type: ignore[no-any-return]


def rule_spec(**fields: Any) -> Json:
    return {"family": "snap", **fields}


def test_U4_create_team_defaults_and_duplicate(api: TestClient, headers: dict[str, str]) -> None:
    team = create_team(api, headers)
    assert team == {
        "id": team["id"],
        "name": "hw-cert",
        "permissions": [],
        "launchpad_team": None,
        "members": [],
        "artefact_matching_rules": [],
    }
    duplicate = api.post("/v1/teams", json={"name": "hw-cert"}, headers=headers)
    assert duplicate.status_code == 409
    assert "already exists" in duplicate.json()["detail"]
    assert duplicate.json()["detail"] == "Team with name 'hw-cert' already exists"
    assert api.post("/v1/teams", json={}, headers=headers).status_code == 422


def test_team_get_list_and_404(api: TestClient, headers: dict[str, str]) -> None:
    first = create_team(api, headers, "a", permissions=["view_test"])
    create_team(api, headers, "b")
    assert [t["name"] for t in api.get("/v1/teams", headers=headers).json()] == ["a", "b"]
    assert api.get(f"/v1/teams/{first['id']}", headers=headers).json() == first
    for method in ("GET", "PATCH"):
        missing = api.request(method, "/v1/teams/77", json={}, headers=headers)
        assert missing.status_code == 404
        assert missing.json() == {"detail": "Team 77 doesn't exist"}


def test_team_patch_replaces_permissions(api: TestClient, headers: dict[str, str]) -> None:
    team = create_team(api, headers, permissions=["view_test"])
    url = f"/v1/teams/{team['id']}"
    patched = api.patch(url, json={"permissions": ["change_test"]}, headers=headers).json()
    assert patched["permissions"] == ["change_test"]
    assert api.patch(url, json={}, headers=headers).json()["permissions"] == ["change_test"]
    assert api.patch(url, json={"permissions": []}, headers=headers).json()["permissions"] == []


def test_U5_members_add_and_remove_idempotently(
    api: TestClient, headers: dict[str, str], db_session: Session
) -> None:
    team = create_team(api, headers)
    user = make_user(db_session)
    url = f"/v1/teams/{team['id']}/members/{user.id}"
    for _ in range(2):
        added = api.post(url, headers=headers)
        assert added.status_code == 200
        assert [m["email"] for m in added.json()["members"]] == ["ada@example.com"]
        assert set(added.json()["members"][0]) == {
            "id",
            "launchpad_handle",
            "email",
            "name",
            "is_admin",
        }
    for _ in range(2):
        removed = api.delete(url, headers=headers)
        assert removed.status_code == 200
        assert removed.json()["members"] == []


def test_U5_members_of_unknown_team_or_user_are_404(
    api: TestClient, headers: dict[str, str], db_session: Session
) -> None:
    team = create_team(api, headers)
    user = make_user(db_session)
    for method in ("POST", "DELETE"):
        no_team = api.request(method, f"/v1/teams/99/members/{user.id}", headers=headers)
        assert no_team.status_code == 404
        assert no_team.json() == {"detail": "Team 99 doesn't exist"}
        no_user = api.request(method, f"/v1/teams/{team['id']}/members/99", headers=headers)
        assert no_user.status_code == 404
        assert no_user.json() == {"detail": "User 99 doesn't exist"}


def test_U6_identical_rules_are_shared_and_duplicates_ignored(
    api: TestClient, headers: dict[str, str]
) -> None:
    spec = rule_spec(stage="beta", grant_permissions=["change_artefact"])
    first = create_team(api, headers, "one", artefact_matching_rules=[spec, spec])
    second = create_team(api, headers, "two", artefact_matching_rules=[spec])
    assert len(first["artefact_matching_rules"]) == 1
    shared = first["artefact_matching_rules"][0]
    assert second["artefact_matching_rules"][0]["id"] == shared["id"]
    assert shared["stage"] == "beta"
    assert shared["track"] is None  # empty attributes are shown as null
    rules = api.get("/v1/artefact-matching-rules", headers=headers).json()
    assert len(rules) == 1
    assert [t["name"] for t in rules[0]["teams"]] == ["one", "two"]


def test_U7_rules_are_deleted_with_their_last_team(
    api: TestClient, headers: dict[str, str], db_session: Session
) -> None:
    shared = rule_spec(stage="beta")
    own = rule_spec(stage="edge")
    one = create_team(api, headers, "one", artefact_matching_rules=[shared, own])
    create_team(api, headers, "two", artefact_matching_rules=[shared])

    patched = api.patch(
        f"/v1/teams/{one['id']}", json={"artefact_matching_rules": []}, headers=headers
    )
    assert patched.json()["artefact_matching_rules"] == []
    stages = db_session.scalars(select(ArtefactMatchingRule.stage)).all()
    assert stages == ["beta"]


def test_U8_rule_updates_keep_team_permissions(api: TestClient, headers: dict[str, str]) -> None:
    team = create_team(api, headers, permissions=["view_test"])
    patched = api.patch(
        f"/v1/teams/{team['id']}",
        json={"artefact_matching_rules": [rule_spec(owner="canonical")]},
        headers=headers,
    ).json()
    assert patched["permissions"] == ["view_test"]
    assert patched["artefact_matching_rules"][0]["owner"] == "canonical"


def test_team_rule_replacement_is_set_based(
    api: TestClient, headers: dict[str, str], db_session: Session
) -> None:
    team = create_team(api, headers)
    specs = [rule_spec(stage=f"s{n}") for n in range(30)]
    statements: list[str] = []
    engine = db_session.get_bind()

    def count(*args: Any) -> None:
        statements.append(args[2])

    event.listen(engine, "before_cursor_execute", count)
    try:
        response = api.patch(
            f"/v1/teams/{team['id']}", json={"artefact_matching_rules": specs}, headers=headers
        )
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(response.json()["artefact_matching_rules"]) == 30
    assert len(statements) < 15


# --- /v1/artefact-matching-rules ---


def create_rule(api: TestClient, headers: dict[str, str], **body: Any) -> Any:
    return api.post("/v1/artefact-matching-rules", json=rule_spec(**body), headers=headers)


def test_U9_rule_creation(api: TestClient, headers: dict[str, str]) -> None:
    team = create_team(api, headers)
    created = create_rule(
        api, headers, team_ids=[team["id"]], track="latest", grant_permissions=["change_rerun"]
    )
    assert created.status_code == 201
    body = created.json()
    assert body["track"] == "latest"
    assert body["stage"] is None
    assert body["name"] is None
    assert body["teams"] == [{"id": team["id"], "name": "hw-cert"}]
    assert body["grant_permissions"] == ["change_rerun"]

    again = create_rule(api, headers, team_ids=[team["id"]], track="latest")
    assert again.status_code == 409
    assert again.json() == {"detail": "Artefact matching rule with these values already exists"}

    no_team = create_rule(api, headers, team_ids=[])
    assert no_team.status_code == 400
    assert no_team.json() == {"detail": "At least one team is required to create a matching rule"}
    unknown = create_rule(api, headers, team_ids=[team["id"], 999])
    assert unknown.status_code == 404
    assert unknown.json() == {"detail": "Team 999 doesn't exist"}
    assert create_rule(api, headers).status_code == 422  # team_ids is required


def test_rule_list_filter_and_get(api: TestClient, headers: dict[str, str]) -> None:
    team = create_team(api, headers)
    snap = create_rule(api, headers, team_ids=[team["id"]]).json()
    charm = api.post(
        "/v1/artefact-matching-rules",
        json={"family": "charm", "team_ids": [team["id"]]},
        headers=headers,
    ).json()
    listed = api.get("/v1/artefact-matching-rules?family=charm", headers=headers).json()
    assert [r["id"] for r in listed] == [charm["id"]]
    assert len(api.get("/v1/artefact-matching-rules", headers=headers).json()) == 2
    assert api.get(f"/v1/artefact-matching-rules/{snap['id']}", headers=headers).json() == snap
    missing = api.get("/v1/artefact-matching-rules/404", headers=headers)
    assert missing.status_code == 404
    assert missing.json() == {"detail": "Artefact matching rule 404 doesn't exist"}
    assert api.get("/v1/artefact-matching-rules?family=rpm", headers=headers).status_code == 422
    # Team responses list their rules too.
    team_rules = api.get(f"/v1/teams/{team['id']}", headers=headers).json()
    assert {r["id"] for r in team_rules["artefact_matching_rules"]} == {snap["id"], charm["id"]}


def test_U10_rule_patch(api: TestClient, headers: dict[str, str]) -> None:
    one = create_team(api, headers, "one")
    two = create_team(api, headers, "two")
    beta = create_rule(api, headers, team_ids=[one["id"]], stage="beta").json()
    create_rule(api, headers, team_ids=[one["id"]], stage="edge")
    url = f"/v1/artefact-matching-rules/{beta['id']}"

    patched = api.patch(
        url,
        json={"track": "22", "team_ids": [two["id"]], "grant_permissions": ["change_artefact"]},
        headers=headers,
    )
    assert patched.status_code == 200
    body = patched.json()
    assert (body["stage"], body["track"]) == ("beta", "22")
    assert body["teams"] == [{"id": two["id"], "name": "two"}]
    assert body["grant_permissions"] == ["change_artefact"]

    clash = api.patch(url, json={"stage": "edge", "track": ""}, headers=headers)
    assert clash.status_code == 409
    assert clash.json() == {
        "detail": "Another artefact matching rule with these values already exists"
    }
    no_teams = api.patch(url, json={"team_ids": []}, headers=headers)
    assert no_teams.status_code == 400
    assert no_teams.json() == {"detail": "At least one team is required for a matching rule"}
    assert api.patch(url, json={"team_ids": [999]}, headers=headers).status_code == 404
    assert api.patch("/v1/artefact-matching-rules/999", json={}, headers=headers).status_code == (
        404
    )
    # Nothing of the refused patches was kept.
    assert api.get(url, headers=headers).json() == body


def test_U10_rule_delete(api: TestClient, headers: dict[str, str], db_session: Session) -> None:
    team = create_team(api, headers)
    rule = create_rule(api, headers, team_ids=[team["id"]]).json()
    url = f"/v1/artefact-matching-rules/{rule['id']}"
    assert api.delete(url, headers=headers).status_code == 204
    again = api.delete(url, headers=headers)
    assert again.status_code == 404
    assert db_session.scalar(select(func.count()).select_from(ArtefactMatchingRule)) == 0
    assert (
        api.get(f"/v1/teams/{team['id']}", headers=headers).json()["artefact_matching_rules"] == []
    )


@pytest.mark.parametrize(
    ("method", "path", "needed"),
    [
        ("GET", "/v1/teams", Permission.view_team),
        ("POST", "/v1/teams", Permission.change_team),
        ("GET", "/v1/teams/1", Permission.view_team),
        ("PATCH", "/v1/teams/1", Permission.change_team),
        ("POST", "/v1/teams/1/members/1", Permission.change_team),
        ("DELETE", "/v1/teams/1/members/1", Permission.change_team),
        ("GET", "/v1/artefact-matching-rules", Permission.view_team),
        ("POST", "/v1/artefact-matching-rules", Permission.change_team),
        ("GET", "/v1/artefact-matching-rules/1", Permission.view_team),
        ("PATCH", "/v1/artefact-matching-rules/1", Permission.change_team),
        ("DELETE", "/v1/artefact-matching-rules/1", Permission.change_team),
    ],
)
def test_each_operation_needs_its_permission(
    api: TestClient, db_session: Session, method: str, path: str, needed: Permission
) -> None:
    others = [p for p in Permission if p is not needed]
    body = {"name": "t", "family": "snap", "team_ids": [1]} if method != "GET" else None
    without = application_headers(db_session, *others, name="without")
    assert api.request(method, path, json=body, headers=without).status_code == 403
    with_it = application_headers(db_session, needed, name="with")
    assert api.request(method, path, json=body, headers=with_it).status_code != 403


def test_admins_link_unlink_and_cannot_link_twice(api: TestClient, db_session: Session) -> None:
    from tests.backend.principals import user_headers

    admin = user_headers(db_session, "root@example.com", is_admin=True)
    one = create_team(api, admin, "one", launchpad_team="canonical-qa")
    assert one["launchpad_team"] == "canonical-qa"
    two = create_team(api, admin, "two")
    taken = api.patch(
        f"/v1/teams/{two['id']}", json={"launchpad_team": "canonical-qa"}, headers=admin
    )
    assert taken.status_code == 409
    assert taken.json() == {
        "detail": "Another team is already linked to Launchpad team 'canonical-qa'"
    }
    unlinked = api.patch(f"/v1/teams/{one['id']}", json={"launchpad_team": None}, headers=admin)
    assert unlinked.json()["launchpad_team"] is None
    moved = api.patch(
        f"/v1/teams/{two['id']}", json={"launchpad_team": "canonical-qa"}, headers=admin
    )
    assert moved.json()["launchpad_team"] == "canonical-qa"
    # Leaving the field out keeps the link.
    kept = api.patch(f"/v1/teams/{two['id']}", json={"permissions": []}, headers=admin)
    assert kept.json()["launchpad_team"] == "canonical-qa"
