"""deliver-webhook ID: send one webhook's pending deliveries, oldest first.

Only the oldest pending delivery of a webhook is ever attempted, so a receiver sees its events
in order: while it fails, the later ones wait behind it. A failed attempt is retried after an
exponential back-off with jitter; a delivery still failing WEBHOOK_RETRY_FOR_S after its first
attempt is marked failed and the next one goes. The job holds no transaction while it sends:
it reads a batch, sends each delivery, and writes the outcomes a few at a time (`Outcomes`).
A worker killed mid-send leaves the deliveries whose outcome is not written pending; the
retried job sends them again with the same event ids (at least once, never lost).

The job queue runs one job per webhook at a time (its lock is `webhook:ID`), and keeps at most
one waiting job per webhook; the job queues its own next run for when the head delivery is
due again.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import Connection, bindparam, select, text, update

from test_observer.db.models import Webhook, WebhookDelivery, WebhookEvent
from test_observer.errors import UnprocessableError
from test_observer.settings import Settings
from test_observer.webhooks import payloads
from test_observer.webhooks.events import wake
from test_observer.webhooks.targets import RefusedTargetError, Resolver, resolve, target

from .environment import JobEnvironment

logger = logging.getLogger(__name__)

# How much of a response is read: enough for a status line's worth of error text.
MAX_RESPONSE_BYTES = 4096
BATCH = 100
FLUSH_EVERY = 50
FLUSH_AFTER_S = 0.5
ERROR_LENGTH = 500


def utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class Outcome:
    delivered: bool
    response_code: int | None
    error: str | None
    duration_s: float


@dataclass(frozen=True)
class Pending:
    id: int
    attempts: int
    first_attempt_at: datetime | None
    next_attempt_at: datetime
    event_id: str
    event_type: str
    occurred_at: datetime
    data: dict[str, Any]


def backoff(settings: Settings, attempts: int, rng: random.Random) -> float:
    """Seconds before the next attempt after `attempts` failed ones: exponential, capped, and
    between half and all of that at random, so receivers coming back are not hit in step."""
    exponential = settings.webhook_retry_base_s * 2.0 ** (attempts - 1)
    wait = min(settings.webhook_retry_max_wait_s, exponential)
    return wait * rng.uniform(0.5, 1.0)


def client(settings: Settings) -> httpx.Client:
    """No redirects (a redirect could lead anywhere), no proxies from the environment (a proxy
    would reach addresses we did not check), and a timeout on every step."""
    return httpx.Client(
        timeout=httpx.Timeout(
            settings.webhook_read_timeout_s, connect=settings.webhook_connect_timeout_s
        ),
        follow_redirects=False,
        trust_env=False,
    )


def send(
    http: httpx.Client,
    settings: Settings,
    webhook: Subscription,
    delivery: Pending,
    resolver: Resolver = resolve,
) -> Outcome:
    began = time.monotonic()
    try:
        where = target(webhook.url, settings.webhook_allowed_networks, resolver)
    except RefusedTargetError as refused:
        return Outcome(False, None, f"refused: {refused}", time.monotonic() - began)
    body = payloads.body(
        webhook.payload_format,
        delivery.event_id,
        delivery.event_type,
        delivery.occurred_at,
        delivery.data,
        settings.frontend_url,
    )
    headers = payloads.headers(
        webhook.secret,
        int(time.time()),
        body,
        delivery.event_id,
        delivery.event_type,
        delivery.id,
    )
    headers["Host"] = where.host_header
    extensions = {"sni_hostname": where.host} if where.scheme == "https" else {}
    try:
        request = http.build_request(
            "POST", where.url, content=body, headers=headers, extensions=extensions
        )
        response = http.send(request, stream=True)
        try:
            # Read at most a small bound, whatever the receiver sends back.
            received = 0
            for chunk in response.iter_raw():
                received += len(chunk)
                if received >= MAX_RESPONSE_BYTES:
                    break
            code = response.status_code
        finally:
            response.close()
    except httpx.HTTPError as error:
        message = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
        return Outcome(False, None, message[:ERROR_LENGTH], time.monotonic() - began)
    ok = 200 <= code < 300
    return Outcome(ok, code, None if ok else f"HTTP {code}", time.monotonic() - began)


@dataclass(frozen=True)
class Subscription:
    url: str
    payload_format: str
    secret: str


def _pending(connection: Connection, webhook_id: int) -> tuple[Subscription | None, list[Pending]]:
    found = connection.execute(
        select(Webhook.url, Webhook.payload_format, Webhook.secret).where(
            Webhook.id == webhook_id, Webhook.active
        )
    ).one_or_none()
    if found is None:
        return None, []
    rows = connection.execute(
        select(
            WebhookDelivery.id,
            WebhookDelivery.attempts,
            WebhookDelivery.first_attempt_at,
            WebhookDelivery.next_attempt_at,
            WebhookEvent.id,
            WebhookEvent.event_type,
            WebhookEvent.occurred_at,
            WebhookEvent.data,
        )
        .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
        .where(WebhookDelivery.webhook_id == webhook_id, WebhookDelivery.status == "pending")
        .order_by(WebhookDelivery.id)
        .limit(BATCH)
    ).all()
    return Subscription(*found), [
        Pending(row[0], row[1], row[2], row[3], str(row[4]), *row[5:]) for row in rows
    ]


_WRITTEN = (
    "status",
    "attempts",
    "first_attempt_at",
    "last_attempt_at",
    "last_response_code",
    "last_error",
    "last_duration_s",
    "next_attempt_at",
    "delivered_at",
)
_WRITE = (
    update(WebhookDelivery)
    .where(WebhookDelivery.id == bindparam("b_id"), WebhookDelivery.status == "pending")
    .values({column: bindparam(f"b_{column}") for column in _WRITTEN})
)


class Outcomes:
    """The attempts' outcomes, written a few at a time.

    A success is written with the next ones, at the latest after FLUSH_EVERY of them or
    FLUSH_AFTER_S seconds: a worker killed in between sends those again (same event ids),
    which receivers must allow for anyway, and a delivery does not cost a database round trip
    of its own. A failure is written at once, with the successes before it."""

    def __init__(self, connection: Connection, settings: Settings, webhook_id: int) -> None:
        self.connection = connection
        self.settings = settings
        self.webhook_id = webhook_id
        self.waiting: list[dict[str, Any]] = []
        self.since = time.monotonic()

    def add(
        self, delivery: Pending, outcome: Outcome, now: datetime, rng: random.Random
    ) -> datetime | None:
        """Record an attempt; when the delivery is to be tried again, the time it is due."""
        attempts = delivery.attempts + 1
        first = delivery.first_attempt_at or now
        row: dict[str, Any] = {
            "b_id": delivery.id,
            "b_status": "pending",
            "b_attempts": attempts,
            "b_first_attempt_at": first,
            "b_last_attempt_at": now,
            "b_last_response_code": outcome.response_code,
            "b_last_error": outcome.error,
            "b_last_duration_s": outcome.duration_s,
            "b_next_attempt_at": delivery.next_attempt_at,
            "b_delivered_at": None,
        }
        if outcome.delivered:
            row |= {"b_status": "delivered", "b_delivered_at": now}
            self.waiting.append(row)
            if len(self.waiting) >= FLUSH_EVERY or time.monotonic() - self.since >= FLUSH_AFTER_S:
                self.flush()
            return None
        retry_at = None
        deadline = first + timedelta(seconds=self.settings.webhook_retry_for_s)
        if now >= deadline:
            row["b_status"] = "failed"
        else:
            retry_at = min(now + timedelta(seconds=backoff(self.settings, attempts, rng)), deadline)
            row["b_next_attempt_at"] = retry_at
            # First: should the write below be lost, the run still comes and tries again.
            wake(self.connection, [self.webhook_id], retry_at)
        self.waiting.append(row)
        self.flush()
        return retry_at

    def flush(self) -> None:
        if self.waiting:
            self.connection.execute(_WRITE, self.waiting)
            self.waiting = []
        self.since = time.monotonic()


def deliver(
    env: JobEnvironment,
    webhook_id: int,
    *,
    clock: Callable[[], datetime] = utc_now,
    resolver: Resolver = resolve,
    rng: random.Random | None = None,
) -> dict[str, Any]:
    """Send the webhook's due deliveries in order until one fails or none is due.

    One connection serves the whole run, each statement its own transaction (one round trip
    per outcome), so no transaction is ever open while a delivery is sent."""
    rng = rng or random.Random()
    summary = {"webhook_id": webhook_id, "delivered": 0, "failed_attempts": 0, "gave_up": 0}
    with client(env.settings) as http, env.engine.connect() as pooled:
        connection = pooled.execution_options(isolation_level="AUTOCOMMIT")
        # An outcome lost in a database crash only means its delivery is sent again (with the
        # same event id), so its commit need not wait for the disk: a flush per delivery would
        # bound the rate by the disk's sync latency. The event itself was committed durably.
        connection.execute(text("SET synchronous_commit = off"))
        outcomes = Outcomes(connection, env.settings, webhook_id)
        try:
            return _deliver_due(
                connection, env.settings, http, outcomes, summary, clock, resolver, rng
            )
        finally:
            outcomes.flush()
            connection.execute(text("RESET synchronous_commit"))


def _deliver_due(
    connection: Connection,
    settings: Settings,
    http: httpx.Client,
    outcomes: Outcomes,
    summary: dict[str, Any],
    clock: Callable[[], datetime],
    resolver: Resolver,
    rng: random.Random,
) -> dict[str, Any]:
    webhook_id = outcomes.webhook_id
    while True:
        outcomes.flush()
        webhook, batch = _pending(connection, webhook_id)
        if webhook is None or not batch:
            return summary
        for delivery in batch:
            now = clock()
            if delivery.next_attempt_at > now:
                # The head is backing off: everything behind it waits for its next run.
                wake(connection, [webhook_id], delivery.next_attempt_at)
                return summary
            outcome = send(http, settings, webhook, delivery, resolver)
            retry_at = outcomes.add(delivery, outcome, clock(), rng)
            if outcome.delivered:
                summary["delivered"] += 1
                continue
            summary["failed_attempts"] += 1
            logger.warning(
                "webhook %s delivery %s failed: %s", webhook_id, delivery.id, outcome.error
            )
            if retry_at is not None:
                return summary
            summary["gave_up"] += 1
        if len(batch) < BATCH:
            return summary


def run(env: JobEnvironment, webhook_id: str) -> dict[str, Any]:
    try:
        wanted = int(webhook_id)
    except ValueError:
        raise UnprocessableError(f"webhook id must be a number, not {webhook_id!r}") from None
    return deliver(env, wanted)
