"""Every operation declares who may call it, and the OpenAPI document says so."""

from __future__ import annotations

from starlette.testclient import TestClient

from test_observer.auth.access import (
    AuthenticationRequirement,
    CallerRequirement,
    LoopbackRequirement,
    PermissionRequirement,
    ProbeRequirement,
    SignInRequirement,
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
    ("GET", "/docs/assets/{name}"),
    ("GET", "/health/live"),
    ("GET", "/health/ready"),
    ("GET", "/health/serving"),
}

# Signing in and out: open to everyone, whatever REQUIRE_AUTHENTICATION says.
SIGN_IN_OPERATIONS = {
    ("GET", "/v1/auth/saml/login"),
    ("POST", "/v1/auth/saml/acs"),
    ("GET", "/v1/auth/saml/logout"),
    ("POST", "/v1/auth/saml/logout"),
    ("GET", "/v1/auth/saml/sls"),
    ("POST", "/v1/auth/saml/sls"),
    ("GET", "/v1/auth/local/login"),
}

# Operations about the caller itself: no permission, but only for a user or an application.
CALLER_OPERATIONS = {
    ("GET", "/v1/users/me"),
    ("GET", "/v1/applications/me"),
    ("POST", "/v1/applications/me/rotate"),
    ("GET", "/v1/users/me/notifications"),
    ("GET", "/v1/users/me/notifications/count"),
    ("POST", "/v1/users/me/notifications/{notification_id}/dismiss"),
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
        elif isinstance(rules[0], SignInRequirement):
            assert key in SIGN_IN_OPERATIONS, f"{key} is a sign-in operation but not listed"
        elif isinstance(rules[0], CallerRequirement):
            assert key in CALLER_OPERATIONS, f"{key} needs no permission but is not listed"
        else:
            assert isinstance(rules[0], PermissionRequirement)
    assert undeclared == []
    # The walk really covers the application's routes.
    assert seen >= OPEN_OPERATIONS | CALLER_OPERATIONS | SIGN_IN_OPERATIONS


def test_openapi_lists_permissions_per_operation(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    for path, path_item in document["paths"].items():
        for method, operation in path_item.items():
            assert "x-permissions" in operation, (method, path)
            if (method.upper(), path) in OPEN_OPERATIONS | CALLER_OPERATIONS | SIGN_IN_OPERATIONS:
                assert operation["x-permissions"] == []
            else:
                assert operation["x-permissions"], (method, path)
