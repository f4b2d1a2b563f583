"""Writing and reading the audit trail.

`record_audit_event` is the one way to write an event: any write that changes something
privileged calls it in its own transaction, so the event exists exactly when the change does.
`record_audit_events` writes several in one statement, for bulk changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic_core import to_jsonable_python
from sqlalchemy import ColumnElement, and_, delete, func, select, text, true
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from test_observer.auth import Principal
from test_observer.db.models import AuditEvent

# The trigger on `audit_event` accepts deletions only of rows older than this setting's value
# (and never one less than 30 days ago); it is local to the pruning transaction.
PRUNE_HORIZON_SETTING = "test_observer.audit_prune_before"
MINIMUM_RETENTION_DAYS = 30


@dataclass(frozen=True)
class Actor:
    """Who made a change, as the trail records it."""

    kind: str
    user_id: int | None = None
    application_id: int | None = None
    name: str | None = None


SYSTEM = Actor("system")
# An operator at the `test-observer` command line (also what the charm's actions run): the
# service itself, told apart from its own jobs by the name.
COMMAND_LINE = Actor("system", name="command line")
ANONYMOUS = Actor("anonymous")


def actor_of(principal: Principal | Actor | None) -> Actor:
    """The actor of a request's caller. A caller with both a session and a key is recorded as
    the user, with the application's id alongside."""
    if isinstance(principal, Actor):
        return principal
    if principal is None:
        return SYSTEM
    if principal.user is not None:
        return Actor(
            "user",
            user_id=principal.user.id,
            application_id=principal.application.id if principal.application else None,
            name=principal.user.email,
        )
    if principal.application is not None:
        return Actor(
            "application",
            application_id=principal.application.id,
            name=principal.application.name,
        )
    return ANONYMOUS


@dataclass(frozen=True)
class Change:
    """One change for `record_audit_events`."""

    action: str
    target_type: str
    target_id: int | str
    before: Any = None
    after: Any = None
    artefact_id: int | None = None


def _row(actor: Actor, change: Change) -> dict[str, Any]:
    return {
        "actor_kind": actor.kind,
        "actor_user_id": actor.user_id,
        "actor_application_id": actor.application_id,
        "actor_name": actor.name,
        "action": change.action,
        "target_type": change.target_type,
        "target_id": str(change.target_id),
        "artefact_id": change.artefact_id,
        "before": to_jsonable_python(change.before),
        "after": to_jsonable_python(change.after),
    }


def record_audit_event(
    session: Session,
    actor: Principal | Actor | None,
    action: str,
    target_type: str,
    target_id: int | str,
    *,
    before: Any = None,
    after: Any = None,
    artefact_id: int | None = None,
) -> None:
    """Append one event in the caller's transaction. `actor` None means the service itself;
    `before`/`after` are any JSON-able values (enums, dates and pydantic models included)."""
    change = Change(action, target_type, target_id, before, after, artefact_id)
    session.execute(insert(AuditEvent), [_row(actor_of(actor), change)])


def record_audit_events(
    session: Session, actor: Principal | Actor | None, changes: Sequence[Change]
) -> None:
    """Append several events with one multi-row INSERT.

    Given as a list of parameter sets, SQLAlchemy sends them as one INSERT … VALUES (…), (…)
    statement compiled once and cached, where `.values([...])` would compile a new statement
    for every call (tens of milliseconds for fifty rows)."""
    if changes:
        who = actor_of(actor)
        session.execute(insert(AuditEvent), [_row(who, change) for change in changes])


@dataclass(frozen=True)
class AuditFilters:
    target_type: str | None = None
    target_id: str | None = None
    actor_user_id: int | None = None
    actor_application_id: int | None = None
    actor_kind: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    artefact_id: int | None = None


def _conditions(filters: AuditFilters) -> ColumnElement[bool]:
    conditions: list[ColumnElement[bool]] = []
    if filters.target_type is not None:
        conditions.append(AuditEvent.target_type == filters.target_type)
    if filters.target_id is not None:
        conditions.append(AuditEvent.target_id == filters.target_id)
    if filters.actor_user_id is not None:
        conditions.append(AuditEvent.actor_user_id == filters.actor_user_id)
    if filters.actor_application_id is not None:
        conditions.append(AuditEvent.actor_application_id == filters.actor_application_id)
    if filters.actor_kind is not None:
        conditions.append(AuditEvent.actor_kind == filters.actor_kind)
    if filters.since is not None:
        conditions.append(AuditEvent.created_at >= _naive_utc(filters.since))
    if filters.until is not None:
        conditions.append(AuditEvent.created_at < _naive_utc(filters.until))
    if filters.artefact_id is not None:
        conditions.append(AuditEvent.artefact_id == filters.artefact_id)
    return and_(true(), *conditions)


def _naive_utc(moment: datetime) -> datetime:
    """Timestamps are stored as UTC without a zone; an aware filter is converted."""
    if moment.tzinfo is None:
        return moment
    try:
        return moment.astimezone(UTC).replace(tzinfo=None)
    except OverflowError:
        # Within a day of year 1 or 9999: the edge of the calendar, before or after any event.
        return datetime.min if moment.year == 1 else datetime.max


def search_audit_events(
    session: Session, filters: AuditFilters, limit: int, offset: int
) -> tuple[list[AuditEvent], int]:
    """Matching events, newest first, and how many match in all."""
    condition = _conditions(filters)
    count = session.scalar(select(func.count()).select_from(AuditEvent).where(condition)) or 0
    events = session.scalars(
        select(AuditEvent)
        .where(condition)
        .order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return list(events), count


def prune_audit_events(session: Session, retention_days: int) -> int:
    """Delete the events older than `retention_days`; how many were deleted.

    The horizon goes to the trigger through a transaction-local setting, so it applies to this
    transaction's DELETE only.
    """
    days = max(retention_days, MINIMUM_RETENTION_DAYS)
    horizon = datetime.now(UTC).replace(tzinfo=None) - timedelta(days=days)
    session.execute(
        text("SELECT set_config(:name, :value, true)"),
        {"name": PRUNE_HORIZON_SETTING, "value": horizon.isoformat(sep=" ")},
    )
    deleted = session.execute(
        delete(AuditEvent).where(AuditEvent.created_at < horizon).returning(AuditEvent.id)
    )
    return len(deleted.all())
