"""Environment names for autocompletion."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, exists, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from test_observer.db.like import contains
from test_observer.db.models import (
    Artefact,
    ArtefactBuild,
    Environment,
    FamilyName,
    TestExecution,
)

from .schemas import (
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
