"""Builds execution and result responses for any number of rows in a fixed number of queries."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection

from sqlalchemy import and_, exists, select
from sqlalchemy.orm import Session

from test_observer.db.models import (
    Environment,
    Issue,
    IssueTestResultAttachment,
    IssueTestResultAttachmentRule,
    IssueTestResultAttachmentRuleExecutionMetadata,
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

from .schemas import (
    IssueAttachmentResponse,
    MinimalAttachmentRule,
    MinimalIssue,
    RelevantLinkResponse,
    TestExecutionResponse,
    TestResultResponse,
)

UNTRIAGED_STATUSES = (TestResultStatus.FAILED, TestResultStatus.SKIPPED)


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
        .where(association.c.test_execution_id.in_(ids))
        .order_by(TestExecutionMetadata.id)
    ):
        metadata[execution_id][category].append(value)
    return metadata


def execution_responses(
    session: Session, execution_ids: Collection[int]
) -> dict[int, TestExecutionResponse]:
    """Responses keyed by execution id; unknown ids are absent. Five queries in all."""
    ids = list(set(execution_ids))
    if not ids:
        return {}
    rows = session.execute(
        select(TestExecution, Environment, TestPlan.name)
        .join(Environment, Environment.id == TestExecution.environment_id)
        .join(TestPlan, TestPlan.id == TestExecution.test_plan_id)
        .where(TestExecution.id.in_(ids))
    ).all()

    links: dict[int, list[RelevantLinkResponse]] = defaultdict(list)
    for link in session.scalars(
        select(TestExecutionRelevantLink)
        .where(TestExecutionRelevantLink.test_execution_id.in_(ids))
        .order_by(TestExecutionRelevantLink.id)
    ):
        links[link.test_execution_id].append(RelevantLinkResponse.model_validate(link))

    metadata = _metadata_by_execution(session, ids)

    # An execution is triaged when none of its failed or skipped results lacks an issue.
    untriaged = set(
        session.scalars(
            select(TestResult.test_execution_id)
            .distinct()
            .where(
                TestResult.test_execution_id.in_(ids),
                TestResult.status.in_(UNTRIAGED_STATUSES),
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
            .where(TestExecution.id.in_(ids))
        ).all()
    )

    return {
        execution.id: TestExecutionResponse(
            id=execution.id,
            ci_link=execution.ci_link,
            c3_link=execution.c3_link,
            relevant_links=links[execution.id],
            environment=EnvironmentResponse.model_validate(environment),
            status=execution.status,
            test_plan=plan_name,
            created_at=execution.created_at,
            execution_metadata=dict(metadata[execution.id]),
            is_triaged=execution.id not in untriaged,
            is_rerun_requested=execution.id in rerun_priority,
            rerun_priority=rerun_priority.get(execution.id),
        )
        for execution, environment, plan_name in rows
    }


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
            test_case_names=rule.test_case_names,
            template_ids=rule.template_ids,
            test_result_statuses=rule.test_result_statuses,
            execution_metadata=dict(rule_metadata[rule.id]),
        )
        for rule in session.scalars(
            select(IssueTestResultAttachmentRule).where(IssueTestResultAttachmentRule.id.in_(ids))
        )
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
        select(TestResult, TestCase)
        .join(TestCase, TestCase.id == TestResult.test_case_id)
        .where(TestResult.id.in_(ids))
    ).all()

    attachments = session.execute(
        select(
            IssueTestResultAttachment.test_result_id,
            IssueTestResultAttachment.attachment_rule_id,
            Issue,
        )
        .join(Issue, Issue.id == IssueTestResultAttachment.issue_id)
        .where(IssueTestResultAttachment.test_result_id.in_(ids))
        .order_by(IssueTestResultAttachment.id)
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
        result.id: TestResultResponse(
            id=result.id,
            name=case.name,
            created_at=result.created_at,
            category=case.category,
            template_id=case.template_id,
            status=result.status,
            comment=result.comment,
            io_log=result.io_log,
            previous_results=[],
            issues=issues[result.id],
        )
        for result, case in rows
    }
