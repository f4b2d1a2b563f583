"""Rules and storage shared by the free-text issues reported against environments and test
cases."""

from typing import TypeVar

from pydantic import HttpUrl
from sqlalchemy.orm import Session

from test_observer.db.models import EnvironmentIssue, TestCaseIssue
from test_observer.errors import NotFoundError

ReportedIssue = TypeVar("ReportedIssue", EnvironmentIssue, TestCaseIssue)

# Reported issues must point at a tracker the team uses.
ALLOWED_ISSUE_HOSTS = frozenset({"github.com", "warthogs.atlassian.net", "bugs.launchpad.net"})


def check_issue_url(url: HttpUrl | None) -> HttpUrl | None:
    if url is not None and url.host not in ALLOWED_ISSUE_HOSTS:
        allowed = ", ".join(sorted(ALLOWED_ISSUE_HOSTS))
        raise ValueError(f"The url must point to one of {allowed}")
    return url


def get_reported_issue(
    session: Session, model: type[ReportedIssue], issue_id: int, label: str
) -> ReportedIssue:
    issue = session.get(model, issue_id)
    if issue is None:
        raise NotFoundError(f"{label} {issue_id} not found")
    return issue


def create_reported_issue(
    session: Session, model: type[ReportedIssue], values: dict[str, object]
) -> ReportedIssue:
    issue = model(**values)
    session.add(issue)
    session.flush()
    session.refresh(issue)
    return issue


def replace_reported_issue(
    session: Session,
    model: type[ReportedIssue],
    issue_id: int,
    values: dict[str, object],
    label: str,
) -> ReportedIssue:
    issue = get_reported_issue(session, model, issue_id, label)
    for key, value in values.items():
        setattr(issue, key, value)
    session.flush()
    session.refresh(issue)
    return issue


def delete_reported_issue(
    session: Session, model: type[ReportedIssue], issue_id: int, label: str
) -> None:
    session.delete(get_reported_issue(session, model, issue_id, label))
    session.flush()
