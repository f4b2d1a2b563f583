"""Outbound webhooks: subscriptions, the outbox of events and one delivery per subscriber.

An event is written in the transaction of the change it announces, together with one delivery
row per matching subscription; the job worker sends the deliveries. Events no subscription
wanted are not written at all.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from .base import UTC_NOW, Base, Entity


class Webhook(Entity):
    __tablename__ = "webhook"
    __table_args__ = (
        CheckConstraint("payload_format IN ('json', 'slack', 'mattermost')", name="payload_format"),
    )

    url: Mapped[str] = mapped_column(String())
    event_types: Mapped[list[str]] = mapped_column(ARRAY(String()))
    active: Mapped[bool] = mapped_column(default=True, server_default=text("true"))
    payload_format: Mapped[str] = mapped_column(String(), server_default="json")
    # Write-only: used to sign deliveries, never answered.
    secret: Mapped[str] = mapped_column(String())
    # Empty: every family (or artefact name).
    families: Mapped[list[str]] = mapped_column(ARRAY(String()), server_default="{}")
    artefact_names: Mapped[list[str]] = mapped_column(ARRAY(String()), server_default="{}")


class WebhookEvent(Base):
    """Something that happened, as every subscriber receives it (the `json` body)."""

    __tablename__ = "webhook_event"
    # The clean-up job finds old events by age.
    __table_args__ = (Index(None, "occurred_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True)
    event_type: Mapped[str] = mapped_column(String())
    occurred_at: Mapped[datetime] = mapped_column(DateTime(), server_default=UTC_NOW)
    data: Mapped[dict[str, Any]] = mapped_column(JSONB())


class WebhookDelivery(Base):
    """One event for one webhook: sent in id order per webhook, retried until it succeeds or
    its retry period ends."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'delivered', 'failed')", name="status"),
        # A webhook's deliveries, newest first (the deliveries list).
        Index("webhook_delivery_webhook_id_id_ix", "webhook_id", "id"),
        # The head of a webhook's queue: its oldest pending delivery.
        Index(
            "webhook_delivery_pending_ix",
            "webhook_id",
            "id",
            postgresql_where=text("status = 'pending'"),
        ),
        # The metrics read the deliveries attempted in their window.
        Index("webhook_delivery_last_attempt_at_ix", "last_attempt_at"),
        # Deleting an event finds its deliveries.
        Index("webhook_delivery_event_id_ix", "event_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger(), primary_key=True)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhook.id", ondelete="CASCADE"))
    event_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("webhook_event.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(), server_default="pending")
    attempts: Mapped[int] = mapped_column(Integer(), server_default=text("0"))
    created_at: Mapped[datetime] = mapped_column(DateTime(), server_default=UTC_NOW)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(), server_default=UTC_NOW)
    first_attempt_at: Mapped[datetime | None] = mapped_column(DateTime())
    last_attempt_at: Mapped[datetime | None] = mapped_column(DateTime())
    last_response_code: Mapped[int | None] = mapped_column(Integer())
    last_error: Mapped[str | None] = mapped_column(String())
    last_duration_s: Mapped[float | None] = mapped_column(Float())
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime())
