"""Environment names for autocompletion, and the issues reported against environments."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, exists, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from test_observer import reported_issues
from test_observer.db.like import contains
from test_observer.db.models import (
    Artefact,
    ArtefactBuild,
    Environment,
    EnvironmentIssue,
    FamilyName,
    TestExecution,
)

from .schemas import (
    EnvironmentReportedIssueRequest,
    EnvironmentReportedIssueResponse,
    EnvironmentsResponse,
)


def name_search_conditions(
    name: InstrumentedAttribute[str],
    ran_it: ColumnElement[bool],
    owner: type[Any],
    q: str | None,
    families: Sequence[FamilyName],
) -> list[ColumnElement[bool]]:
    """The autocompletion filters on names of things executions run on or with: the name
    contains `q`, and an execution matched by `ran_it` tested an artefact of `families`.
    Environment and test plan names are searched alike."""
    conditions: list[ColumnElement[bool]] = []
    text = (q or "").strip()
    if text:
        conditions.append(contains(name, text))
    if families:
        conditions.append(
            exists()
            .where(
                ran_it,
                ArtefactBuild.id == TestExecution.artefact_build_id,
                Artefact.id == ArtefactBuild.artefact_id,
                Artefact.family.in_(families),
            )
            .correlate(owner)
        )
    return conditions


def list_environment_names(
    session: Session, q: str | None, families: Sequence[FamilyName], limit: int, offset: int
) -> EnvironmentsResponse:
    conditions = name_search_conditions(
        Environment.name, TestExecution.environment_id == Environment.id, Environment, q, families
    )
    names = select(Environment.name).where(*conditions).distinct().subquery()
    count = session.scalar(select(func.count()).select_from(names)) or 0
    page = session.scalars(
        select(names.c.name).order_by(names.c.name).limit(limit).offset(offset)
    ).all()
    return EnvironmentsResponse(environments=list(page), count=count, limit=limit, offset=offset)


def list_reported_issues(
    session: Session, is_confirmed: bool | None
) -> list[EnvironmentReportedIssueResponse]:
    query = select(EnvironmentIssue).order_by(EnvironmentIssue.id)
    if is_confirmed is not None:
        query = query.where(EnvironmentIssue.is_confirmed.is_(is_confirmed))
    return [EnvironmentReportedIssueResponse.model_validate(i) for i in session.scalars(query)]


def _values(request: EnvironmentReportedIssueRequest) -> dict[str, object]:
    return {
        "environment_name": request.environment_name,
        "description": request.description,
        "url": str(request.url) if request.url is not None else None,
        "is_confirmed": request.is_confirmed,
    }


LABEL = "Environment reported issue"


def create_reported_issue(
    session: Session, request: EnvironmentReportedIssueRequest
) -> EnvironmentReportedIssueResponse:
    issue = reported_issues.create_reported_issue(session, EnvironmentIssue, _values(request))
    return EnvironmentReportedIssueResponse.model_validate(issue)


def update_reported_issue(
    session: Session, issue_id: int, request: EnvironmentReportedIssueRequest
) -> EnvironmentReportedIssueResponse:
    issue = reported_issues.replace_reported_issue(
        session, EnvironmentIssue, issue_id, _values(request), LABEL
    )
    return EnvironmentReportedIssueResponse.model_validate(issue)


def delete_reported_issue(session: Session, issue_id: int) -> None:
    reported_issues.delete_reported_issue(session, EnvironmentIssue, issue_id, LABEL)
