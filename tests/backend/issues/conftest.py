"""Clients and helpers for the issue endpoints."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.backend.executions.conftest import EVERY_PERMISSION, result, snap, start

ISSUES = "/v1/issues"


@pytest.fixture
def api(make_client: Callable[..., TestClient]) -> TestClient:
    """Here, a client whose calls need no credentials (every permission is ignored)."""
    return make_client(ignore_permissions=EVERY_PERMISSION)


def put_issue(api: TestClient, url: str, **fields: Any) -> dict[str, Any]:
    response = api.put(ISSUES, json={"url": url, **fields})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def results_url(execution_id: int) -> str:
    return f"/v1/test-executions/{execution_id}/test-results"


def execution_with_results(
    api: TestClient, *results: tuple[str, str], **payload: Any
) -> tuple[int, dict[str, int]]:
    """An execution of a snap (fields overridable) with the given (name, status) results;
    its id and its result ids by name."""
    execution_id = start(api, snap(**payload))
    if results:
        response = api.post(
            results_url(execution_id), json=[result(name, status) for name, status in results]
        )
        assert response.status_code == 200, response.text
    listed = api.get(results_url(execution_id)).json()
    return execution_id, {item["name"]: item["id"] for item in listed}
