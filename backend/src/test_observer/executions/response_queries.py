"""Builds execution and result responses for any number of rows in a fixed number of queries."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection

from sqlalchemy import and_, bindparam, exists, select
from sqlalchemy.orm import Session

from test_observer.db.ids import one_of
from test_observer.db.models import (
    Environment,
    Issue,
    IssueTestResultAttachment,
    TestCase,
    TestExecution,
    TestExecutionMetadata,
    TestExecutionRelevantLink,
    TestExecutionRerunRequest,
    TestPlan,
    TestResult,
    TestResultStatus,
    test_execution_metadata_association_table,
)
from test_observer.environments.schemas import EnvironmentResponse
from test_observer.issues.schemas import IssueAttachmentResponse, MinimalIssue
from test_observer.issues.service import attachment_rule_responses

from .schemas import (
    RelevantLinkResponse,
    TestExecutionResponse,
    TestResultResponse,
)

UNTRIAGED_STATUSES = [TestResultStatus.FAILED, TestResultStatus.SKIPPED]


def _metadata_by_execution(session: Session, ids: list[int]) -> dict[int, dict[str, list[str]]]:
    association = test_execution_metadata_association_table
    metadata: dict[int, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for execution_id, category, value in session.execute(
        select(
            association.c.test_execution_id,
            TestExecutionMetadata.category,
            TestExecutionMetadata.value,
        )
        .join(
            TestExecutionMetadata,
            TestExecutionMetadata.id == association.c.test_execution_metadata_id,
        )
        .where(one_of(association.c.test_execution_id, ids))
        .order_by(TestExecutionMetadata.id)
    ):
        metadata[execution_id][category].append(value)
    return metadata


def execution_responses(
    session: Session, execution_ids: Collection[int]
) -> dict[int, TestExecutionResponse]:
    """Responses keyed by execution id; unknown ids are absent. Five queries in all.

    Columns, not ORM entities: these builders run for every listed execution, and loading
    entities (identity map, instance state) cost more than the rest of the request.
    """
    ids = list(set(execution_ids))
    if not ids:
        return {}
    rows = session.execute(
        select(
            TestExecution.id,
            TestExecution.ci_link,
            TestExecution.c3_link,
            TestExecution.status,
            TestExecution.created_at,
            Environment.id,
            Environment.name,
            Environment.architecture,
            TestPlan.name,
        )
        .join(Environment, Environment.id == TestExecution.environment_id)
        .join(TestPlan, TestPlan.id == TestExecution.test_plan_id)
        .where(one_of(TestExecution.id, ids))
    ).all()

    links: dict[int, list[RelevantLinkResponse]] = defaultdict(list)
    for execution_id, link_id, label, url in session.execute(
        select(
            TestExecutionRelevantLink.test_execution_id,
            TestExecutionRelevantLink.id,
            TestExecutionRelevantLink.label,
            TestExecutionRelevantLink.url,
        )
        .where(one_of(TestExecutionRelevantLink.test_execution_id, ids))
        .order_by(TestExecutionRelevantLink.id)
    ):
        links[execution_id].append(RelevantLinkResponse(id=link_id, label=label, url=url))

    metadata = _metadata_by_execution(session, ids)

    # An execution is triaged when none of its failed or skipped results lacks an issue.
    untriaged = set(
        session.scalars(
            select(TestResult.test_execution_id)
            .distinct()
            .where(
                one_of(TestResult.test_execution_id, ids),
                # Literal values, so that the statement matches the partial index on these
                # results whatever plan PostgreSQL caches for the prepared statement.
                TestResult.status.in_(
                    bindparam("untriaged", UNTRIAGED_STATUSES, expanding=True, literal_execute=True)
                ),
                ~exists().where(IssueTestResultAttachment.test_result_id == TestResult.id),
            )
        )
    )

    rerun_priority = dict(
        session.execute(
            select(TestExecution.id, TestExecutionRerunRequest.priority)
            .join(
                TestExecutionRerunRequest,
                and_(
                    TestExecutionRerunRequest.test_plan_id == TestExecution.test_plan_id,
                    TestExecutionRerunRequest.artefact_build_id == TestExecution.artefact_build_id,
                    TestExecutionRerunRequest.environment_id == TestExecution.environment_id,
                ),
            )
            .where(one_of(TestExecution.id, ids))
        ).all()
    )

    return {
        id: TestExecutionResponse(
            id=id,
            ci_link=ci_link,
            c3_link=c3_link,
            relevant_links=links[id],
            environment=EnvironmentResponse(
                id=environment_id, name=environment_name, architecture=architecture
            ),
            status=status,
            test_plan=plan_name,
            created_at=created_at,
            execution_metadata=dict(metadata[id]),
            is_triaged=id not in untriaged,
            is_rerun_requested=id in rerun_priority,
            rerun_priority=rerun_priority.get(id),
        )
        for (
            id,
            ci_link,
            c3_link,
            status,
            created_at,
            environment_id,
            environment_name,
            architecture,
            plan_name,
        ) in rows
    }


def result_responses(
    session: Session, result_ids: Collection[int]
) -> dict[int, TestResultResponse]:
    """Responses keyed by result id, with their issue attachments; `previous_results` empty.

    At most four queries, whatever the number of results.
    """
    ids = list(set(result_ids))
    if not ids:
        return {}
    rows = session.execute(
        select(
            TestResult.id,
            TestCase.name,
            TestResult.created_at,
            TestCase.category,
            TestCase.template_id,
            TestResult.status,
            TestResult.comment,
            TestResult.io_log,
            TestResult.failure_signature_id,
            TestResult.duration,
        )
        .join(TestCase, TestCase.id == TestResult.test_case_id)
        .where(one_of(TestResult.id, ids))
    ).all()

    attachments = session.execute(
        select(
            IssueTestResultAttachment.test_result_id,
            IssueTestResultAttachment.attachment_rule_id,
            Issue,
        )
        .join(Issue, Issue.id == IssueTestResultAttachment.issue_id)
        .where(one_of(IssueTestResultAttachment.test_result_id, ids))
        .order_by(IssueTestResultAttachment.created_at, IssueTestResultAttachment.issue_id)
    ).all()
    rules = attachment_rule_responses(
        session, [rule_id for _, rule_id, _ in attachments if rule_id is not None]
    )
    issues: dict[int, list[IssueAttachmentResponse]] = defaultdict(list)
    for result_id, rule_id, issue in attachments:
        issues[result_id].append(
            IssueAttachmentResponse(
                issue=MinimalIssue.model_validate(issue),
                attachment_rule=rules.get(rule_id) if rule_id is not None else None,
            )
        )

    return {
        id: TestResultResponse(
            id=id,
            name=name,
            created_at=created_at,
            category=category,
            template_id=template_id,
            status=status,
            comment=comment,
            io_log=io_log,
            duration=duration,
            previous_results=[],
            issues=issues[id],
            failure_signature_id=signature_id,
        )
        for (
            id,
            name,
            created_at,
            category,
            template_id,
            status,
            comment,
            io_log,
            signature_id,
            duration,
        ) in rows
    }
