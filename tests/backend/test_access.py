"""Every operation declares who may call it, and the OpenAPI document says so."""

from __future__ import annotations

from starlette.testclient import TestClient

from test_observer.auth.access import (
    AuthenticationRequirement,
    CallerRequirement,
    LoopbackRequirement,
    PermissionRequirement,
    ProbeRequirement,
    access_rules,
    operations,
)

# Operations open to anyone (subject to REQUIRE_AUTHENTICATION) or to local clients only.
OPEN_OPERATIONS = {
    ("GET", "/"),
    ("GET", "/v1/version"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/redocs"),
    ("GET", "/health/live"),
    ("GET", "/health/ready"),
    ("GET", "/health/serving"),
}

# Operations about the caller itself: no permission, but only for a user or an application.
CALLER_OPERATIONS = {
    ("GET", "/v1/users/me"),
    ("GET", "/v1/applications/me"),
    ("POST", "/v1/applications/me/rotate"),
}


def test_every_route_declares_exactly_one_access_rule(client: TestClient) -> None:
    undeclared = []
    seen = set()
    for operation in operations(client.app):  # type: ignore[arg-type]
        key = (operation.method, operation.path)
        seen.add(key)
        rules = access_rules(operation.route)
        if len(rules) != 1:
            undeclared.append((*key, len(rules)))
        elif isinstance(
            rules[0], AuthenticationRequirement | LoopbackRequirement | ProbeRequirement
        ):
            assert key in OPEN_OPERATIONS, f"{key} is open but not listed as such"
        elif isinstance(rules[0], CallerRequirement):
            assert key in CALLER_OPERATIONS, f"{key} needs no permission but is not listed"
        else:
            assert isinstance(rules[0], PermissionRequirement)
    assert undeclared == []
    # The walk really covers the application's routes.
    assert seen >= OPEN_OPERATIONS | CALLER_OPERATIONS


def test_openapi_lists_permissions_per_operation(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    for path, path_item in document["paths"].items():
        for method, operation in path_item.items():
            assert "x-permissions" in operation, (method, path)
            if (method.upper(), path) in OPEN_OPERATIONS | CALLER_OPERATIONS:
                assert operation["x-permissions"] == []
            else:
                assert operation["x-permissions"], (method, path)
