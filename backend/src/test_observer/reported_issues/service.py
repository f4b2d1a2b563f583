"""Issues people report against environments and test cases: free text and a tracker link,
listed, created, replaced and deleted by one set of rules for both kinds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from test_observer.db.models import EnvironmentIssue, TestCaseIssue
from test_observer.errors import NotFoundError

from .schemas import EnvironmentReportedIssueResponse, TestReportedIssueResponse

Issue = TypeVar("Issue", EnvironmentIssue, TestCaseIssue)
Response = TypeVar("Response", EnvironmentReportedIssueResponse, TestReportedIssueResponse)


@dataclass(frozen=True)
class ReportedIssueKind(Generic[Issue, Response]):
    model: type[Issue]
    response: type[Response]
    label: str


ENVIRONMENT = ReportedIssueKind(
    EnvironmentIssue, EnvironmentReportedIssueResponse, "Environment reported issue"
)
TEST_CASE = ReportedIssueKind(TestCaseIssue, TestReportedIssueResponse, "Test case reported issue")


def list_environment_issues(
    session: Session, is_confirmed: bool | None
) -> list[EnvironmentReportedIssueResponse]:
    query = select(EnvironmentIssue).order_by(EnvironmentIssue.id)
    if is_confirmed is not None:
        query = query.where(EnvironmentIssue.is_confirmed.is_(is_confirmed))
    return [EnvironmentReportedIssueResponse.model_validate(i) for i in session.scalars(query)]


def list_test_case_issues(
    session: Session, template_id: str | None, case_name: str | None
) -> list[TestReportedIssueResponse]:
    query = select(TestCaseIssue).order_by(TestCaseIssue.id)
    if template_id:
        query = query.where(TestCaseIssue.template_id == template_id)
    if case_name:
        query = query.where(TestCaseIssue.case_name == case_name)
    return [TestReportedIssueResponse.model_validate(i) for i in session.scalars(query)]


def _values(request: BaseModel) -> dict[str, object]:
    # A request's fields are its table's columns; a URL is stored as its text.
    return request.model_dump(mode="json")


def _get(session: Session, kind: ReportedIssueKind[Issue, Response], issue_id: int) -> Issue:
    issue = session.get(kind.model, issue_id)
    if issue is None:
        raise NotFoundError(f"{kind.label} {issue_id} not found")
    return issue


def create(
    session: Session, kind: ReportedIssueKind[Issue, Response], request: BaseModel
) -> Response:
    issue = kind.model(**_values(request))
    session.add(issue)
    session.flush()
    session.refresh(issue)
    return kind.response.model_validate(issue)


def replace(
    session: Session, kind: ReportedIssueKind[Issue, Response], issue_id: int, request: BaseModel
) -> Response:
    issue = _get(session, kind, issue_id)
    for key, value in _values(request).items():
        setattr(issue, key, value)
    session.flush()
    session.refresh(issue)
    return kind.response.model_validate(issue)


def delete(session: Session, kind: ReportedIssueKind[Issue, Response], issue_id: int) -> None:
    session.delete(_get(session, kind, issue_id))
    session.flush()
