"""Declared expected environments, and the environments an artefact is missing.

An artefact is *missing* an environment that is expected of it but that none of its executions
ran on. What is expected:

1. The declarations for the artefact's family and name, when any applies: an environment
   declared with a test plan must have run that plan; one declared without a plan, any plan.
2. Otherwise, the environments that ran the artefact's previous version (`artefacts.previous`,
   the one definition of "previous").
3. Otherwise (a first version without declarations), nothing.

`test_plans` narrows the comparison to those plans: only the previous version's executions of
them count, only declarations for them (or for any plan) apply, and an environment is
covered only by an execution of the same plan.

Environments are compared by name, as the frontend shows them and as declarations name them.
Each write is one function, and one statement.
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
    Artefact,
    ArtefactBuild,
    Environment,
    ExpectedEnvironments,
    FamilyName,
    TestExecution,
    TestPlan,
)
from test_observer.db.models.base import UTC_NOW
from test_observer.notifications.links import artefact_url

from .schemas import (
    ExpectedEnvironmentsListResponse,
    ExpectedEnvironmentsRequest,
    ExpectedEnvironmentsResponse,
    ExpectedFrom,
    MissingEnvironmentsResponse,
)

# A test plan of None: with any test plan (stored as "", see the model).
ANY_PLAN = ""

# (test plan or None for any plan, environment name)
Requirement = tuple[str | None, str]


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


def _declared(session: Session, artefact: Artefact, plans: Sequence[str]) -> set[Requirement]:
    query = select(ExpectedEnvironments.test_plan, ExpectedEnvironments.environments).where(
        ExpectedEnvironments.family == artefact.family,
        ExpectedEnvironments.artefact_name == artefact.name,
    )
    if plans:
        query = query.where(ExpectedEnvironments.test_plan.in_([ANY_PLAN, *plans]))
    required: set[Requirement] = set()
    for plan, environments in session.execute(query):
        # Narrowed to plans, a declaration for any plan asks for each of them.
        for_plans: Sequence[str | None] = [plan] if plan else (plans or [None])
        required.update((p, name) for p in for_plans for name in environments)
    return required


def _ran(session: Session, artefact_id: int, plans: Sequence[str]) -> set[tuple[str, str]]:
    """(test plan, environment name) of every execution of the artefact, of `plans` if any."""
    query = (
        select(TestPlan.name, Environment.name)
        .select_from(TestExecution)
        .join(ArtefactBuild, ArtefactBuild.id == TestExecution.artefact_build_id)
        .join(Environment, Environment.id == TestExecution.environment_id)
        .join(TestPlan, TestPlan.id == TestExecution.test_plan_id)
        .where(ArtefactBuild.artefact_id == artefact_id)
        .distinct()
    )
    if plans:
        query = query.where(TestPlan.name.in_(plans))
    return {(plan, environment) for plan, environment in session.execute(query)}


def missing_environments(
    session: Session, frontend_url: str, artefact_id: int, test_plans: Sequence[str]
) -> MissingEnvironmentsResponse:
    """See the module doc. Five statements at most, whatever the number of executions: the
    artefact, its previous version, the declarations, and the executions of both versions."""
    artefact = get_artefact(session, artefact_id)
    previous_id = previous_artefact_ids(session, [artefact.id])[artefact.id]
    plans = sorted(set(test_plans))
    required = _declared(session, artefact, plans)
    expected_from: ExpectedFrom = "declared"
    if not required and previous_id is not None:
        expected_from = "previous_version"
        required = {
            (plan if plans else None, environment)
            for plan, environment in _ran(session, previous_id, plans)
        }
    if not required:
        expected_from = "nothing"
    ran = _ran(session, artefact.id, plans) if required else set()
    ran_anyhow = {environment for _, environment in ran}
    missing = sorted(
        {
            environment
            for plan, environment in required
            if (plan, environment) not in ran
            and (plan is not None or environment not in ran_anyhow)
        }
    )
    link = None
    if previous_id is not None:
        link = artefact_url(frontend_url, artefact.family.value, previous_id)
        if missing:
            link += "?" + urlencode([("Environment", name) for name in missing])
    return MissingEnvironmentsResponse(
        missing_environments=missing,
        previous_artefact_link=link,
        expected_from=expected_from,
    )
