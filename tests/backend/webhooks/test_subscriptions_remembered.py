"""Whether a webhook subscribes to an event is remembered by each instance, and forgotten by
every instance as soon as a subscription changes (revision 0027)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from test_observer.app import create_app
from test_observer.db.models import WebhookEvent
from test_observer.settings import Settings
from tests.backend.executions.conftest import snap
from tests.backend.statements import count_statements
from tests.backend.webhooks.conftest import subscribe

pytestmark = pytest.mark.usefixtures("_empty_queue")
URL = "https://hooks.example.com/in"
SUBSCRIBED = "FROM webhook WHERE active"


@pytest.fixture
def instances(engine: Engine, database_url: str) -> Iterator[tuple[TestClient, TestClient]]:
    """Two instances of the API on one database, each serving (so each remembers callers)."""
    with ExitStack() as stack:
        yield tuple(  # type: ignore[misc]
            stack.enter_context(
                TestClient(create_app(Settings(db_url=database_url), engine=engine))
            )
            for _ in range(2)
        )


def _ended_execution(client: TestClient, headers: dict[str, str], ci_link: str) -> list[str]:
    """Start and end an execution through `client`; the statements the end sent."""
    started = client.put(
        "/v1/test-executions/start-test", json=snap(ci_link=ci_link), headers=headers
    )
    assert started.status_code == 200, started.json()
    with count_statements(client.app.state.engine) as counter:  # type: ignore[attr-defined]
        ended = client.patch(
            f"/v1/test-executions/{started.json()['id']}",
            json={"status": "COMPLETED"},
            headers=headers,
        )
    assert ended.status_code == 200, ended.json()
    return counter.statements


def _ended_events(db_session: Session) -> int:
    db_session.expire_all()
    return (
        db_session.scalar(
            select(func.count())
            .select_from(WebhookEvent)
            .where(WebhookEvent.event_type == "test_execution.ended")
        )
        or 0
    )


def test_a_subscription_changed_on_one_instance_is_seen_by_the_next_write_on_another(
    instances: tuple[TestClient, TestClient], admin: dict[str, str], db_session: Session
) -> None:
    here, there = instances
    # There, nothing subscribes: asked once, then remembered.
    asked = _ended_execution(there, admin, "https://ci/1")
    assert any(SUBSCRIBED in statement for statement in asked)
    remembered = _ended_execution(there, admin, "https://ci/2")
    assert not any(SUBSCRIBED in statement for statement in remembered)
    assert _ended_events(db_session) == 0

    webhook = subscribe(here, admin, URL, event_types=["test_execution.ended"])
    _ended_execution(there, admin, "https://ci/3")
    assert _ended_events(db_session) == 1

    deactivated = here.patch(f"/v1/webhooks/{webhook['id']}", json={"active": False}, headers=admin)
    assert deactivated.status_code == 200, deactivated.json()
    _ended_execution(there, admin, "https://ci/4")
    assert _ended_events(db_session) == 1


def test_a_subscription_made_in_sql_is_seen_at_once(
    instances: tuple[TestClient, TestClient], admin: dict[str, str], db_session: Session
) -> None:
    _, there = instances
    _ended_execution(there, admin, "https://ci/1")
    db_session.execute(
        text(
            "INSERT INTO webhook (url, event_types, secret) "
            "VALUES (:url, ARRAY['test_execution.ended'], 's3cret-s3cret-s3cret')"
        ),
        {"url": URL},
    )
    db_session.commit()
    _ended_execution(there, admin, "https://ci/2")
    assert _ended_events(db_session) == 1
