"""Test case names for autocompletion."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, exists, select
from sqlalchemy.orm import Session

from test_observer.db.like import contains
from test_observer.db.models import (
    Artefact,
    ArtefactBuild,
    FamilyName,
    TestCase,
    TestExecution,
    TestResult,
)

from .schemas import (
    TestCaseInfo,
    TestCasesResponse,
)


def list_test_cases(
    session: Session, q: str | None, families: Sequence[FamilyName], limit: int, offset: int
) -> TestCasesResponse:
    conditions: list[ColumnElement[bool]] = []
    text = (q or "").strip()
    if text:
        conditions.append(contains(TestCase.name, text))
    if families:
        conditions.append(
            exists()
            .where(
                TestResult.test_case_id == TestCase.id,
                TestExecution.id == TestResult.test_execution_id,
                ArtefactBuild.id == TestExecution.artefact_build_id,
                Artefact.id == ArtefactBuild.artefact_id,
                Artefact.family.in_(families),
            )
            .correlate(TestCase)
        )
    # Test case names are unique, so (name, template_id) pairs are already distinct.
    rows = session.execute(
        select(TestCase.name, TestCase.template_id)
        .where(*conditions)
        .order_by(TestCase.name, TestCase.template_id)
        .limit(limit)
        .offset(offset)
    ).all()
    return TestCasesResponse(
        test_cases=[TestCaseInfo(test_case=name, template_id=template) for name, template in rows]
    )
