"""Setting, listing and lifting quarantines, and the condition every reader applies.

A quarantine applies to a result when it names the result's test case and either the result's
environment or no environment, and has not expired. Expiry is a comparison with the current
time inside each query (`is_active`), so an expired entry stops applying at that moment with
no job to lift it; it stays listed, marked inactive, until someone removes it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, Select, delete, func, literal, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session, aliased

from test_observer.artefacts.readiness_events import announce_readiness_of_test_case
from test_observer.audit.service import record_audit_event
from test_observer.auth import Principal
from test_observer.db.models import Environment, Issue, Quarantine, TestCase
from test_observer.environments.schemas import EnvironmentResponse
from test_observer.errors import NotFoundError, UnprocessableError

from .schemas import (
    QuarantineRequest,
    QuarantineResponse,
    QuarantinesLifted,
    QuarantinesResponse,
)


def _utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def is_active(quarantine: type[Quarantine] = Quarantine) -> ColumnElement[bool]:
    """The entry applies now: it has no expiry, or its expiry is still to come."""
    return or_(
        quarantine.expires_at.is_(None),
        quarantine.expires_at > func.timezone("utc", func.now()),
    )


def quarantined(
    test_case_id: ColumnElement[int], environment_id: ColumnElement[int]
) -> ColumnElement[bool]:
    """Whether an active quarantine covers this test case in this environment.

    Correlated to the caller's columns; the unique index on (test case, environment) finds
    the test case's entries.
    """
    entry = aliased(Quarantine)
    return (
        select(literal(1))
        .where(
            entry.test_case_id == test_case_id,
            or_(entry.environment_id.is_(None), entry.environment_id == environment_id),
            is_active(entry),
        )
        .exists()
    )


def set_quarantine(
    session: Session, principal: Principal | None, request: QuarantineRequest
) -> list[QuarantineResponse]:
    """Quarantine a test case on some environments or all; an entry set again is replaced.

    The only writer of quarantines besides `lift_quarantines`.
    """
    test_case_id = session.scalar(select(TestCase.id).where(TestCase.name == request.test_case))
    if test_case_id is None:
        raise NotFoundError(f"Test case {request.test_case!r} not found")
    environment_ids = sorted(set(request.environment_ids))
    # No environment: one entry for every environment.
    scopes: list[int | None] = list(environment_ids) or [None]
    if environment_ids:
        known = set(
            session.scalars(select(Environment.id).where(Environment.id.in_(environment_ids)))
        )
        unknown = [id_ for id_ in environment_ids if id_ not in known]
        if unknown:
            raise NotFoundError(f"Environments not found: {', '.join(map(str, unknown))}")
    if request.issue_id is not None and session.get(Issue, request.issue_id) is None:
        raise NotFoundError(f"Issue {request.issue_id} not found")
    if request.expires_at is not None and request.expires_at <= _utc_now():
        raise UnprocessableError(
            "expires_at is in the past", loc=("body", "expires_at"), input=str(request.expires_at)
        )
    statement = insert(Quarantine).values(
        [
            {
                "test_case_id": test_case_id,
                "environment_id": environment_id,
                "reason": request.reason,
                "issue_id": request.issue_id,
                "expires_at": request.expires_at,
            }
            for environment_id in scopes
        ]
    )
    ids = session.scalars(
        statement.on_conflict_do_update(
            index_elements=[Quarantine.test_case_id, func.coalesce(Quarantine.environment_id, 0)],
            set_={
                "reason": statement.excluded.reason,
                "issue_id": statement.excluded.issue_id,
                "expires_at": statement.excluded.expires_at,
                "updated_at": func.timezone("utc", func.now()),
            },
        ).returning(Quarantine.id)
    ).all()
    announce_readiness_of_test_case(session, test_case_id, environment_ids)
    set_entries = _responses(
        session, select(Quarantine).where(Quarantine.id.in_(ids)), None, 0
    ).quarantines
    record_audit_event(
        session,
        principal,
        "quarantine.set",
        "test_case",
        test_case_id,
        after=[entry.model_dump(mode="json") for entry in set_entries],
    )
    return set_entries


def lift_quarantines(
    session: Session,
    principal: Principal | None,
    test_case: str,
    environment_ids: Sequence[int] | None,
) -> QuarantinesLifted:
    """Remove a test case's entries: on the given environments, or all of them.

    The only writer of quarantines besides `set_quarantine`.
    """
    statement = delete(Quarantine).where(
        Quarantine.test_case_id.in_(select(TestCase.id).where(TestCase.name == test_case))
    )
    if environment_ids:
        statement = statement.where(Quarantine.environment_id.in_(environment_ids))
    lifted = session.execute(
        statement.returning(Quarantine.test_case_id, Quarantine.environment_id)
    ).all()
    if lifted:
        scopes = [row.environment_id for row in lifted]
        announce_readiness_of_test_case(
            session, lifted[0].test_case_id, [] if None in scopes else scopes
        )
        record_audit_event(
            session,
            principal,
            "quarantine.lifted",
            "test_case",
            lifted[0].test_case_id,
            before=[{"environment_id": row.environment_id} for row in lifted],
        )
    return QuarantinesLifted(lifted=len(lifted))


def list_quarantines(
    session: Session,
    *,
    test_case: str | None,
    environment_id: int | None,
    include_expired: bool,
    limit: int,
    offset: int,
) -> QuarantinesResponse:
    """Entries by test case name, then environment (every-environment entries first)."""
    query = select(Quarantine)
    if test_case is not None:
        query = query.where(
            Quarantine.test_case_id.in_(select(TestCase.id).where(TestCase.name == test_case))
        )
    if environment_id is not None:
        # The entries that apply on that environment, those for every environment included.
        query = query.where(
            or_(Quarantine.environment_id.is_(None), Quarantine.environment_id == environment_id)
        )
    if not include_expired:
        query = query.where(is_active())
    return _responses(session, query, limit, offset)


def _responses(
    session: Session, query: Select[Quarantine], limit: int | None, offset: int
) -> QuarantinesResponse:
    entries = query.subquery("entries")
    count = session.scalar(select(func.count()).select_from(entries)) or 0
    active = or_(
        entries.c.expires_at.is_(None), entries.c.expires_at > func.timezone("utc", func.now())
    )
    rows = session.execute(
        select(
            entries,
            TestCase.name.label("test_case"),
            Environment.name.label("environment_name"),
            Environment.architecture,
            Issue,
            active.label("active"),
        )
        .join(TestCase, TestCase.id == entries.c.test_case_id)
        .outerjoin(Environment, Environment.id == entries.c.environment_id)
        .outerjoin(Issue, Issue.id == entries.c.issue_id)
        .order_by(
            TestCase.name,
            Environment.name.asc().nulls_first(),
            Environment.architecture,
            entries.c.id,
        )
        .limit(limit)
        .offset(offset)
    ).all()
    return QuarantinesResponse(
        count=count,
        limit=limit if limit is not None else count,
        offset=offset,
        quarantines=[
            QuarantineResponse(
                id=row.id,
                test_case_id=row.test_case_id,
                test_case=row.test_case,
                environment=(
                    EnvironmentResponse(
                        id=row.environment_id,
                        name=row.environment_name,
                        architecture=row.architecture,
                    )
                    if row.environment_id is not None
                    else None
                ),
                reason=row.reason,
                issue_id=row.issue_id,
                issue_url=row.Issue.url if row.Issue is not None else None,
                expires_at=row.expires_at,
                active=row.active,
                created_at=row.created_at,
                updated_at=row.updated_at,
            )
            for row in rows
        ],
    )
