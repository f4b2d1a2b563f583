"""The listed results of a comparison (`comparison.py`) with their issues, as plain dicts of
the fields of `ComparedResult` and `ComparedIssue`: the response is validated once, in
pydantic's core, rather than a model per listed result."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from test_observer.db.ids import one_of
from test_observer.db.models import Issue, IssueTestResultAttachment
from test_observer.db.models.issues import ISSUE_URL_TEMPLATES

Fields = dict[str, Any]


def compared_result(item: Fields, issues: dict[int, list[Fields]]) -> Fields:
    """A listed result as the fields of `ComparedResult`."""
    seen: dict[int, Fields] = {}
    for result_id in (item["result_id"], item["base_result_id"]):
        for issue in issues.get(result_id, []) if result_id is not None else []:
            seen.setdefault(issue["id"], issue)
    return {
        "test_case_id": item["test_case_id"],
        "test_case": item["test_case"],
        "environment_id": item["environment_id"],
        "test_plan": item["test_plan"],
        "test_result_id": item["result_id"],
        "status": item["status"],
        "duration": item["duration"],
        "base_test_result_id": item["base_result_id"],
        "base_status": item["base_status"],
        "base_duration": item["base_duration"],
        "flaky": item["flaky"],
        "slower": item["slower"],
        "quarantined": item["quarantined"],
        "issues": list(seen.values()),
    }


_ISSUE_COLUMNS = ("id", "source", "project", "key", "title", "status")


def attached_issues(session: Session, result_ids: Collection[int]) -> dict[int, list[Fields]]:
    """The issues attached to each result, as the fields of `ComparedIssue`. The ids go as one
    array parameter (`one_of`): rendering a bound parameter per id (up to 700 for a page of
    every class) took about 3 ms of Python per request under the profiler."""
    if not result_ids:
        return {}
    found: dict[int, list[Fields]] = defaultdict(list)
    for result_id, *fields in session.execute(
        select(
            IssueTestResultAttachment.test_result_id,
            *(getattr(Issue, name) for name in _ISSUE_COLUMNS),
        )
        .join(Issue, Issue.id == IssueTestResultAttachment.issue_id)
        .where(one_of(IssueTestResultAttachment.test_result_id, sorted(set(result_ids))))
        .order_by(IssueTestResultAttachment.test_result_id, Issue.id)
    ):
        issue = dict(zip(_ISSUE_COLUMNS, fields, strict=True))
        issue["url"] = ISSUE_URL_TEMPLATES[issue["source"]].format(
            project=issue["project"], key=issue["key"]
        )
        found[result_id].append(issue)
    return found
