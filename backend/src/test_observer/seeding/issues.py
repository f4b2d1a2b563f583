"""Issues, attachment rules and attachments for the seeded dataset, through the API's service
code.

Proportions follow how reviewers triage: a bug per recurring failure. Each issue stands for one
test template of one family failing: about a third of the issues have a rule (created before
the results arrive, so ingestion attaches through the hook, as in production), the others
are attached by hand afterwards with the same filter a reviewer would use in the bulk action.
One issue in twenty asks for automatic reruns.
"""

from __future__ import annotations

from pydantic import HttpUrl
from sqlalchemy.orm import Session

from test_observer.db.models import FamilyName, IssueStatus, TestResultStatus
from test_observer.issues.attachments import attach
from test_observer.issues.rules import create_rule
from test_observer.issues.schemas import AttachmentRuleRequest, IssueAttachmentRequest, IssueFields
from test_observer.issues.service import put_issue
from test_observer.issues.urls import IssueReference, parse_issue_url
from test_observer.result_filters.model import TestResultSearchFilters

FAILED = [TestResultStatus.FAILED]
STATUSES = [IssueStatus.OPEN, IssueStatus.OPEN, IssueStatus.CLOSED, IssueStatus.UNKNOWN]


def _url(index: int) -> str:
    match index % 3:
        case 0:
            return f"https://github.com/canonical/project-{index % 7}/issues/{1000 + index}"
        case 1:
            return f"https://warthogs.atlassian.net/browse/QA-{2000 + index}"
        case _:
            return f"https://bugs.launchpad.net/ubuntu/+source/linux/+bug/{3_000_000 + index}"


def _reference(index: int) -> IssueReference:
    return parse_issue_url(HttpUrl(_url(index)))


def _template(index: int, templates: list[str]) -> str:
    return templates[(index * 7) % len(templates)]


def has_rule(index: int) -> bool:
    return index % 3 == 0


def create_issues(
    session: Session, count: int, families: list[FamilyName], templates: list[str]
) -> list[int]:
    """The issues, and the rules of those that have one; their ids."""
    ids = []
    for index in range(count):
        family = families[index % len(families)]
        template = _template(index, templates) if templates else ""
        issue = put_issue(
            session,
            _reference(index),
            IssueFields(
                title=f"{family.value}: {template} fails" if template else f"Issue {index}",
                status=STATUSES[index % len(STATUSES)],
                auto_rerun_enabled=index % 20 == 0,
            ),
        )
        ids.append(issue.id)
        if has_rule(index) and templates:
            create_rule(
                session,
                None,
                issue.id,
                AttachmentRuleRequest(
                    families=[family], template_ids=[template], test_result_statuses=FAILED
                ),
            )
    return ids


def attach_by_hand(
    session: Session, issue_ids: list[int], families: list[FamilyName], templates: list[str]
) -> None:
    """Attach each issue without a rule to the failures of its template, as a reviewer would
    with the bulk action: one set-based statement per issue."""
    if not templates:
        return
    for index, issue_id in enumerate(issue_ids):
        if has_rule(index):
            continue
        attach(
            session,
            issue_id,
            IssueAttachmentRequest(
                test_results_filters=TestResultSearchFilters(
                    families=[families[index % len(families)]],
                    template_ids=[_template(index, templates)],
                    test_result_statuses=FAILED,
                )
            ),
        )
