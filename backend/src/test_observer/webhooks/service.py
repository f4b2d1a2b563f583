"""Webhook subscriptions and their deliveries: the rules and queries behind /v1/webhooks.

Each write is one function, so that whatever must accompany a change of subscription is
added in one place.
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from test_observer.audit.service import record_audit_event
from test_observer.auth import Principal
from test_observer.db.models import Webhook, WebhookDelivery, WebhookEvent
from test_observer.errors import ConflictError, NotFoundError

from .events import wake
from .schemas import (
    DeliveriesResponse,
    DeliveryResponse,
    WebhookCreate,
    WebhookCreatedResponse,
    WebhookPatch,
    WebhookResponse,
)

UTC_NOW = func.timezone("utc", func.now())


def _webhook(session: Session, webhook_id: int, *, lock: bool = False) -> Webhook:
    query = select(Webhook).where(Webhook.id == webhook_id)
    if lock:
        query = query.with_for_update()
    webhook = session.scalar(query)
    if webhook is None:
        raise NotFoundError(f"Webhook {webhook_id} not found")
    return webhook


def list_webhooks(session: Session) -> list[WebhookResponse]:
    return [
        WebhookResponse.model_validate(webhook)
        for webhook in session.scalars(select(Webhook).order_by(Webhook.id))
    ]


def get_webhook(session: Session, webhook_id: int) -> WebhookResponse:
    return WebhookResponse.model_validate(_webhook(session, webhook_id))


def create_webhook(
    session: Session, principal: Principal | None, request: WebhookCreate
) -> WebhookCreatedResponse:
    generated = None if request.secret is not None else secrets.token_urlsafe(32)
    webhook = Webhook(
        url=request.url,
        event_types=sorted({event_type.value for event_type in request.event_types}),
        active=request.active,
        payload_format=request.payload_format.value,
        secret=request.secret or generated,
        families=sorted({family.value for family in request.families}),
        artefact_names=sorted(set(request.artefact_names)),
    )
    session.add(webhook)
    session.flush()
    session.refresh(webhook)
    # The secret is never recorded: the audit trail is readable by more people than the
    # webhook's owner.
    record_audit_event(
        session, principal, "webhook.created", "webhook", webhook.id, after=_fields(webhook)
    )
    return WebhookCreatedResponse.model_validate({**_fields(webhook), "secret": generated})


def _fields(webhook: Webhook) -> dict[str, Any]:
    return WebhookResponse.model_validate(webhook).model_dump()


def update_webhook(
    session: Session, principal: Principal | None, webhook_id: int, patch: WebhookPatch
) -> WebhookResponse:
    """Change the fields given. A change of where or how to send (URL, secret, activation)
    makes waiting deliveries due now, so a fixed target does not wait out a long back-off."""
    webhook = _webhook(session, webhook_id, lock=True)
    before = _fields(webhook)
    changes: dict[str, Any] = {}
    if patch.url is not None:
        changes["url"] = patch.url
    if patch.event_types is not None:
        changes["event_types"] = sorted({event_type.value for event_type in patch.event_types})
    if patch.active is not None:
        changes["active"] = patch.active
    if patch.payload_format is not None:
        changes["payload_format"] = patch.payload_format.value
    if patch.secret is not None:
        changes["secret"] = patch.secret
    if patch.families is not None:
        changes["families"] = sorted({family.value for family in patch.families})
    if patch.artefact_names is not None:
        changes["artefact_names"] = sorted(set(patch.artefact_names))
    if changes:
        session.execute(update(Webhook).where(Webhook.id == webhook.id).values(changes))
    if {"url", "secret", "active"} & changes.keys() and changes.get("active", webhook.active):
        session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.webhook_id == webhook.id, WebhookDelivery.status == "pending")
            .values(next_attempt_at=UTC_NOW)
        )
        wake(session, [webhook.id])
    session.flush()
    session.refresh(webhook)
    after = _fields(webhook)
    if "secret" in changes:
        after["secret_changed"] = True
    record_audit_event(
        session, principal, "webhook.updated", "webhook", webhook.id, before=before, after=after
    )
    return WebhookResponse.model_validate(webhook)


def delete_webhook(session: Session, principal: Principal | None, webhook_id: int) -> None:
    """The webhook and its deliveries; events no other webhook still has go too."""
    before = _fields(_webhook(session, webhook_id, lock=True))
    record_audit_event(session, principal, "webhook.deleted", "webhook", webhook_id, before=before)
    events = select(WebhookDelivery.event_id).where(WebhookDelivery.webhook_id == webhook_id)
    others = (
        select(WebhookDelivery.event_id)
        .where(
            WebhookDelivery.event_id == WebhookEvent.id,
            WebhookDelivery.webhook_id != webhook_id,
        )
        .exists()
    )
    orphans = list(
        session.scalars(select(WebhookEvent.id).where(WebhookEvent.id.in_(events), ~others))
    )
    session.execute(delete(Webhook).where(Webhook.id == webhook_id))
    if orphans:
        session.execute(delete(WebhookEvent).where(WebhookEvent.id.in_(orphans)))


def _delivery_rows(session: Session, *conditions: Any, limit: int) -> list[DeliveryResponse]:
    rows = session.execute(
        select(WebhookDelivery, WebhookEvent.event_type)
        .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
        .where(*conditions)
        .order_by(WebhookDelivery.id.desc())
        .limit(limit)
    ).all()
    return [
        DeliveryResponse.model_validate(
            {
                **{
                    column: getattr(delivery, column)
                    for column in DeliveryResponse.model_fields
                    if column != "event_type"
                },
                "event_type": event_type,
                "next_attempt_at": delivery.next_attempt_at
                if delivery.status == "pending"
                else None,
            }
        )
        for delivery, event_type in rows
    ]


def list_deliveries(
    session: Session, webhook_id: int, limit: int, before: int | None
) -> DeliveriesResponse:
    """Newest first, a page at a time along the index on (webhook, id)."""
    _webhook(session, webhook_id)
    conditions = [WebhookDelivery.webhook_id == webhook_id]
    if before is not None:
        conditions.append(WebhookDelivery.id < before)
    page = _delivery_rows(session, *conditions, limit=limit + 1)
    more = len(page) > limit
    page = page[:limit]
    return DeliveriesResponse(deliveries=page, next_before=page[-1].id if more else None)


def redeliver(session: Session, webhook_id: int, delivery_id: int) -> DeliveryResponse:
    """Send a delivered or failed delivery's event again, as a new delivery at the end of the
    webhook's queue, with the same event id."""
    _webhook(session, webhook_id, lock=True)
    event_id = session.scalar(
        select(WebhookDelivery.event_id).where(
            WebhookDelivery.id == delivery_id, WebhookDelivery.webhook_id == webhook_id
        )
    )
    if event_id is None:
        raise NotFoundError(f"Delivery {delivery_id} of webhook {webhook_id} not found")
    pending = session.scalar(
        select(WebhookDelivery.id).where(
            WebhookDelivery.webhook_id == webhook_id,
            WebhookDelivery.event_id == event_id,
            WebhookDelivery.status == "pending",
        )
    )
    if pending is not None:
        raise ConflictError(f"Event {event_id} is already waiting to be sent (delivery {pending})")
    new_id = session.scalar(
        insert(WebhookDelivery)
        .values(webhook_id=webhook_id, event_id=event_id)
        .returning(WebhookDelivery.id)
    )
    wake(session, [webhook_id])
    return _delivery_rows(session, WebhookDelivery.id == new_id, limit=1)[0]
