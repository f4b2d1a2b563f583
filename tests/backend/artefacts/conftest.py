"""Fixtures of the artefact tests: a client needing no credentials, and the planted release."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from tests.backend.executions.conftest import EVERY_PERMISSION
from tests.backend.planted import Planted, plant


@pytest.fixture
def api(make_client: Callable[..., TestClient]) -> TestClient:
    """Here, a client whose calls need no credentials (every permission is ignored)."""
    return make_client(ignore_permissions=EVERY_PERMISSION)


@pytest.fixture
def planted(db_session: Session) -> Planted:
    """The release with every comparison class planted in several environments."""
    return plant(db_session)
