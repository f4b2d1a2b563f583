"""Test case names for autocompletion, and the issues reported against test cases."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, exists, select
from sqlalchemy.orm import Session

from test_observer import reported_issues
from test_observer.db.like import contains
from test_observer.db.models import (
    Artefact,
    ArtefactBuild,
    FamilyName,
    TestCase,
    TestCaseIssue,
    TestExecution,
    TestResult,
)

from .schemas import (
    TestCaseInfo,
    TestCasesResponse,
    TestReportedIssueRequest,
    TestReportedIssueResponse,
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


def list_reported_issues(
    session: Session, template_id: str | None, case_name: str | None
) -> list[TestReportedIssueResponse]:
    query = select(TestCaseIssue).order_by(TestCaseIssue.id)
    if template_id:
        query = query.where(TestCaseIssue.template_id == template_id)
    if case_name:
        query = query.where(TestCaseIssue.case_name == case_name)
    return [TestReportedIssueResponse.model_validate(i) for i in session.scalars(query)]


def _values(request: TestReportedIssueRequest) -> dict[str, object]:
    return {
        "template_id": request.template_id,
        "case_name": request.case_name,
        "description": request.description,
        "url": str(request.url),
    }


LABEL = "Test case reported issue"


def create_reported_issue(
    session: Session, request: TestReportedIssueRequest
) -> TestReportedIssueResponse:
    issue = reported_issues.create_reported_issue(session, TestCaseIssue, _values(request))
    return TestReportedIssueResponse.model_validate(issue)


def update_reported_issue(
    session: Session, issue_id: int, request: TestReportedIssueRequest
) -> TestReportedIssueResponse:
    issue = reported_issues.replace_reported_issue(
        session, TestCaseIssue, issue_id, _values(request), LABEL
    )
    return TestReportedIssueResponse.model_validate(issue)


def delete_reported_issue(session: Session, issue_id: int) -> None:
    reported_issues.delete_reported_issue(session, TestCaseIssue, issue_id, LABEL)
