"""Issues: create or update by URL, read, change, and the searchable issue list."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence

from sqlalchemy import ColumnElement, String, case, cast, exists, func, literal, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from test_observer.db.models import (
    Artefact,
    ArtefactBuild,
    FamilyName,
    Issue,
    IssueSource,
    IssueStatus,
    IssueTestResultAttachment,
    IssueTestResultAttachmentRule,
    IssueTestResultAttachmentRuleExecutionMetadata,
    TestExecution,
    TestResult,
)
from test_observer.errors import NotFoundError

from .schemas import (
    IssueFields,
    IssueResponse,
    IssuesGetResponse,
    MinimalAttachmentRule,
    MinimalIssue,
)
from .urls import IssueReference

ISSUE_NOT_FOUND = "Issue not found"


def lock_issue(session: Session, issue_id: int) -> Issue:
    """The issue, locked against concurrent changes until the end of the transaction.

    The lock does not block writers that only reference the issue (attachments, rules)."""
    issue = session.scalar(
        select(Issue)
        .where(Issue.id == issue_id)
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    )
    if issue is None:
        raise NotFoundError(ISSUE_NOT_FOUND)
    return issue


def find_issue(session: Session, issue_id: int) -> Issue:
    issue = session.get(Issue, issue_id)
    if issue is None:
        raise NotFoundError(ISSUE_NOT_FOUND)
    return issue


def issue_response(session: Session, issue: Issue) -> IssueResponse:
    rule_ids = list(
        session.scalars(
            select(IssueTestResultAttachmentRule.id)
            .where(IssueTestResultAttachmentRule.issue_id == issue.id)
            .order_by(IssueTestResultAttachmentRule.id)
        )
    )
    rules = attachment_rule_responses(session, rule_ids)
    return IssueResponse(
        id=issue.id,
        source=issue.source,
        project=issue.project,
        key=issue.key,
        title=issue.title,
        status=issue.status,
        url=issue.url,
        labels=issue.labels,
        auto_rerun_enabled=issue.auto_rerun_enabled,
        attachment_rules=[rules[rule_id] for rule_id in rule_ids],
    )


def get_issue(session: Session, issue_id: int) -> IssueResponse:
    return issue_response(session, find_issue(session, issue_id))


def _apply(issue: Issue, fields: IssueFields) -> None:
    if fields.title is not None:
        issue.title = fields.title
    if fields.status is not None:
        issue.status = fields.status
    if fields.auto_rerun_enabled is not None:
        issue.auto_rerun_enabled = fields.auto_rerun_enabled


def put_issue(session: Session, reference: IssueReference, fields: IssueFields) -> IssueResponse:
    """Create the issue if it is new (race-free), then apply the given fields."""
    session.execute(
        insert(Issue)
        .values(
            source=reference.source,
            project=reference.project,
            key=reference.key,
            title="",
            status=IssueStatus.UNKNOWN,
        )
        .on_conflict_do_nothing(index_elements=["project", "source", "key"])
    )
    issue = session.scalars(
        select(Issue)
        .where(
            Issue.source == reference.source,
            Issue.project == reference.project,
            Issue.key == reference.key,
        )
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    ).one()
    _apply(issue, fields)
    session.flush()
    return issue_response(session, issue)


def patch_issue(session: Session, issue_id: int, fields: IssueFields) -> IssueResponse:
    issue = lock_issue(session, issue_id)
    _apply(issue, fields)
    session.flush()
    return issue_response(session, issue)


# The URL an issue is known by, in SQL, so that the search can match it.
_URL = case(
    (
        Issue.source == IssueSource.GITHUB,
        literal("https://github.com/") + Issue.project + "/issues/" + Issue.key,
    ),
    (
        Issue.source == IssueSource.JIRA,
        literal("https://warthogs.atlassian.net/browse/") + Issue.project + "-" + Issue.key,
    ),
    else_=literal("https://bugs.launchpad.net/") + Issue.project + "/+bug/" + Issue.key,
)

# What a search word is compared with. Enums compare by their stored labels (JIRA, OPEN, ...).
_SEARCHED: list[ColumnElement[str]] = [
    cast(Issue.source, String),
    Issue.project.expression,
    Issue.key.expression,
    Issue.title.expression,
    cast(Issue.status, String),
    _URL,
]


def _word_condition(word: str) -> ColumnElement[bool]:
    """The word appears, ignoring case, in one of the searched fields. `strpos` needs no
    escaping of LIKE wildcards."""
    needle = word.lower()
    matches = [func.strpos(func.lower(column), needle) > 0 for column in _SEARCHED]
    # An id matches whole: "1" finds issue 1, not 10 or 21.
    if word.isdigit() and len(word) < 10:
        matches.append(Issue.id == int(word))
    return or_(*matches)


def _in_families(families: Sequence[FamilyName]) -> ColumnElement[bool]:
    return (
        exists()
        .where(IssueTestResultAttachment.issue_id == Issue.id)
        .where(TestResult.id == IssueTestResultAttachment.test_result_id)
        .where(TestExecution.id == TestResult.test_execution_id)
        .where(ArtefactBuild.id == TestExecution.artefact_build_id)
        .where(Artefact.id == ArtefactBuild.artefact_id)
        .where(Artefact.family.in_(families))
        .correlate(Issue)
    )


def search_issues(
    session: Session,
    *,
    source: IssueSource | None,
    project: str | None,
    statuses: Sequence[IssueStatus] | None,
    families: Sequence[FamilyName] | None,
    q: str | None,
    limit: int,
    offset: int,
) -> IssuesGetResponse:
    """A page of issues ordered by source, project and key; three statements."""
    conditions: list[ColumnElement[bool]] = []
    if source is not None:
        conditions.append(Issue.source == source)
    if project is not None:
        conditions.append(Issue.project == project)
    if statuses:
        conditions.append(Issue.status.in_(statuses))
    if families:
        conditions.append(_in_families(families))
    conditions.extend(_word_condition(word) for word in (q or "").split())

    count = session.scalar(select(func.count()).select_from(Issue).where(*conditions)) or 0
    page = list(
        session.scalars(
            select(Issue)
            .where(*conditions)
            # Keys are numbers: "9" comes before "10".
            .order_by(Issue.source, Issue.project, func.length(Issue.key), Issue.key, Issue.id)
            .limit(limit)
            .offset(offset)
        )
    )
    executions = _execution_counts(session, [issue.id for issue in page])
    return IssuesGetResponse(
        issues=[
            MinimalIssue.model_validate(issue).model_copy(
                update={"test_executions_count": executions.get(issue.id, 0)}
            )
            for issue in page
        ],
        count=count,
        limit=limit,
        offset=offset,
    )


def _execution_counts(session: Session, issue_ids: list[int]) -> dict[int, int]:
    """Distinct executions owning a result attached to each issue."""
    if not issue_ids:
        return {}
    rows = session.execute(
        select(
            IssueTestResultAttachment.issue_id,
            func.count(TestResult.test_execution_id.distinct()),
        )
        .join(TestResult, TestResult.id == IssueTestResultAttachment.test_result_id)
        .where(IssueTestResultAttachment.issue_id.in_(issue_ids))
        .group_by(IssueTestResultAttachment.issue_id)
    ).all()
    return {issue_id: count for issue_id, count in rows}  # noqa: C416 - rows are tuples


def attachment_rule_responses(
    session: Session, rule_ids: Collection[int]
) -> dict[int, MinimalAttachmentRule]:
    ids = list(set(rule_ids))
    if not ids:
        return {}
    rule_metadata: dict[int, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for row in session.scalars(
        select(IssueTestResultAttachmentRuleExecutionMetadata)
        .where(IssueTestResultAttachmentRuleExecutionMetadata.attachment_rule_id.in_(ids))
        .order_by(IssueTestResultAttachmentRuleExecutionMetadata.id)
    ):
        rule_metadata[row.attachment_rule_id][row.category].append(row.value)
    return {
        rule.id: MinimalAttachmentRule(
            id=rule.id,
            enabled=rule.enabled,
            families=rule.families,
            artefacts=rule.artefacts,
            artefact_versions=rule.artefact_versions,
            artefact_stages=rule.artefact_stages,
            artefact_tracks=rule.artefact_tracks,
            environment_names=rule.environment_names,
            test_plans=rule.test_plans,
            test_case_names=rule.test_case_names,
            template_ids=rule.template_ids,
            test_result_statuses=rule.test_result_statuses,
            execution_metadata=dict(rule_metadata[rule.id]),
            failure_signatures=rule.failure_signature_ids,
        )
        for rule in session.scalars(
            select(IssueTestResultAttachmentRule).where(IssueTestResultAttachmentRule.id.in_(ids))
        )
    }
