"""Callers and JSON-type checks for the review and browsing API tests."""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from itsdangerous import TimestampSigner
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from test_observer.auth.keys import digest_api_key
from test_observer.db.models import Application, Permission, User, UserSession

SESSION_SECRET = "review-tests-secret"


def application_client(
    make_client: Callable[..., TestClient],
    db_session: Session,
    permissions: list[Permission],
    **settings: Any,
) -> TestClient:
    """A client authenticated as an application holding `permissions`."""
    key = "to_" + secrets.token_urlsafe(32)
    db_session.add(
        Application(
            name=f"app-{secrets.token_hex(4)}",
            permissions=permissions,
            api_key_digest=digest_api_key(key),
            api_key_prefix=key[:8],
        )
    )
    db_session.commit()
    client = make_client(**settings)
    client.headers["Authorization"] = f"Bearer {key}"
    return client


def user_client(
    make_client: Callable[..., TestClient], db_session: Session, user: User
) -> TestClient:
    """A client with a browser session of `user` (cookie plus the CSRF header)."""
    user_session = UserSession(user_id=user.id, expires_at=datetime.now() + timedelta(days=1))
    db_session.add(user_session)
    db_session.commit()
    client = make_client(sessions_secret=SESSION_SECRET, sessions_https_only=False)
    payload = base64.b64encode(json.dumps({"id": user_session.id}).encode())
    client.cookies.set("session", TimestampSigner(SESSION_SECRET).sign(payload).decode())
    client.headers["X-CSRF-Token"] = "1"
    return client


def everyone_client(make_client: Callable[..., TestClient]) -> TestClient:
    """A client for an app that grants every permission to everyone."""
    return make_client(ignore_permissions=frozenset(Permission))


# JSON types as the frontend checks them.
INT, STR, BOOL, LIST, DICT = int, str, bool, list, dict
NULLABLE_STR = (str, type(None))
NULLABLE_INT = (int, type(None))


def assert_types(obj: dict[str, Any], expected: dict[str, Any]) -> None:
    for key, kind in expected.items():
        assert key in obj, key
        value = obj[key]
        if kind is INT:
            # bool is an int in Python, never in JSON.
            assert type(value) is int, (key, value)
        else:
            assert isinstance(value, kind), (key, value)


def assert_iso_datetime(value: Any) -> None:
    assert isinstance(value, str)
    datetime.fromisoformat(value)


ARTEFACT_TYPES = {
    "id": INT,
    "name": STR,
    "version": STR,
    "family": STR,
    "status": STR,
    "comment": STR,
    "stage": STR,
    "all_environment_reviews_count": INT,
    "completed_environment_reviews_count": INT,
    "bug_link": STR,
    "due_date": NULLABLE_STR,
    "track": STR,
    "store": STR,
    "branch": STR,
    "series": STR,
    "repo": STR,
    "source": STR,
    "os": STR,
    "release": STR,
    "owner": STR,
    "sha256": STR,
    "image_url": STR,
    "reviewers": LIST,
    "archived": BOOL,
    "jira_issue": NULLABLE_STR,
    "bundled_builds": LIST,
}
USER_TYPES = {"id": INT, "name": STR, "email": STR, "launchpad_handle": NULLABLE_STR}
ENVIRONMENT_TYPES = {"id": INT, "name": STR, "architecture": STR}
MINIMAL_BUILD_TYPES = {"id": INT, "architecture": STR, "revision": NULLABLE_INT}
EXECUTION_TYPES = {
    "id": INT,
    "ci_link": NULLABLE_STR,
    "c3_link": NULLABLE_STR,
    "status": STR,
    "environment": DICT,
    "test_plan": STR,
    "created_at": STR,
    "is_triaged": BOOL,
    "is_rerun_requested": BOOL,
    "rerun_priority": NULLABLE_INT,
    "relevant_links": LIST,
    "execution_metadata": DICT,
}
REVIEW_TYPES = {
    "id": INT,
    "artefact_build": DICT,
    "environment": DICT,
    "review_comment": STR,
    "review_decision": LIST,
    "reviewers": LIST,
}
RESULT_TYPES = {
    "id": INT,
    "name": STR,
    "status": STR,
    "created_at": STR,
    "category": STR,
    "comment": STR,
    "template_id": STR,
    "io_log": STR,
    "previous_results": LIST,
    "issues": LIST,
}
STAGES = {"edge", "beta", "candidate", "stable", "proposed", "updates", "pending", "current", ""}


def assert_artefact_shape(artefact: dict[str, Any]) -> None:
    assert_types(artefact, ARTEFACT_TYPES)
    assert artefact["status"] in {"APPROVED", "MARKED_AS_FAILED", "UNDECIDED"}
    assert artefact["stage"] in STAGES
    assert_iso_datetime(artefact["created_at"])
    for reviewer in artefact["reviewers"]:
        assert_types(reviewer, USER_TYPES)


def assert_execution_shape(execution: dict[str, Any]) -> None:
    assert_types(execution, EXECUTION_TYPES)
    assert_types(execution["environment"], ENVIRONMENT_TYPES)
    assert_iso_datetime(execution["created_at"])
    for link in execution["relevant_links"]:
        assert_types(link, {"id": INT, "label": STR, "url": STR})
    for values in execution["execution_metadata"].values():
        assert isinstance(values, list)
        assert all(isinstance(v, str) for v in values)
