"""Test plan names for autocompletion, answered like the environment names."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, exists, func, select
from sqlalchemy.orm import Session

from test_observer.db.like import contains
from test_observer.db.models import Artefact, ArtefactBuild, FamilyName, TestExecution, TestPlan

from .schemas import TestPlansResponse


def list_test_plan_names(
    session: Session, q: str | None, families: Sequence[FamilyName], limit: int, offset: int
) -> TestPlansResponse:
    conditions: list[ColumnElement[bool]] = []
    text = (q or "").strip()
    if text:
        conditions.append(contains(TestPlan.name, text))
    if families:
        conditions.append(
            exists()
            .where(
                TestExecution.test_plan_id == TestPlan.id,
                ArtefactBuild.id == TestExecution.artefact_build_id,
                Artefact.id == ArtefactBuild.artefact_id,
                Artefact.family.in_(families),
            )
            .correlate(TestPlan)
        )
    # Plan names are unique, so unlike environment names they need no DISTINCT.
    count = session.scalar(select(func.count()).select_from(TestPlan).where(*conditions)) or 0
    page = session.scalars(
        select(TestPlan.name).where(*conditions).order_by(TestPlan.name).limit(limit).offset(offset)
    ).all()
    return TestPlansResponse(test_plans=list(page), count=count, limit=limit, offset=offset)
