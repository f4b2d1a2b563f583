"""/v1/webhooks: subscriptions, their write-only secret, permissions, deliveries and
redelivery."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from test_observer.db.models import Permission, Webhook, WebhookDelivery, WebhookEvent
from test_observer.jobs.deliver_webhooks import deliver
from test_observer.jobs.environment import JobEnvironment
from tests.backend.principals import application_headers
from tests.backend.webhooks.conftest import artefact, set_status, subscribe
from tests.backend.webhooks.receiver import Receiver

pytestmark = pytest.mark.usefixtures("_empty_queue")
URL = "https://hooks.example.com/in"


def test_create_answers_a_generated_secret_once(
    api: TestClient, headers: dict[str, str], db_session: Session
) -> None:
    response = api.post(
        "/v1/webhooks",
        json={"url": URL, "event_types": ["test_execution.ended", "issue.attached"]},
        headers=headers,
    )
    assert response.status_code == 201, response.json()
    created = response.json()
    secret = created.pop("secret")
    assert len(secret) >= 32
    assert created == {
        "id": created["id"],
        "url": URL,
        "event_types": ["issue.attached", "test_execution.ended"],
        "active": True,
        "payload_format": "json",
        "families": [],
        "artefact_names": [],
        "created_at": created["created_at"],
        "updated_at": created["updated_at"],
    }
    assert db_session.scalar(select(Webhook.secret)) == secret
    for answer in (
        api.get(f"/v1/webhooks/{created['id']}", headers=headers).json(),
        api.get("/v1/webhooks", headers=headers).json()[0],
        api.patch(f"/v1/webhooks/{created['id']}", json={"active": False}, headers=headers).json(),
    ):
        assert "secret" not in answer
        assert secret not in str(answer)


def test_a_given_secret_is_not_echoed(api: TestClient, headers: dict[str, str]) -> None:
    created = subscribe(api, headers, URL, secret="my-own-secret-value")
    assert created["secret"] is None


def test_patch_changes_only_what_it_names(
    api: TestClient, headers: dict[str, str], db_session: Session
) -> None:
    created = subscribe(api, headers, URL, families=["snap"])
    response = api.patch(
        f"/v1/webhooks/{created['id']}",
        json={"payload_format": "slack", "artefact_names": ["core22"], "secret": "rotated" * 3},
        headers=headers,
    )
    assert response.status_code == 200, response.json()
    changed = response.json()
    assert (changed["payload_format"], changed["families"], changed["artefact_names"]) == (
        "slack",
        ["snap"],
        ["core22"],
    )
    assert changed["url"] == URL
    assert db_session.scalar(select(Webhook.secret)) == "rotated" * 3


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"url": "ftp://example.com/x"}, "http:// or https://"),
        ({"url": "https:///nohost"}, "no host"),
        ({"url": "https://user:pw@example.com/"}, "user name or password"),
        ({"event_types": []}, "at least 1"),
        ({"event_types": ["artefact.exploded"]}, "artefact.status_changed"),
        ({"payload_format": "teams"}, "json"),
        ({"secret": "short"}, "at least 16"),
        ({"families": ["rpm"]}, "snap"),
    ],
)
def test_bad_subscriptions_are_422_with_a_reason(
    api: TestClient, headers: dict[str, str], body: dict[str, Any], problem: str
) -> None:
    request = {"url": URL, "event_types": ["issue.attached"], **body}
    response = api.post("/v1/webhooks", json=request, headers=headers)
    assert response.status_code == 422
    assert problem in str(response.json()["detail"])


def test_unknown_webhooks_are_404(api: TestClient, headers: dict[str, str]) -> None:
    for method, path in [
        ("GET", "/v1/webhooks/99"),
        ("PATCH", "/v1/webhooks/99"),
        ("DELETE", "/v1/webhooks/99"),
        ("GET", "/v1/webhooks/99/deliveries"),
        ("POST", "/v1/webhooks/99/deliveries/1/redeliver"),
    ]:
        response = api.request(
            method, path, json={} if method == "PATCH" else None, headers=headers
        )
        assert response.status_code == 404, (method, path)
        assert "Webhook 99 not found" in response.json()["detail"]


def test_permissions(api: TestClient, db_session: Session) -> None:
    viewer = application_headers(db_session, Permission.view_webhook, name="viewer")
    nobody = application_headers(db_session, Permission.view_artefact, name="nobody")
    changer = application_headers(
        db_session, Permission.change_webhook, Permission.view_webhook, name="changer"
    )
    db_session.commit()
    body = {"url": URL, "event_types": ["issue.attached"]}
    assert api.post("/v1/webhooks", json=body, headers=viewer).status_code == 403
    assert api.get("/v1/webhooks", headers=nobody).status_code == 403
    created = api.post("/v1/webhooks", json=body, headers=changer)
    assert created.status_code == 201
    webhook_id = created.json()["id"]
    assert api.get("/v1/webhooks", headers=viewer).status_code == 200
    assert api.get(f"/v1/webhooks/{webhook_id}/deliveries", headers=viewer).status_code == 200
    assert api.patch(f"/v1/webhooks/{webhook_id}", json={}, headers=viewer).status_code == 403
    assert api.delete(f"/v1/webhooks/{webhook_id}", headers=viewer).status_code == 403
    assert api.delete(f"/v1/webhooks/{webhook_id}", headers=changer).status_code == 204
    assert api.get("/v1/webhooks", headers=viewer).json() == []


def test_deliveries_page_and_redeliver(
    api: TestClient,
    headers: dict[str, str],
    db_session: Session,
    hooks: Receiver,
    make_env: Callable[..., JobEnvironment],
) -> None:
    webhook = subscribe(api, headers, hooks.url)
    made = artefact(db_session)
    for status in ("APPROVED", "UNDECIDED", "APPROVED"):
        set_status(api, headers, made.id, status)
    hooks.status = 410
    deliver(make_env(), webhook["id"])
    url = f"/v1/webhooks/{webhook['id']}/deliveries"

    first_page = api.get(url, params={"limit": 2}, headers=headers).json()
    assert [d["id"] for d in first_page["deliveries"]] == [3, 2]
    second_page = api.get(
        url, params={"limit": 2, "before": first_page["next_before"]}, headers=headers
    ).json()
    assert [d["id"] for d in second_page["deliveries"]] == [1]
    assert second_page["next_before"] is None
    [oldest] = second_page["deliveries"]
    assert oldest["status"] == "pending"
    assert oldest["attempts"] == 1
    assert oldest["last_response_code"] == 410
    assert oldest["last_error"] == "HTTP 410"
    assert oldest["event_type"] == "artefact.status_changed"
    assert oldest["next_attempt_at"] is not None

    # Waiting deliveries are not sent twice.
    again = api.post(f"{url}/1/redeliver", headers=headers)
    assert again.status_code == 409
    # Once the target is fixed (here: it answers 200 again), everything goes.
    hooks.status = 200
    api.patch(f"/v1/webhooks/{webhook['id']}", json={"url": hooks.url}, headers=headers)
    deliver(make_env(), webhook["id"])
    redelivered = api.post(f"{url}/1/redeliver", headers=headers)
    assert redelivered.status_code == 202, redelivered.json()
    assert redelivered.json()["status"] == "pending"
    assert redelivered.json()["id"] == 4
    deliver(make_env(), webhook["id"])

    sent = hooks.event_ids()
    assert len(sent) == 1 + 3 + 1  # the failed attempt, the three, the redelivery
    assert sent[-1] == sent[1]  # the same event id as the first delivery
    assert api.post(f"{url}/99/redeliver", headers=headers).status_code == 404


def test_deleting_a_webhook_deletes_its_deliveries_and_their_events(
    api: TestClient, headers: dict[str, str], db_session: Session
) -> None:
    kept = subscribe(api, headers, URL)
    gone = subscribe(api, headers, URL)
    made = artefact(db_session)
    set_status(api, headers, made.id, "APPROVED")
    only_gone = api.patch(f"/v1/webhooks/{kept['id']}", json={"active": False}, headers=headers)
    assert only_gone.status_code == 200
    set_status(api, headers, made.id, "UNDECIDED")

    assert api.delete(f"/v1/webhooks/{gone['id']}", headers=headers).status_code == 204

    db_session.expire_all()
    assert [d.webhook_id for d in db_session.scalars(select(WebhookDelivery))] == [kept["id"]]
    # The event only the deleted webhook had is gone; the shared one stays.
    assert len(db_session.scalars(select(WebhookEvent)).all()) == 1
    assert db_session.execute(text("SELECT count(*) FROM webhook")).scalar() == 1
