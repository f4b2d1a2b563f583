"""Webhook tests: a receiver on loopback, subscriptions made through the API, and events
made by real changes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from test_observer.db.engine import make_session_factory
from test_observer.db.models import Artefact, Permission
from test_observer.jobs.environment import JobEnvironment
from tests.backend.factories import make_artefact
from tests.backend.jobs.conftest import job_settings
from tests.backend.principals import application_headers
from tests.backend.webhooks.receiver import Receiver, receiver

LOOPBACK = "127.0.0.0/8"


@pytest.fixture
def hooks() -> Iterator[Receiver]:
    with receiver() as running:
        yield running


@pytest.fixture
def make_env(engine: Engine, database_url: str) -> Callable[..., JobEnvironment]:
    def build(**overrides: object) -> JobEnvironment:
        values: dict[str, object] = {"webhook_allowed_networks": [LOOPBACK]}
        values.update(overrides)
        return JobEnvironment(
            settings=job_settings(database_url, **values),
            engine=engine,
            sessions=make_session_factory(engine),
        )

    return build


@pytest.fixture
def headers(db_session: Session) -> dict[str, str]:
    headers = application_headers(
        db_session,
        Permission.view_webhook,
        Permission.change_webhook,
        Permission.change_artefact,
        Permission.view_artefact,
    )
    db_session.commit()
    return headers


@pytest.fixture
def admin(db_session: Session) -> dict[str, str]:
    """Every permission."""
    headers = application_headers(db_session, *Permission, name="admin")
    db_session.commit()
    return headers


def subscribe(api: TestClient, headers: dict[str, str], url: str, **body: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "url": url,
        "event_types": ["artefact.status_changed"],
        "secret": "s3cret-s3cret-s3cret",
    }
    values.update(body)
    response = api.post("/v1/webhooks", json=values, headers=headers)
    assert response.status_code == 201, response.json()
    return response.json()  # type: ignore[no-any-return]


def artefact(db_session: Session, **fields: Any) -> Artefact:
    made = make_artefact(db_session, **fields)
    db_session.commit()
    return made


def set_status(api: TestClient, headers: dict[str, str], artefact_id: int, status: str) -> None:
    body: dict[str, Any] = {"status": status}
    response = api.patch(f"/v1/artefacts/{artefact_id}", json=body, headers=headers)
    assert response.status_code == 200, response.json()
