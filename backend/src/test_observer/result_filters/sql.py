"""The filters as SQL conditions over test executions and their results.

Every condition is a plain predicate or an EXISTS over an indexed key, so filters compose
without row loops.
Conditions expect a query over `TestExecution` joined to its `ArtefactBuild`, `Artefact` and
`Environment`.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TypeVarTuple

from sqlalchemy import ColumnElement, Select, and_, exists, select
from sqlalchemy.orm import InstrumentedAttribute, aliased

from test_observer.db.models import (
    Artefact,
    ArtefactBuild,
    Environment,
    IssueTestResultAttachment,
    TestCase,
    TestEvent,
    TestExecution,
    TestExecutionMetadata,
    TestExecutionRerunRequest,
    TestPlan,
    TestResult,
    artefact_reviewers_association,
    test_execution_metadata_association_table,
)

from .model import AnyOrNone, IdsFilter, TestExecutionRerunFilters, TestResultSearchFilters

_Ts = TypeVarTuple("_Ts")


def _reviewers(filters: TestExecutionRerunFilters) -> IdsFilter | None:
    return filters.reviewer_ids if filters.reviewer_ids is not None else filters.assignee_ids


def _presence(condition: ColumnElement[bool], wanted: object) -> ColumnElement[bool]:
    """`condition` is an EXISTS; "none" negates it."""
    return ~condition if wanted == "none" else condition


def same_group(rerun: type[TestExecutionRerunRequest] | None = None) -> ColumnElement[bool]:
    request = rerun or TestExecutionRerunRequest
    return and_(
        request.test_plan_id == TestExecution.test_plan_id,
        request.artefact_build_id == TestExecution.artefact_build_id,
        request.environment_id == TestExecution.environment_id,
    )


def metadata_condition(metadata: dict[str, list[str]]) -> list[ColumnElement[bool]]:
    """For every category, the execution carries one of its values."""
    association = test_execution_metadata_association_table
    return [
        exists()
        .where(
            association.c.test_execution_id == TestExecution.id,
            association.c.test_execution_metadata_id == TestExecutionMetadata.id,
            TestExecutionMetadata.category == category,
            TestExecutionMetadata.value.in_(values),
        )
        .correlate(TestExecution)
        for category, values in metadata.items()
        if values
    ]


def test_plan_condition(names: Collection[str]) -> ColumnElement[bool]:
    """The execution ran one of the named test plans.

    The names become plan ids first (a unique index), then the executions' indexed plan id is
    compared with them: no join to the plans, so the filter costs what an environment's does.
    """
    return TestExecution.test_plan_id.in_(select(TestPlan.id).where(TestPlan.name.in_(names)))


def execution_conditions(
    filters: TestExecutionRerunFilters, *, dates: bool = True
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if filters.families:
        conditions.append(Artefact.family.in_(filters.families))
    if filters.artefacts:
        conditions.append(Artefact.name.in_(filters.artefacts))
    if filters.artefact_versions:
        conditions.append(Artefact.version.in_(filters.artefact_versions))
    if filters.artefact_stages:
        conditions.append(Artefact.stage.in_(filters.artefact_stages))
    if filters.artefact_tracks:
        conditions.append(Artefact.track.in_(filters.artefact_tracks))
    if filters.artefact_is_archived is not None:
        conditions.append(Artefact.archived.is_(filters.artefact_is_archived))
    if filters.environments:
        conditions.append(Environment.name.in_(filters.environments))
    if filters.test_plans:
        conditions.append(test_plan_condition(filters.test_plans))
    if filters.test_execution_statuses:
        conditions.append(TestExecution.status.in_(filters.test_execution_statuses))
    if filters.execution_metadata:
        conditions.extend(metadata_condition(filters.execution_metadata))
    reviewers = _reviewers(filters)
    if reviewers is not None and reviewers != []:
        association = artefact_reviewers_association
        reviewed = exists().where(association.c.artefact_id == Artefact.id)
        if isinstance(reviewers, list):
            reviewed = reviewed.where(association.c.user_id.in_(reviewers))
        conditions.append(_presence(reviewed, reviewers))
    if filters.rerun_is_requested is not None:
        requested = exists().where(same_group())
        conditions.append(requested if filters.rerun_is_requested else ~requested)
    if filters.execution_is_latest is not None:
        newer = aliased(TestExecution)
        superseded = exists().where(
            newer.test_plan_id == TestExecution.test_plan_id,
            newer.artefact_build_id == TestExecution.artefact_build_id,
            newer.environment_id == TestExecution.environment_id,
            newer.id > TestExecution.id,
        )
        conditions.append(~superseded if filters.execution_is_latest else superseded)
    if dates and filters.from_date is not None:
        conditions.append(TestExecution.updated_at >= filters.from_date)
    if dates and filters.until_date is not None:
        conditions.append(TestExecution.updated_at <= filters.until_date)
    return conditions


def result_conditions(
    filters: TestResultSearchFilters, *, test_case_ids: Collection[int] | None = None
) -> list[ColumnElement[bool]]:
    """Conditions on a query over `TestResult` joined to `TestCase` (and the execution joins).

    `test_case_ids`, when given, are the ids of the cases the name and template filters match,
    looked up beforehand: a condition on known ids lets PostgreSQL read a page of one test
    case's results from its index, where a join on names makes it walk all results by date.
    """
    conditions = execution_conditions(filters, dates=False)
    if test_case_ids is not None:
        conditions.append(TestResult.test_case_id.in_(test_case_ids))
    else:
        if filters.test_cases:
            conditions.append(TestCase.name.in_(filters.test_cases))
        if filters.template_ids:
            conditions.append(TestCase.template_id.in_(filters.template_ids))
    if filters.test_result_statuses:
        conditions.append(TestResult.status.in_(filters.test_result_statuses))
    if filters.issues is not None and filters.issues != []:
        attached = exists().where(IssueTestResultAttachment.test_result_id == TestResult.id)
        if isinstance(filters.issues, list):
            attached = attached.where(IssueTestResultAttachment.issue_id.in_(filters.issues))
        conditions.append(_presence(attached, filters.issues))
    if isinstance(filters.failure_signatures, list) and filters.failure_signatures:
        conditions.append(TestResult.failure_signature_id.in_(filters.failure_signatures))
    elif filters.failure_signatures in ("any", "none"):
        signed = TestResult.failure_signature_id.is_not(None)
        conditions.append(signed if filters.failure_signatures == "any" else ~signed)
    if filters.from_date is not None:
        conditions.append(TestResult.created_at >= filters.from_date)
    if filters.until_date is not None:
        conditions.append(TestResult.created_at <= filters.until_date)
    return conditions


def results_presence(wanted: IdsFilter | None) -> ColumnElement[bool]:
    """Search's `test_result`: omitted or "any" = has results; "none" = has none; ids = has one
    of those results."""
    has = exists().where(TestResult.test_execution_id == TestExecution.id)
    if isinstance(wanted, list) and wanted:
        has = has.where(TestResult.id.in_(wanted))
    return _presence(has, wanted)


def events_presence(wanted: list[str] | AnyOrNone) -> ColumnElement[bool]:
    has = exists().where(TestEvent.test_execution_id == TestExecution.id)
    if isinstance(wanted, list):
        has = has.where(TestEvent.event_name.in_(wanted))
    return _presence(has, wanted)


def joined(query: Select[*_Ts]) -> Select[*_Ts]:
    """`query` joined from `TestExecution` to what the conditions refer to."""
    return (
        query.join(ArtefactBuild, ArtefactBuild.id == TestExecution.artefact_build_id)
        .join(Artefact, Artefact.id == ArtefactBuild.artefact_id)
        .join(Environment, Environment.id == TestExecution.environment_id)
    )


def joined_results(query: Select[*_Ts]) -> Select[*_Ts]:
    """`query` over results joined with everything the filters look at."""
    return (
        query.select_from(TestResult)
        .join(TestCase, TestCase.id == TestResult.test_case_id)
        .join(TestExecution, TestExecution.id == TestResult.test_execution_id)
        .join(Environment, Environment.id == TestExecution.environment_id)
        .join(ArtefactBuild, ArtefactBuild.id == TestExecution.artefact_build_id)
        .join(Artefact, Artefact.id == ArtefactBuild.artefact_id)
    )


def matching_result_ids(
    filters: TestResultSearchFilters, column: InstrumentedAttribute[int] = TestResult.id
) -> Select[int]:
    """Ids of every result the search would find with `filters` (or another of their columns,
    such as their executions), as one subquery for set-based writes (bulk issue attachment).
    The search's pagination does not apply."""
    return joined_results(select(column)).where(*result_conditions(filters))
