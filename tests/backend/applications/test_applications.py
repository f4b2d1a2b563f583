"""/v1/applications: API clients and their keys (rules K1-K6)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from test_observer.auth.keys import digest_api_key
from test_observer.db.models import Application, Permission
from tests.backend.principals import application_headers, bearer, make_application, user_headers

KEY = re.compile(r"to_[A-Za-z0-9_-]{43}")


@pytest.fixture
def admin(db_session: Session) -> dict[str, str]:
    return user_headers(db_session, "root@example.com", is_admin=True)


# A key that was rotated away or whose application was deleted (a deviation, see the docs).
INVALID_KEY = {"detail": "Invalid API key"}


def create(api: TestClient, headers: dict[str, str], name: str = "ci", **body: object) -> dict:  # type: ignore[type-arg]
    response = api.post(
        "/v1/applications",
        json={"name": name, "permissions": ["view_test"], **body},
        headers=headers,
    )
    assert response.status_code == 200, response.json()
    return response.json()  # type: ignore[no-any-return]


def test_K1_create_returns_a_fresh_unique_key(api: TestClient, admin: dict[str, str]) -> None:
    first = create(api, admin, "one")
    second = create(api, admin, "two")
    assert KEY.fullmatch(first["api_key"])
    assert len(first["api_key"]) == 46
    assert first["api_key"] != second["api_key"]
    assert first["permissions"] == ["view_test"]
    assert set(first) == {"id", "name", "permissions", "api_key"}


def test_K1_the_new_key_authenticates(api: TestClient, admin: dict[str, str]) -> None:
    key = create(api, admin)["api_key"]
    assert api.get("/v1/applications/me", headers=bearer(key)).json()["name"] == "ci"


def test_K2_rotation_by_id_invalidates_the_old_key(api: TestClient, admin: dict[str, str]) -> None:
    created = create(api, admin, permissions=["view_permission"])
    old = created["api_key"]
    response = api.post(f"/v1/applications/{created['id']}/rotate", headers=admin)
    assert response.status_code == 200
    new = response.json()["api_key"]
    assert KEY.fullmatch(new)
    assert new != old
    assert api.get("/v1/permissions", headers=bearer(old)).status_code == 401
    assert api.get("/v1/applications/me", headers=bearer(old)).json() == INVALID_KEY
    assert api.get("/v1/permissions", headers=bearer(new)).status_code == 200


def test_K2_own_rotation(api: TestClient, admin: dict[str, str]) -> None:
    old = create(api, admin)["api_key"]
    response = api.post("/v1/applications/me/rotate", headers=bearer(old))
    assert response.status_code == 200
    new = response.json()["api_key"]
    assert new != old
    assert response.json()["name"] == "ci"
    assert api.get("/v1/applications/me", headers=bearer(old)).json() == INVALID_KEY
    assert api.get("/v1/applications/me", headers=bearer(new)).json()["name"] == "ci"


def test_K2_own_rotation_needs_a_key(api: TestClient, admin: dict[str, str]) -> None:
    for headers in ({}, admin):
        response = api.post("/v1/applications/me/rotate", headers=headers)
        assert response.status_code == 401
        assert response.json() == {"detail": "Not authenticated"}
    unknown = api.post("/v1/applications/me/rotate", headers=bearer("to_" + "x" * 43))
    assert (unknown.status_code, unknown.json()) == (401, INVALID_KEY)


def test_rotating_an_unknown_application_is_404(api: TestClient, admin: dict[str, str]) -> None:
    response = api.post("/v1/applications/99/rotate", headers=admin)
    assert response.status_code == 404
    assert response.json() == {"detail": "Application with id 99 not found"}


def test_K3_patch_replaces_and_clears_permissions(api: TestClient, admin: dict[str, str]) -> None:
    created = create(api, admin)
    url = f"/v1/applications/{created['id']}"
    replaced = api.patch(url, json={"permissions": ["change_test", "view_test"]}, headers=admin)
    assert replaced.json()["permissions"] == ["change_test", "view_test"]
    assert api.patch(url, json={}, headers=admin).json()["permissions"] == [
        "change_test",
        "view_test",
    ]
    assert api.patch(url, json={"permissions": []}, headers=admin).json()["permissions"] == []
    assert api.get(url, headers=admin).json()["permissions"] == []


def test_K3_patch_unknown_application_is_404(api: TestClient, admin: dict[str, str]) -> None:
    response = api.patch("/v1/applications/42", json={"permissions": []}, headers=admin)
    assert response.status_code == 404
    assert response.json() == {"detail": "Application 42 doesn't exist"}


def test_K4_delete_is_idempotent(api: TestClient, admin: dict[str, str]) -> None:
    created = create(api, admin)
    url = f"/v1/applications/{created['id']}"
    assert api.delete(url, headers=admin).status_code == 204
    assert api.delete(url, headers=admin).status_code == 204
    assert api.get(url, headers=admin).status_code == 404
    assert api.get("/v1/applications/me", headers=bearer(created["api_key"])).json() == INVALID_KEY


def test_K5_create_is_200_and_a_duplicate_name_409(api: TestClient, admin: dict[str, str]) -> None:
    create(api, admin, "ci")
    duplicate = api.post("/v1/applications", json={"name": "ci", "permissions": []}, headers=admin)
    assert duplicate.status_code == 409
    assert duplicate.json() == {"detail": "Application with name 'ci' already exists"}


def test_create_validates_the_body(api: TestClient, admin: dict[str, str]) -> None:
    for body in ({"name": "ci"}, {"permissions": []}, {"name": " ", "permissions": []}):
        response = api.post("/v1/applications", json=body, headers=admin)
        assert response.status_code == 422
        assert isinstance(response.json()["detail"], list)


def test_K6_keys_are_stored_as_digests_and_masked_when_read(
    api: TestClient, admin: dict[str, str], db_session: Session
) -> None:
    created = create(api, admin)
    key = created["api_key"]
    stored = db_session.scalars(select(Application)).one()
    assert stored.api_key_digest == digest_api_key(key)
    assert stored.api_key_prefix == key[:7]

    masked = key[:7] + "…"
    listed = api.get("/v1/applications", headers=admin).json()
    assert [a["api_key"] for a in listed] == [masked]
    assert api.get(f"/v1/applications/{created['id']}", headers=admin).json()["api_key"] == masked
    patched = api.patch(f"/v1/applications/{created['id']}", json={}, headers=admin)
    assert patched.json()["api_key"] == masked
    assert api.get("/v1/applications/me", headers=bearer(key)).json()["api_key"] == masked


def test_get_unknown_application_is_404(api: TestClient, admin: dict[str, str]) -> None:
    response = api.get("/v1/applications/7", headers=admin)
    assert response.status_code == 404
    assert response.json() == {"detail": "Application with id 7 not found"}


@pytest.mark.parametrize(
    ("method", "path", "needed"),
    [
        ("GET", "/v1/applications", Permission.view_application),
        ("POST", "/v1/applications", Permission.add_application),
        ("GET", "/v1/applications/1", Permission.view_application),
        ("PATCH", "/v1/applications/1", Permission.change_application),
        ("POST", "/v1/applications/1/rotate", Permission.change_application),
        ("DELETE", "/v1/applications/1", Permission.change_application),
    ],
)
def test_each_operation_needs_its_permission(
    api: TestClient, db_session: Session, method: str, path: str, needed: Permission
) -> None:
    others = [p for p in Permission if p is not needed]
    body = {"name": "new", "permissions": []} if method != "GET" else None
    # Application 1 holds no permission, so the grant ceiling lets any caller act on it.
    make_application(db_session, "target", [])
    without = application_headers(db_session, *others, name="without")
    assert api.request(method, path, json=body, headers=without).status_code == 403
    with_it = application_headers(db_session, needed, name="with")
    assert api.request(method, path, json=body, headers=with_it).status_code != 403
