"""Declared expected environments, and the environments an artefact is missing.

The rule for what is expected of an artefact and what it misses is `expectations.missing`,
shared with readiness. Each write is one function, and one statement.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlencode

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from test_observer.artefacts.previous import previous_artefact_ids
from test_observer.artefacts.readiness_events import announce_readiness_of_name
from test_observer.artefacts.service import get_artefact
from test_observer.audit.service import record_audit_event
from test_observer.auth import Principal
from test_observer.db.models import (
    ExpectedEnvironments,
    FamilyName,
)
from test_observer.db.models.base import UTC_NOW
from test_observer.expectations.missing import ANY_PLAN
from test_observer.expectations.missing import missing_environments as expected_and_missing
from test_observer.notifications.links import artefact_url

from .schemas import (
    ExpectedEnvironmentsListResponse,
    ExpectedEnvironmentsRequest,
    ExpectedEnvironmentsResponse,
    MissingEnvironmentsResponse,
)


def _response(row: ExpectedEnvironments) -> ExpectedEnvironmentsResponse:
    return ExpectedEnvironmentsResponse(
        family=row.family,
        artefact_name=row.artefact_name,
        test_plan=row.test_plan or None,
        environments=row.environments,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def declare_expected_environments(
    session: Session, principal: Principal | None, request: ExpectedEnvironmentsRequest
) -> ExpectedEnvironmentsResponse:
    """Create or replace the declaration for (family, artefact name, test plan).

    One INSERT ... ON CONFLICT: concurrent declarations of one key leave one row, the last.
    """
    environments = sorted(set(request.environments))
    statement = insert(ExpectedEnvironments).values(
        family=request.family,
        artefact_name=request.artefact_name,
        test_plan=request.test_plan or ANY_PLAN,
        environments=environments,
    )
    row = session.scalars(
        statement.on_conflict_do_update(
            index_elements=["family", "artefact_name", "test_plan"],
            set_={"environments": statement.excluded.environments, "updated_at": UTC_NOW},
        ).returning(ExpectedEnvironments),
        execution_options={"populate_existing": True},
    ).one()
    declared = _response(row)
    announce_readiness_of_name(session, request.family, request.artefact_name)
    record_audit_event(
        session,
        principal,
        "expected_environments.declared",
        "expected_environments",
        row.id,
        after=declared,
    )
    return declared


def list_expected_environments(
    session: Session,
    families: Sequence[FamilyName],
    artefact_name: str | None,
    test_plan: str | None,
) -> ExpectedEnvironmentsListResponse:
    query = select(ExpectedEnvironments).order_by(
        ExpectedEnvironments.family,
        ExpectedEnvironments.artefact_name,
        ExpectedEnvironments.test_plan,
    )
    if families:
        query = query.where(ExpectedEnvironments.family.in_(families))
    if artefact_name is not None:
        query = query.where(ExpectedEnvironments.artefact_name == artefact_name)
    if test_plan is not None:
        query = query.where(ExpectedEnvironments.test_plan == test_plan)
    return ExpectedEnvironmentsListResponse(
        expected_environments=[_response(row) for row in session.scalars(query)]
    )


def delete_expected_environments(
    session: Session,
    principal: Principal | None,
    family: FamilyName,
    artefact_name: str,
    test_plan: str | None,
) -> None:
    """Withdraw one declaration. Withdrawing one that does not exist succeeds: the outcome is
    the same."""
    withdrawn = session.scalars(
        delete(ExpectedEnvironments)
        .where(
            ExpectedEnvironments.family == family,
            ExpectedEnvironments.artefact_name == artefact_name,
            ExpectedEnvironments.test_plan == (test_plan or ANY_PLAN),
        )
        .returning(ExpectedEnvironments)
    ).one_or_none()
    if withdrawn is not None:
        announce_readiness_of_name(session, family, artefact_name)
        record_audit_event(
            session,
            principal,
            "expected_environments.withdrawn",
            "expected_environments",
            withdrawn.id,
            before=_response(withdrawn),
        )


def missing_environments(
    session: Session, frontend_url: str, artefact_id: int, test_plans: Sequence[str]
) -> MissingEnvironmentsResponse:
    """See `expectations.missing`, readiness's rule too. Three statements, whatever the number
    of executions: the artefact, its previous version, and what it misses."""
    artefact = get_artefact(session, artefact_id)
    previous_id = previous_artefact_ids(session, [artefact.id])[artefact.id]
    found = expected_and_missing(session, {artefact.id: previous_id}, test_plans)[artefact.id]
    link = None
    if previous_id is not None:
        link = artefact_url(frontend_url, artefact.family.value, previous_id)
        if found.names:
            link += "?" + urlencode([("Environment", name) for name in found.names])
    return MissingEnvironmentsResponse(
        missing_environments=found.names,
        previous_artefact_link=link,
        expected_from=found.expected_from,
    )
