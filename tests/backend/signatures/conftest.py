"""Clients for the failure-signature tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from starlette.testclient import TestClient

from tests.backend.executions.conftest import EVERY_PERMISSION


@pytest.fixture
def api(make_client: Callable[..., TestClient]) -> TestClient:
    """Here, a client whose calls need no credentials (every permission is ignored)."""
    return make_client(ignore_permissions=EVERY_PERMISSION)
