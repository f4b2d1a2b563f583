"""/v1/webhooks: subscriptions to events, and their deliveries."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status

from test_observer.auth import Principal, requires
from test_observer.db.engine import DbSession
from test_observer.db.models import Permission
from test_observer.input_safety import EdgeRoute

from . import service
from .schemas import (
    DeliveriesResponse,
    DeliveryResponse,
    WebhookCreate,
    WebhookCreatedResponse,
    WebhookPatch,
    WebhookResponse,
)

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"], route_class=EdgeRoute)

NOT_FOUND: dict[int | str, dict[str, Any]] = {
    status.HTTP_404_NOT_FOUND: {"description": "The webhook does not exist"}
}
VIEW = requires(Permission.view_webhook)
CHANGE = requires(Permission.change_webhook)


@router.get("", dependencies=[VIEW])
def get_webhooks(session: DbSession) -> list[WebhookResponse]:
    return service.list_webhooks(session)


@router.post("", status_code=status.HTTP_201_CREATED)
def create_webhook(
    body: WebhookCreate, session: DbSession, principal: Annotated[Principal, CHANGE]
) -> WebhookCreatedResponse:
    """Subscribe a URL to events. The secret is never answered again."""
    return service.create_webhook(session, principal, body)


@router.get("/{webhook_id}", dependencies=[VIEW], responses=NOT_FOUND)
def get_webhook(webhook_id: int, session: DbSession) -> WebhookResponse:
    return service.get_webhook(session, webhook_id)


@router.patch("/{webhook_id}", responses=NOT_FOUND)
def update_webhook(
    webhook_id: int,
    body: WebhookPatch,
    session: DbSession,
    principal: Annotated[Principal, CHANGE],
) -> WebhookResponse:
    """Change the fields given; the others are kept."""
    return service.update_webhook(session, principal, webhook_id, body)


@router.delete(
    "/{webhook_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=NOT_FOUND,
)
def delete_webhook(
    webhook_id: int, session: DbSession, principal: Annotated[Principal, CHANGE]
) -> Response:
    service.delete_webhook(session, principal, webhook_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{webhook_id}/deliveries", dependencies=[VIEW], responses=NOT_FOUND)
def get_deliveries(
    webhook_id: int,
    session: DbSession,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    before: Annotated[
        int | None, Query(ge=1, description="Only deliveries with a smaller id (older)")
    ] = None,
) -> DeliveriesResponse:
    """The webhook's deliveries, newest first."""
    return service.list_deliveries(session, webhook_id, limit, before)


@router.post(
    "/{webhook_id}/deliveries/{delivery_id}/redeliver",
    status_code=status.HTTP_202_ACCEPTED,
    dependencies=[CHANGE],
    responses={
        status.HTTP_404_NOT_FOUND: {"description": "The webhook or delivery does not exist"},
        status.HTTP_409_CONFLICT: {"description": "The event is already waiting to be sent"},
    },
)
def redeliver(webhook_id: int, delivery_id: int, session: DbSession) -> DeliveryResponse:
    """Send the delivery's event again (same event id), after the webhook's waiting ones."""
    return service.redeliver(session, webhook_id, delivery_id)
