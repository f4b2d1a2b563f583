"""/v1/audit-events: the audit trail, and each artefact's part of it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from test_observer.auth import requires
from test_observer.db.engine import DbSession
from test_observer.db.models import AuditEvent, Permission
from test_observer.input_safety import EdgeRoute

from . import service
from .schemas import ActorKind, AuditActor, AuditEventResponse, AuditEventsResponse

router = APIRouter(tags=["audit"], route_class=EdgeRoute)

Limit = Annotated[
    int, Query(ge=1, le=1000, description="Maximum number of events to return (default: 50)")
]
Offset = Annotated[int, Query(ge=0, description="Number of events to skip (default: 0)")]
Since = Annotated[datetime | None, Query(description="Events at or after this time")]
Until = Annotated[datetime | None, Query(description="Events before this time")]


def _response(event: AuditEvent) -> AuditEventResponse:
    return AuditEventResponse(
        id=event.id,
        created_at=event.created_at,
        actor=AuditActor(
            kind=event.actor_kind,
            user_id=event.actor_user_id,
            application_id=event.actor_application_id,
            name=event.actor_name,
        ),
        action=event.action,
        target_type=event.target_type,
        target_id=event.target_id,
        artefact_id=event.artefact_id,
        before=event.before,
        after=event.after,
    )


def _page(
    session: DbSession, filters: service.AuditFilters, limit: int, offset: int
) -> AuditEventsResponse:
    events, count = service.search_audit_events(session, filters, limit, offset)
    return AuditEventsResponse(
        events=[_response(event) for event in events], count=count, limit=limit, offset=offset
    )


@router.get("/v1/audit-events", dependencies=[requires(Permission.view_audit)])
def get_audit_events(
    session: DbSession,
    target_type: Annotated[str | None, Query(max_length=50)] = None,
    target_id: Annotated[str | None, Query(max_length=100)] = None,
    actor_user_id: int | None = None,
    actor_application_id: int | None = None,
    actor_kind: ActorKind | None = None,
    since: Since = None,
    until: Until = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> AuditEventsResponse:
    """Privileged changes, newest first; every filter given must match."""
    filters = service.AuditFilters(
        target_type=target_type,
        target_id=target_id,
        actor_user_id=actor_user_id,
        actor_application_id=actor_application_id,
        actor_kind=actor_kind,
        since=since,
        until=until,
    )
    return _page(session, filters, limit, offset)


@router.get(
    "/v1/artefacts/{artefact_id:int}/audit-events",
    dependencies=[requires(Permission.view_audit)],
    tags=["artefacts"],
)
def get_artefact_audit_events(
    session: DbSession,
    artefact_id: int,
    since: Since = None,
    until: Until = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> AuditEventsResponse:
    """Changes of the artefact and of its parts (reviews, reviewers), newest first. The
    events outlive the artefact: a deleted artefact's are still answered."""
    filters = service.AuditFilters(artefact_id=artefact_id, since=since, until=until)
    return _page(session, filters, limit, offset)
