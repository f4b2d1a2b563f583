"""Sending deliveries to a receiver on loopback: once per event, signed, in order, retried
with back-off until the receiver is back, and only to addresses that are allowed."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from test_observer.db.models import WebhookDelivery
from test_observer.jobs.deliver_webhooks import deliver, utc_now
from test_observer.jobs.environment import JobEnvironment
from test_observer.webhooks.targets import RefusedTargetError, target
from tests.backend.webhooks.conftest import artefact, set_status, subscribe
from tests.backend.webhooks.receiver import Receiver

pytestmark = pytest.mark.usefixtures("_empty_queue")

HOW_TO = Path(__file__).parents[3] / "docs" / "how-to" / "receive-webhooks.md"
SECRET = "s3cret-s3cret-s3cret"


def documented_verify() -> Callable[..., bool]:
    """The verification recipe exactly as the how-to shows it."""
    match = re.search(r"```python\n(.*?)```", HOW_TO.read_text(), re.DOTALL)
    assert match, "the how-to has no Python recipe"
    scope: dict[str, Any] = {}
    exec(match.group(1), scope)
    return scope["verify"]  # type: ignore[no-any-return]


def deliveries(db_session: Session) -> list[WebhookDelivery]:
    db_session.expire_all()
    return list(db_session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))


def event_ids(db_session: Session) -> list[str]:
    return [str(delivery.event_id) for delivery in deliveries(db_session)]


def test_one_delivery_per_event(
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
    env = make_env()

    summary = deliver(env, webhook["id"])
    again = deliver(env, webhook["id"])

    assert summary["delivered"] == 3
    assert again["delivered"] == 0
    assert hooks.event_ids() == event_ids(db_session)
    assert len(set(hooks.event_ids())) == 3
    bodies = [json.loads(item.body) for item in hooks.received]
    assert [(body["data"]["previous_status"], body["data"]["status"]) for body in bodies] == [
        ("UNDECIDED", "APPROVED"),
        ("APPROVED", "UNDECIDED"),
        ("UNDECIDED", "APPROVED"),
    ]
    assert bodies[0]["type"] == "artefact.status_changed"
    assert bodies[0]["data"]["artefact"]["url"] == f"http://localhost:30001/snaps/{made.id}"
    assert [item.headers["X-TestObserver-Event-Type"] for item in hooks.received] == [
        "artefact.status_changed"
    ] * 3
    assert [delivery.status for delivery in deliveries(db_session)] == ["delivered"] * 3
    assert all(delivery.last_response_code == 200 for delivery in deliveries(db_session))


def test_the_documented_recipe_tells_a_wrong_signature(
    api: TestClient,
    headers: dict[str, str],
    db_session: Session,
    hooks: Receiver,
    make_env: Callable[..., JobEnvironment],
) -> None:
    verify = documented_verify()
    webhook = subscribe(api, headers, hooks.url)
    set_status(api, headers, artefact(db_session).id, "APPROVED")
    deliver(make_env(), webhook["id"])
    [sent] = hooks.received

    assert verify(SECRET, sent.headers, sent.body)
    assert not verify("another-secret-entirely", sent.headers, sent.body)
    assert not verify(SECRET, sent.headers, sent.body.replace(b"APPROVED", b"REJECTED"))
    replayed = {**sent.headers, "X-TestObserver-Timestamp": str(int(time_now()) - 3600)}
    assert not verify(SECRET, replayed, sent.body)
    forged = {**sent.headers, "X-TestObserver-Signature": "sha256=" + "0" * 64}
    assert not verify(SECRET, forged, sent.body)


def time_now() -> float:
    import time

    return time.time()


def test_receiver_down_for_a_minute_gets_every_event_in_order_when_back(
    api: TestClient,
    headers: dict[str, str],
    db_session: Session,
    engine: Engine,
    hooks: Receiver,
    make_env: Callable[..., JobEnvironment],
) -> None:
    webhook = subscribe(api, headers, hooks.url)
    made = artefact(db_session)
    for status in ("APPROVED", "UNDECIDED", "APPROVED"):
        set_status(api, headers, made.id, status)
    expected = event_ids(db_session)
    env = make_env(webhook_retry_base_s=5, webhook_retry_max_wait_s=20)
    hooks.stop()
    # The run queued by the changes is this one (run here rather than by a worker).
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM procrastinate_jobs WHERE status = 'todo'"))
    start = utc_now()
    clock = [start]
    rng = random.Random(7)

    # A simulated minute of retries: each run happens when the head delivery is due again.
    runs = 0
    while clock[0] < start + timedelta(seconds=60):
        summary = deliver(env, webhook["id"], clock=lambda: clock[0], rng=rng)
        assert summary["delivered"] == 0
        runs += 1
        head, *behind = deliveries(db_session)
        assert head.status == "pending"
        assert head.attempts == runs
        assert "ConnectError" in (head.last_error or "")
        # Later deliveries wait behind the head, untried.
        assert [(d.status, d.attempts) for d in behind] == [("pending", 0), ("pending", 0)]
        # The next run is queued for when the head is due.
        with engine.connect() as connection:
            scheduled = connection.scalar(
                text(
                    "SELECT scheduled_at AT TIME ZONE 'utc' FROM procrastinate_jobs "
                    "WHERE status = 'todo' AND queueing_lock = :lock"
                ),
                {"lock": f"webhook:{webhook['id']}"},
            )
        assert scheduled == head.next_attempt_at
        assert head.next_attempt_at > clock[0]
        with engine.begin() as connection:  # the worker takes that run: it is the next one here
            connection.execute(text("DELETE FROM procrastinate_jobs WHERE status = 'todo'"))
        clock[0] = head.next_attempt_at
    # Back-off grew: 5 s, 10 s, 20 s (with jitter), so a minute takes a handful of attempts.
    assert 3 <= runs <= 12

    hooks.start()
    summary = deliver(env, webhook["id"], clock=lambda: clock[0], rng=rng)

    assert summary["delivered"] == 3
    assert hooks.event_ids() == expected
    assert [d.status for d in deliveries(db_session)] == ["delivered"] * 3
    assert deliveries(db_session)[0].attempts == runs + 1


def test_a_delivery_failing_for_its_whole_retry_period_is_marked_failed(
    api: TestClient,
    headers: dict[str, str],
    db_session: Session,
    hooks: Receiver,
    make_env: Callable[..., JobEnvironment],
) -> None:
    webhook = subscribe(api, headers, hooks.url)
    made = artefact(db_session)
    set_status(api, headers, made.id, "APPROVED")
    set_status(api, headers, made.id, "UNDECIDED")
    env = make_env(webhook_retry_for_s=86400)
    hooks.status = 500
    start = utc_now()
    deliver(env, webhook["id"], clock=lambda: start)
    first, second = deliveries(db_session)
    assert first.last_response_code == 500
    assert first.status == "pending"

    # A day after the first attempt comes the last one; then the next delivery goes.
    hooks.status = 503
    summary = deliver(env, webhook["id"], clock=lambda: start + timedelta(days=1))

    assert summary["gave_up"] == 1
    first, second = deliveries(db_session)
    assert (first.status, first.last_response_code, first.last_error) == ("failed", 503, "HTTP 503")
    assert first.attempts == 2
    assert (second.status, second.attempts) == ("pending", 1)
    assert len(hooks.received) == 3


def test_a_private_address_is_refused_unless_allowed(
    api: TestClient,
    headers: dict[str, str],
    db_session: Session,
    hooks: Receiver,
    make_env: Callable[..., JobEnvironment],
) -> None:
    webhook = subscribe(api, headers, hooks.url)
    set_status(api, headers, artefact(db_session).id, "APPROVED")

    deliver(make_env(webhook_allowed_networks=[]), webhook["id"])

    assert hooks.received == []
    [delivery] = deliveries(db_session)
    assert delivery.status == "pending"
    assert delivery.last_response_code is None
    assert (delivery.last_error or "").startswith("refused: 127.0.0.1 resolves only")

    api.patch(f"/v1/webhooks/{webhook['id']}", json={"active": True}, headers=headers)
    deliver(make_env(webhook_allowed_networks=["127.0.0.1/32"]), webhook["id"])

    assert len(hooks.received) == 1
    assert deliveries(db_session)[0].status == "delivered"


@pytest.mark.parametrize(
    "address",
    [
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "127.0.0.1",
        "169.254.169.254",  # cloud metadata
        "100.100.100.200",  # metadata in a shared range
        "0.0.0.0",
        "::1",
        "fe80::1",
        "fd00:ec2::254",  # metadata over IPv6
        "::ffff:10.0.0.1",
        "224.0.0.1",
    ],
)
def test_addresses_that_are_not_public_are_refused(address: str) -> None:
    with pytest.raises(RefusedTargetError):
        target("https://hooks.example.test/x", [], lambda host, port: [address])


def test_the_connection_goes_to_the_address_that_was_checked() -> None:
    checked = target(
        "https://hooks.example.test:8443/in?a=1", [], lambda host, port: ["10.0.0.1", "8.8.8.8"]
    )
    assert (checked.address, checked.url) == ("8.8.8.8", "https://8.8.8.8:8443/in?a=1")
    assert checked.host_header == "hooks.example.test:8443"
    allowed = target("http://hooks.internal/", [ip("10.0.0.0/8")], lambda h, p: ["10.0.0.1"])
    assert allowed.url == "http://10.0.0.1:80/"


def ip(network: str) -> Any:
    import ipaddress

    return ipaddress.ip_network(network)


def test_a_name_is_sent_to_its_checked_address_not_resolved_again(
    api: TestClient,
    headers: dict[str, str],
    db_session: Session,
    hooks: Receiver,
    make_env: Callable[..., JobEnvironment],
) -> None:
    # The name exists nowhere but in this resolver: the request can only reach the receiver
    # through the address the resolver gave and the check accepted.
    url = f"http://hooks.example.test:{hooks.port}/hooks"
    webhook = subscribe(api, headers, url)
    set_status(api, headers, artefact(db_session).id, "APPROVED")
    asked: list[str] = []

    def resolver(host: str, port: int) -> list[str]:
        asked.append(host)
        return ["127.0.0.1"]

    deliver(make_env(), webhook["id"], resolver=resolver)

    assert asked == ["hooks.example.test"]
    [sent] = hooks.received
    assert sent.headers["Host"] == f"hooks.example.test:{hooks.port}"


def test_a_long_answer_is_not_read_to_its_end(
    api: TestClient,
    headers: dict[str, str],
    db_session: Session,
    hooks: Receiver,
    make_env: Callable[..., JobEnvironment],
) -> None:
    hooks.reply = b"x" * (50 * 1024 * 1024)
    webhook = subscribe(api, headers, hooks.url)
    set_status(api, headers, artefact(db_session).id, "APPROVED")
    deliver(make_env(), webhook["id"])
    assert deliveries(db_session)[0].status == "delivered"


@pytest.mark.parametrize(
    ("payload_format", "expected"),
    [
        ("slack", "<http://localhost:30001/snaps/{id}|core22 20240101> (snap, beta): status "),
        ("mattermost", "[core22 20240101](http://localhost:30001/snaps/{id}) (snap, beta): "),
    ],
)
def test_chat_formats_are_one_line_with_a_link_to_the_artefact(
    api: TestClient,
    headers: dict[str, str],
    db_session: Session,
    hooks: Receiver,
    make_env: Callable[..., JobEnvironment],
    payload_format: str,
    expected: str,
) -> None:
    webhook = subscribe(api, headers, hooks.url, payload_format=payload_format)
    made = artefact(db_session)
    set_status(api, headers, made.id, "APPROVED")
    deliver(make_env(), webhook["id"])
    [sent] = hooks.received
    message = json.loads(sent.body)
    assert list(message) == ["text"]
    assert message["text"].startswith(expected.format(id=made.id))
    assert message["text"].endswith("UNDECIDED \N{RIGHTWARDS ARROW} APPROVED")
    assert documented_verify()(SECRET, sent.headers, sent.body)
