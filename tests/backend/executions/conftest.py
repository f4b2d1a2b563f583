"""Clients and payloads for the test-execution endpoints."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from starlette.testclient import TestClient

from test_observer.db.models import Permission

EVERY_PERMISSION = ",".join(permission.value for permission in Permission)


@pytest.fixture
def api(make_client: Callable[..., TestClient]) -> TestClient:
    """Here, a client whose calls need no credentials (every permission is ignored), and whose
    anonymous bodies may be as large as anybody's: these tests are about what the endpoints do
    with large values, not about who may send them (tests/security covers that)."""
    return make_client(
        ignore_permissions=EVERY_PERMISSION,
        anonymous_max_request_body_size=64 * 1024 * 1024,
    )


def snap(**fields: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "family": "snap",
        "name": "core22",
        "version": "20240601",
        "revision": 1800,
        "track": "22",
        "store": "ubuntu",
        "arch": "arm64",
        "execution_stage": "beta",
        "environment": "rpi4b",
        "test_plan": "iot-smoke",
    }
    payload.update(fields)
    return payload


def deb(**fields: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "family": "deb",
        "name": "linux-raspi",
        "version": "6.8.0-1010.11",
        "series": "noble",
        "repo": "main",
        "arch": "arm64",
        "execution_stage": "proposed",
        "environment": "rpi400",
        "test_plan": "kernel-sru",
    }
    payload.update(fields)
    return payload


def charm(**fields: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "family": "charm",
        "name": "postgresql-k8s",
        "version": "14.10",
        "revision": 300,
        "track": "14",
        "arch": "amd64",
        "execution_stage": "candidate",
        "environment": "microk8s",
        "test_plan": "charm-it",
    }
    payload.update(fields)
    return payload


def image(**fields: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "family": "image",
        "name": "noble-desktop",
        "version": "20240601",
        "os": "ubuntu",
        "release": "noble",
        "owner": "desktop-team",
        "image_url": "https://cdimage.example/noble.iso",
        "sha256": "a" * 64,
        "arch": "amd64",
        "execution_stage": "pending",
        "environment": "xps13",
        "test_plan": "image-smoke",
    }
    payload.update(fields)
    return payload


def solution(**fields: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "family": "solution",
        "name": "openstack",
        "version": "2024.1",
        "track": "2024.1",
        "source": "sunbeam",
        "arch": "amd64",
        "execution_stage": "edge",
        "environment": "lab-1",
        "test_plan": "tempest",
    }
    payload.update(fields)
    return payload


def start(client: TestClient, payload: dict[str, Any]) -> int:
    response = client.put("/v1/test-executions/start-test", json=payload)
    assert response.status_code == 200, response.text
    execution_id: int = response.json()["id"]
    return execution_id


def result(name: str, status: str = "PASSED", **fields: Any) -> dict[str, Any]:
    return {"name": name, "status": status, **fields}


def c3_result(name: str, status: str = "pass", **fields: Any) -> dict[str, Any]:
    return {"name": name, "status": status, "category": "", "comment": "", "io_log": "", **fields}
