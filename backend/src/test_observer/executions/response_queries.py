"""Builds execution and result responses for any number of rows in a fixed number of queries."""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Collection
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    SQLColumnExpression,
    and_,
    bindparam,
    exists,
    func,
    select,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.orm import Session

from test_observer.db.ids import ids_parameters, one_of, one_of_parameter
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


def execution_responses(
    session: Session, execution_ids: Collection[int]
) -> dict[int, TestExecutionResponse]:
    """Responses keyed by execution id; unknown ids are absent. One statement in all.

    Columns, not ORM entities: these builders run for every listed execution, and loading
    entities (identity map, instance state) cost more than the rest of the request. The links,
    the metadata, the triage state and the rerun request are each grouped by execution in a
    derived table of their own and joined, so PostgreSQL plans them as it would separate
    queries (a few rows or thousands), in one round trip: a single execution's response is
    built after every write to it (PATCH, results, end-test), where round trips, not rows, are
    the cost.
    """
    ids = list(set(execution_ids))
    if not ids:
        return {}
    rows = session.execute(_execution_statement(single=len(ids) == 1), ids_parameters(ids)).all()

    responses = {}
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
        link_rows,
        metadata_pairs,
        is_untriaged,
        rerun_priority,
        is_rerun_requested,
    ) in rows:
        execution_metadata: dict[str, list[str]] = defaultdict(list)
        for category, value in metadata_pairs or ():
            execution_metadata[category].append(value)
        responses[id] = TestExecutionResponse(
            id=id,
            ci_link=ci_link,
            c3_link=c3_link,
            relevant_links=[
                RelevantLinkResponse(id=link_id, label=label, url=url)
                for link_id, label, url in link_rows or ()
            ],
            environment=EnvironmentResponse(
                id=environment_id, name=environment_name, architecture=architecture
            ),
            status=status,
            test_plan=plan_name,
            created_at=created_at,
            execution_metadata=dict(execution_metadata),
            is_triaged=not is_untriaged,
            is_rerun_requested=is_rerun_requested,
            rerun_priority=rerun_priority if is_rerun_requested else None,
        )
    return responses


@functools.cache
def _execution_statement(*, single: bool) -> Select[Any]:
    """The statement of `execution_responses`, built once per process for one id and once for
    several: building it (four derived tables) cost more than running it."""

    def matching(column: SQLColumnExpression[int]) -> ColumnElement[bool]:
        return one_of_parameter(column, single=single)

    links = (
        select(
            TestExecutionRelevantLink.test_execution_id.label("execution_id"),
            func.json_agg(
                aggregate_order_by(
                    func.json_build_array(
                        TestExecutionRelevantLink.id,
                        TestExecutionRelevantLink.label,
                        TestExecutionRelevantLink.url,
                    ),
                    TestExecutionRelevantLink.id,
                )
            ).label("links"),
        )
        .where(matching(TestExecutionRelevantLink.test_execution_id))
        .group_by(TestExecutionRelevantLink.test_execution_id)
        .subquery()
    )
    association = test_execution_metadata_association_table
    metadata = (
        select(
            association.c.test_execution_id.label("execution_id"),
            func.json_agg(
                aggregate_order_by(
                    func.json_build_array(
                        TestExecutionMetadata.category, TestExecutionMetadata.value
                    ),
                    TestExecutionMetadata.id,
                )
            ).label("pairs"),
        )
        .join(
            TestExecutionMetadata,
            TestExecutionMetadata.id == association.c.test_execution_metadata_id,
        )
        .where(matching(association.c.test_execution_id))
        .group_by(association.c.test_execution_id)
        .subquery()
    )
    # An execution is triaged when none of its failed or skipped results lacks an issue.
    untriaged = (
        select(TestResult.test_execution_id.label("execution_id"))
        .distinct()
        .where(
            matching(TestResult.test_execution_id),
            # Literal values, so that the statement matches the partial index on these
            # results whatever plan PostgreSQL caches for the prepared statement.
            TestResult.status.in_(
                bindparam("untriaged", UNTRIAGED_STATUSES, expanding=True, literal_execute=True)
            ),
            ~exists().where(IssueTestResultAttachment.test_result_id == TestResult.id),
        )
        .subquery()
    )
    rerun = TestExecutionRerunRequest
    return (
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
            links.c.links,
            metadata.c.pairs,
            untriaged.c.execution_id.is_not(None),
            rerun.priority,
            rerun.test_plan_id.is_not(None),
        )
        .join(Environment, Environment.id == TestExecution.environment_id)
        .join(TestPlan, TestPlan.id == TestExecution.test_plan_id)
        .outerjoin(links, links.c.execution_id == TestExecution.id)
        .outerjoin(metadata, metadata.c.execution_id == TestExecution.id)
        .outerjoin(untriaged, untriaged.c.execution_id == TestExecution.id)
        .outerjoin(
            rerun,
            and_(
                rerun.test_plan_id == TestExecution.test_plan_id,
                rerun.artefact_build_id == TestExecution.artefact_build_id,
                rerun.environment_id == TestExecution.environment_id,
            ),
        )
        .where(matching(TestExecution.id))
    )


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
