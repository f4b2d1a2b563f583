"""Wire shapes of the audit trail."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

ActorKind = Literal["user", "application", "system", "anonymous"]


class AuditActor(BaseModel):
    kind: ActorKind
    user_id: int | None = Field(description="The signed-in user who made the change")
    application_id: int | None = Field(description="The application (API key) used, if any")
    name: str | None = Field(description="The user's email or application's name at the time")


class AuditEventResponse(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    created_at: datetime = Field(description="When the change's transaction began (UTC)")
    actor: AuditActor
    action: str = Field(description='What was done, e.g. "application.permissions_changed"')
    target_type: str = Field(description='What kind of thing changed, e.g. "application"')
    target_id: str
    artefact_id: int | None = Field(description="The artefact the target belongs to, if any")
    before: Any = Field(description="The changed fields before the change (null: created)")
    after: Any = Field(description="The changed fields after the change (null: deleted)")


class AuditEventsResponse(BaseModel):
    events: list[AuditEventResponse]
    count: int
    limit: int
    offset: int
