"""Wire shapes of /v1/webhooks and their deliveries."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from test_observer.db.models import FamilyName

from .events import EventType
from .targets import check_url


class PayloadFormat(StrEnum):
    json = "json"
    slack = "slack"
    mattermost = "mattermost"


class DeliveryStatus(StrEnum):
    pending = "pending"
    delivered = "delivered"
    failed = "failed"


WebhookUrl = Annotated[
    str, StringConstraints(min_length=1, max_length=2000), AfterValidator(check_url)
]
Secret = Annotated[str, StringConstraints(min_length=16, max_length=200)]
ArtefactName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)
]


class WebhookCreate(BaseModel):
    url: WebhookUrl
    event_types: Annotated[list[EventType], Field(min_length=1)]
    active: bool = True
    payload_format: PayloadFormat = PayloadFormat.json
    secret: Secret | None = Field(
        default=None,
        description="Key of the deliveries' signatures. Left out, one is generated and "
        "answered once, in this response only.",
    )
    families: list[FamilyName] = Field(
        default=[], description="Only events about artefacts of these families (empty: all)."
    )
    artefact_names: list[ArtefactName] = Field(
        default=[], description="Only events about artefacts with these names (empty: all)."
    )


class WebhookPatch(BaseModel):
    url: WebhookUrl | None = None
    event_types: Annotated[list[EventType], Field(min_length=1)] | None = None
    active: bool | None = None
    payload_format: PayloadFormat | None = None
    secret: Secret | None = Field(default=None, description="A new signing key.")
    families: list[FamilyName] | None = None
    artefact_names: list[ArtefactName] | None = None


class WebhookResponse(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    url: str
    event_types: list[EventType]
    active: bool
    payload_format: PayloadFormat
    families: list[FamilyName]
    artefact_names: list[str]
    created_at: datetime
    updated_at: datetime


class WebhookCreatedResponse(WebhookResponse):
    secret: str | None = Field(
        description="The generated signing key, shown only here; null when the request gave one."
    )


class DeliveryResponse(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    event_id: UUID
    event_type: EventType
    status: DeliveryStatus
    attempts: int
    created_at: datetime
    next_attempt_at: datetime | None = Field(
        description="When the next attempt is due (pending deliveries only)."
    )
    last_attempt_at: datetime | None
    last_response_code: int | None
    last_error: str | None
    delivered_at: datetime | None


class DeliveriesResponse(BaseModel):
    deliveries: list[DeliveryResponse]
    next_before: int | None = Field(
        description="Pass as `before` for the next (older) page; null on the last page."
    )
