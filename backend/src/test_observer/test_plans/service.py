"""Test plan names for autocompletion, answered like the environment names."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from test_observer.db.models import FamilyName, TestExecution, TestPlan
from test_observer.environments.service import name_search_conditions

from .schemas import TestPlansResponse


def list_test_plan_names(
    session: Session, q: str | None, families: Sequence[FamilyName], limit: int, offset: int
) -> TestPlansResponse:
    conditions = name_search_conditions(
        TestPlan.name, TestExecution.test_plan_id == TestPlan.id, TestPlan, q, families
    )
    # Plan names are unique, so unlike environment names they need no DISTINCT.
    count = session.scalar(select(func.count()).select_from(TestPlan).where(*conditions)) or 0
    page = session.scalars(
        select(TestPlan.name).where(*conditions).order_by(TestPlan.name).limit(limit).offset(offset)
    ).all()
    return TestPlansResponse(test_plans=list(page), count=count, limit=limit, offset=offset)
