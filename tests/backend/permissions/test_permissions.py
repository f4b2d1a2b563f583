"""What callers may do: named permissions, admins, ignored permissions, artefact-scoped grants
(rules P1-P11) and the acceptance checks of the permission model."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Annotated, Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from test_observer.app import create_app
from test_observer.auth import (
    AppSettings,
    Principal,
    require_artefact_permission,
    require_permissions,
    requires_for_artefacts,
)
from test_observer.auth.access import PermissionRequirement, access_rules, operations
from test_observer.db.engine import DbSession
from test_observer.db.models import (
    Artefact,
    ArtefactMatchingRule,
    Base,
    FamilyName,
    Permission,
    Team,
)
from test_observer.error_reporting.router import DeliberateError
from test_observer.settings import Settings
from tests.backend.command_line import run_command
from tests.backend.conftest import LOCAL_CLIENT
from tests.backend.principals import (
    SESSIONS_SECRET,
    application_headers,
    bearer,
    login,
    make_user,
    session_headers,
    user_headers,
)

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def protected_operations(app: FastAPI) -> Iterator[tuple[str, str, frozenset[Permission]]]:
    """(method, concrete path, permissions) of every permission-protected operation."""
    for operation in operations(app):
        rules = [r for r in access_rules(operation.route) if isinstance(r, PermissionRequirement)]
        if rules:
            path = re.sub(r"\{[^}]+\}", "1", operation.path)
            yield operation.method, path, rules[0].permissions


def call(client: TestClient, method: str, path: str, **kwargs: Any) -> Any:
    # Every protected operation with a body accepts a JSON object; `{}` is well formed.
    if method in WRITE_METHODS:
        kwargs.setdefault("json", {})
    try:
        return client.request(method, path, **kwargs)
    except DeliberateError:
        # GET /sentry-debug fails on purpose once the caller passed its permission check.
        return httpx.Response(500)


def test_P1_every_protected_operation_refuses_anonymous_callers(api: TestClient) -> None:
    checked = 0
    for method, path, _ in protected_operations(api.app):  # type: ignore[arg-type]
        response = call(api, method, path)
        assert response.status_code == 403, (method, path)
        assert response.json() == {"detail": "Insufficient permissions"}, (method, path)
        checked += 1
    assert checked >= 22


def test_P2_admin_passes_every_check(api: TestClient, db_session: Session) -> None:
    headers = user_headers(db_session, is_admin=True)
    for method, path, _ in protected_operations(api.app):  # type: ignore[arg-type]
        response = call(api, method, path, headers=headers)
        assert response.status_code not in (401, 403), (method, path, response.json())


def test_P3_user_permissions_are_the_union_of_their_teams(
    api: TestClient, db_session: Session
) -> None:
    user = make_user(db_session)
    for name, permission in [("readers", Permission.view_user), ("viewers", Permission.view_team)]:
        team = Team(name=name, permissions=[permission])
        team.members = [user]
        db_session.add(team)
    db_session.add(Team(name="others", permissions=[Permission.view_permission]))
    db_session.commit()
    headers = session_headers(login(db_session, user))
    assert api.get("/v1/users", headers=headers).status_code == 200
    assert api.get("/v1/teams", headers=headers).status_code == 200
    assert api.get("/v1/permissions", headers=headers).status_code == 403


def test_P3_applications_use_their_own_permissions(api: TestClient, db_session: Session) -> None:
    headers = application_headers(db_session, Permission.view_team)
    assert api.get("/v1/teams", headers=headers).status_code == 200
    assert api.get("/v1/users", headers=headers).status_code == 403


def test_P4_ignored_permissions_open_the_endpoint(
    make_client: Callable[..., TestClient],
) -> None:
    relaxed = make_client(ignore_permissions="VIEW_PERMISSION, view_team")
    assert relaxed.get("/v1/permissions").status_code == 200
    assert relaxed.get("/v1/teams").status_code == 200
    assert relaxed.get("/v1/users").status_code == 403


def test_ignored_permissions_do_not_bypass_required_authentication(
    make_client: Callable[..., TestClient], db_session: Session
) -> None:
    """REQUIRE_AUTHENTICATION still turns anonymous callers away from endpoints whose
    permissions are all ignored (the original service let them through)."""
    strict = make_client(
        ignore_permissions="view_permission",
        require_authentication=True,
        sessions_secret=SESSIONS_SECRET,
    )
    anonymous = strict.get("/v1/permissions")
    assert anonymous.status_code == 401
    assert anonymous.json() == {"detail": "Not authenticated"}
    # Any known caller passes, with no permission of its own.
    assert strict.get("/v1/permissions", headers=application_headers(db_session)).status_code == 200
    assert strict.get("/v1/permissions", headers=user_headers(db_session)).status_code == 200


def test_permission_protected_endpoints_answer_403_when_authentication_is_required(
    make_client: Callable[..., TestClient], db_session: Session
) -> None:
    strict = make_client(require_authentication=True)
    assert strict.get("/v1/permissions", headers=application_headers(db_session)).status_code == (
        403
    )


def test_P5_permissions_in_declaration_order(api: TestClient, db_session: Session) -> None:
    response = api.get(
        "/v1/permissions", headers=application_headers(db_session, Permission.view_permission)
    )
    assert response.status_code == 200
    names = response.json()
    assert len(names) == 36
    assert names[:4] == ["view_user", "change_user", "view_team", "change_team"]
    assert names[-4:] == ["view_audit", "view_webhook", "change_webhook", "change_quarantine"]
    assert names == [p.value for p in Permission]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/v1/applications", {"name": "ci", "permissions": ["fly"]}),
        ("POST", "/v1/teams", {"name": "t", "permissions": ["fly"]}),
        (
            "POST",
            "/v1/teams",
            {
                "name": "t",
                "artefact_matching_rules": [{"family": "snap", "grant_permissions": ["?"]}],
            },
        ),
        (
            "POST",
            "/v1/artefact-matching-rules",
            {"family": "snap", "team_ids": [1], "grant_permissions": ["fly"]},
        ),
    ],
)
def test_P6_unknown_permission_names_are_422(
    api: TestClient, db_session: Session, method: str, path: str, body: dict[str, Any]
) -> None:
    headers = user_headers(db_session, is_admin=True)
    response = api.request(method, path, json=body, headers=headers)
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "enum"


def test_P6_the_database_rejects_unknown_permission_names(engine: Engine) -> None:
    statement = text("INSERT INTO team (name, permissions) VALUES ('t', '{fly}')")
    with (
        pytest.raises(DBAPIError, match="invalid input value for enum permission"),
        engine.begin() as connection,
    ):
        connection.execute(statement)


def test_P10_permission_failures_win_over_validation(api: TestClient, db_session: Session) -> None:
    viewer = application_headers(db_session, Permission.view_team)
    for headers in ({}, viewer):
        invalid = api.post("/v1/teams", json={"permissions": 12}, headers=headers)
        assert invalid.status_code == 403
        bad_body = api.patch("/v1/users/1", json={"is_admin": "maybe"}, headers=headers)
        assert bad_body.status_code == 403
        # A non-numeric id names no route at all (ids match digits only, so that
        # `/v1/users/me` answers 405 for methods it lacks): 404 before any check.
        assert api.patch("/v1/users/not-a-number", json={}, headers=headers).status_code == 404


def test_P11_me_routes_come_before_id_routes(api: TestClient, db_session: Session) -> None:
    admin = user_headers(db_session, is_admin=True)
    assert api.get("/v1/users/me", headers=admin).status_code == 200
    assert api.get("/v1/applications/me", headers=admin).status_code == 200
    # No key: 401 from the rotation itself, not 422 from parsing "me" as an id.
    assert api.post("/v1/applications/me/rotate", headers=admin).status_code == 401


# --- Artefact-scoped grants through a real endpoint declared with requires_for_artefacts ---


@pytest.fixture
def artefact_api(engine: Engine, database_url: str) -> TestClient:
    """The test app plus an operation that changes one artefact, as artefact routes do.

    An app of its own, not `make_client`'s shared one: the operation is added to it."""

    def change(
        artefact_id: int,
        session: DbSession,
        settings: AppSettings,
        principal: Annotated[Principal, requires_for_artefacts(Permission.change_artefact)],
        bulk: bool = False,
    ) -> dict[str, str]:
        require_artefact_permission(
            session, principal, settings, Permission.change_artefact, [artefact_id]
        )
        if bulk:
            require_permissions(principal, settings, Permission.change_rerun_bulk)
        return {"status": "changed"}

    app = create_app(Settings(db_url=database_url, sessions_secret=SESSIONS_SECRET), engine=engine)
    app.add_api_route("/probe/artefacts/{artefact_id}", change, methods=["PATCH"])
    return TestClient(app, client=LOCAL_CLIENT)


def scoped_user(db: Session, grant: list[Permission], stage: str = "beta") -> dict[str, str]:
    """A user whose only team has a snap rule for `stage` granting `grant`."""
    user = make_user(db, "reviewer@example.com")
    team = Team(name="reviewers", permissions=[])
    team.members = [user]
    rule = ArtefactMatchingRule(family=FamilyName.snap, stage=stage, grant_permissions=grant)
    rule.teams = [team]
    db.add_all([team, rule])
    db.commit()
    return session_headers(login(db, user))


def make_artefact(db: Session, stage: str = "beta") -> int:
    artefact = Artefact(name="core22", version=stage, stage=stage, family=FamilyName.snap)
    db.add(artefact)
    db.commit()
    return artefact.id


def test_P7_matching_rule_grants_change_artefact(
    artefact_api: TestClient, db_session: Session
) -> None:
    headers = scoped_user(db_session, [Permission.change_artefact])
    beta = make_artefact(db_session, "beta")
    edge = make_artefact(db_session, "edge")
    assert artefact_api.patch(f"/probe/artefacts/{beta}", headers=headers).status_code == 200
    refused = artefact_api.patch(f"/probe/artefacts/{edge}", headers=headers)
    assert refused.status_code == 403
    assert refused.json() == {"detail": "Insufficient permissions"}
    assert artefact_api.patch(f"/probe/artefacts/{beta}").status_code == 403


def test_P7_rule_without_the_permission_does_not_grant(
    artefact_api: TestClient, db_session: Session
) -> None:
    headers = scoped_user(db_session, [Permission.change_rerun])
    beta = make_artefact(db_session)
    assert artefact_api.patch(f"/probe/artefacts/{beta}", headers=headers).status_code == 403


def test_P8_matching_rules_never_grant_applications(
    artefact_api: TestClient, db_session: Session
) -> None:
    scoped_user(db_session, [Permission.change_artefact])
    beta = make_artefact(db_session)
    headers = application_headers(db_session)
    assert artefact_api.patch(f"/probe/artefacts/{beta}", headers=headers).status_code == 403
    general = application_headers(db_session, Permission.change_artefact, name="trusted")
    assert artefact_api.patch(f"/probe/artefacts/{beta}", headers=general).status_code == 200


def test_P9_bulk_permission_cannot_come_from_matching_rules(
    artefact_api: TestClient, db_session: Session
) -> None:
    headers = scoped_user(db_session, [Permission.change_artefact, Permission.change_rerun_bulk])
    beta = make_artefact(db_session)
    url = f"/probe/artefacts/{beta}?bulk=true"
    assert artefact_api.patch(url, headers=headers).status_code == 403


def test_artefact_scoped_operations_are_listed_with_their_permission(
    artefact_api: TestClient,
) -> None:
    artefact_api.app.openapi_schema = None  # type: ignore[attr-defined]
    document = artefact_api.app.openapi()  # type: ignore[attr-defined]
    operation = document["paths"]["/probe/artefacts/{artefact_id}"]["patch"]
    assert operation["x-permissions"] == ["change_artefact"]


# --- Acceptance: default settings, keys made by the command line ---


def cli_key(database_url: str, *args: str) -> str:
    result = run_command("admin", "create-application", *args, env={"DB_URL": database_url})
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_anonymous_write_is_refused_and_a_cli_key_with_all_permissions_succeeds(
    api: TestClient, database_url: str
) -> None:
    body = {"name": "hw-cert", "permissions": ["view_test"]}
    anonymous = api.post("/v1/teams", json=body)
    assert anonymous.status_code == 403
    assert anonymous.headers["content-type"] == "application/json"
    assert anonymous.json() == {"detail": "Insufficient permissions"}

    key = cli_key(database_url, "jenkins", "--all-permissions")
    assert re.fullmatch(r"to_[A-Za-z0-9_-]{43}", key)
    created = api.post("/v1/teams", json=body, headers=bearer(key))
    assert created.status_code == 201
    assert created.json()["name"] == "hw-cert"


def test_a_key_with_only_view_permissions_cannot_write(api: TestClient, database_url: str) -> None:
    views = [p.value for p in Permission if p.value.startswith("view_")]
    options = [arg for name in views for arg in ("--permission", name)]
    headers = bearer(cli_key(database_url, "viewer", *options))
    writes = 0
    for method, path, needed in protected_operations(api.app):  # type: ignore[arg-type]
        response = call(api, method, path, headers=headers)
        if all(p.value.startswith("view_") for p in needed):
            assert response.status_code != 403, (method, path)
        else:
            assert method in WRITE_METHODS, (method, path)
            assert response.status_code == 403, (method, path)
            writes += 1
    assert writes >= 10


def test_no_api_key_can_be_read_back(api: TestClient, engine: Engine, db_session: Session) -> None:
    admin = user_headers(db_session, is_admin=True)
    created = api.post("/v1/applications", json={"name": "ci", "permissions": []}, headers=admin)
    key = created.json()["api_key"]
    rotated = api.post(f"/v1/applications/{created.json()['id']}/rotate", headers=admin)
    new_key = rotated.json()["api_key"]
    assert new_key != key

    # Nothing stored contains either key.
    with engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            rows = connection.execute(text(f'SELECT row_to_json(t)::text FROM "{table.name}" t'))
            for (row,) in rows:
                # Not even more than the short visible prefix.
                for secret in (key, new_key, key[3:20], new_key[3:20]):
                    assert secret not in row, table.name

    # No GET shows them, including the application's own view of itself.
    headers = {**admin, **bearer(new_key)}
    for operation in operations(api.app):  # type: ignore[arg-type]
        if operation.method != "GET":
            continue
        body = call(api, "GET", re.sub(r"\{[^}]+\}", "1", operation.path), headers=headers).text
        assert key not in body, operation.path
        assert new_key not in body, operation.path
