"""Rerun requests: reviewers ask CI to run a (test plan, build, environment) group again.

A request names a group, not an execution; CI polls the queue and the request disappears when
CI starts the group again. Creating and deleting requests is set-based: one statement for the
matched executions, one for the requests.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pydantic import BaseModel, Field
from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    any_,
    cast,
    delete,
    false,
    or_,
    select,
    true,
    tuple_,
)
from sqlalchemy.dialects.postgresql import ARRAY, distinct_on, insert
from sqlalchemy.orm import Session

from test_observer.artefacts.response_queries import artefact_responses
from test_observer.artefacts.schemas import ArtefactBuildMinimalResponse
from test_observer.auth import (
    Principal,
    require_artefact_permission,
    require_grantable,
    require_permissions,
)
from test_observer.db.ids import one_of
from test_observer.db.models import (
    Artefact,
    ArtefactBuild,
    Environment,
    FamilyName,
    Permission,
    TestCase,
    TestExecution,
    TestExecutionRerunRequest,
    TestResult,
)
from test_observer.errors import NotFoundError, UnprocessableError
from test_observer.result_filters.model import TestExecutionRerunFilters, TestResultSearchFilters
from test_observer.result_filters.sql import (
    execution_conditions,
    joined,
    result_conditions,
    same_group,
)
from test_observer.settings import Settings

from .response_queries import execution_responses
from .schemas import PendingRerun

PRIORITY_LIMIT = 1_000_000


class DeleteReruns(BaseModel):
    test_execution_ids: set[int] = set()
    test_results_filters: TestResultSearchFilters | None = None
    test_executions_filters: TestExecutionRerunFilters | None = None


class RerunRequest(DeleteReruns):
    priority: int | None = Field(default=None, ge=-PRIORITY_LIMIT, le=PRIORITY_LIMIT)


@dataclass(frozen=True)
class Matched:
    execution_id: int
    test_plan_id: int
    artefact_build_id: int
    environment_id: int
    artefact_id: int

    @property
    def group(self) -> tuple[int, int, int]:
        return (self.test_plan_id, self.artefact_build_id, self.environment_id)


def _check_filters(request: DeleteReruns) -> None:
    if request.test_results_filters is not None and not request.test_results_filters.has_filters():
        raise UnprocessableError("At least one filter must be provided in test_results_filters")
    if (
        request.test_executions_filters is not None
        and not request.test_executions_filters.has_filters()
    ):
        raise UnprocessableError("At least one filter must be provided in test_executions_filters")


def _uses_filters(request: DeleteReruns) -> bool:
    return request.test_results_filters is not None or request.test_executions_filters is not None


def _match(session: Session, request: DeleteReruns) -> list[Matched]:
    """Executions with the given ids, or with a result matching the results filters, or
    matching the executions filters."""
    matches: list[ColumnElement[bool]] = []
    if request.test_execution_ids:
        # One array parameter, however many ids: a bound parameter per id would stop at
        # PostgreSQL's limit of 65535 parameters per statement.
        ids = sorted(request.test_execution_ids)
        matches.append(TestExecution.id == any_(cast(ids, ARRAY(Integer))))
    if request.test_results_filters is not None:
        matches.append(TestExecution.id.in_(_results_query(request.test_results_filters)))
    if request.test_executions_filters is not None:
        matches.append(
            TestExecution.id.in_(
                joined(select(TestExecution.id)).where(
                    *execution_conditions(request.test_executions_filters)
                )
            )
        )
    if not matches:
        return []
    rows = session.execute(
        select(
            TestExecution.id,
            TestExecution.test_plan_id,
            TestExecution.artefact_build_id,
            TestExecution.environment_id,
            ArtefactBuild.artefact_id,
        )
        .join(ArtefactBuild, ArtefactBuild.id == TestExecution.artefact_build_id)
        .where(or_(false(), *matches))
        .order_by(TestExecution.id)
    ).all()
    return [Matched(*row) for row in rows]


def _results_query(filters: TestResultSearchFilters) -> Select[int]:
    # Executions having at least one matching result. The results search's pagination does not
    # apply: a rerun covers every match.
    return (
        select(TestResult.test_execution_id)
        .join(TestCase, TestCase.id == TestResult.test_case_id)
        .join(TestExecution, TestExecution.id == TestResult.test_execution_id)
        .join(ArtefactBuild, ArtefactBuild.id == TestExecution.artefact_build_id)
        .join(Artefact, Artefact.id == ArtefactBuild.artefact_id)
        .join(Environment, Environment.id == TestExecution.environment_id)
        .where(*result_conditions(filters))
    )


def _authorise(
    session: Session,
    principal: Principal,
    settings: Settings,
    matched: Sequence[Matched],
) -> None:
    require_artefact_permission(
        session,
        principal,
        settings,
        Permission.change_rerun,
        {match.artefact_id for match in matched},
    )


def _check_bulk(principal: Principal, settings: Settings, request: DeleteReruns) -> None:
    require_grantable(principal, settings, Permission.change_rerun)
    if len(request.test_execution_ids) > 1 or _uses_filters(request):
        require_permissions(principal, settings, Permission.change_rerun_bulk)


def create_reruns(
    session: Session,
    principal: Principal,
    settings: Settings,
    request: RerunRequest,
    *,
    silent: bool,
) -> tuple[list[PendingRerun] | None, bool]:
    """(pending reruns unless silent, whether some requested ids were not found)."""
    _check_filters(request)
    if not silent and _uses_filters(request):
        raise UnprocessableError("Creating rerun requests from filters must be done silently")
    _check_bulk(principal, settings, request)
    matched = _match(session, request)
    if not matched and not silent:
        raise NotFoundError("Didn't find test executions with provided ids")
    _authorise(session, principal, settings, matched)

    groups = list(dict.fromkeys(match.group for match in matched))
    if groups:
        statement = insert(TestExecutionRerunRequest).values(
            [
                {
                    "test_plan_id": plan,
                    "artefact_build_id": build,
                    "environment_id": environment,
                    "priority": request.priority or 0,
                }
                for plan, build, environment in groups
            ]
        )
        if request.priority is None:
            statement = statement.on_conflict_do_nothing(constraint="uq_rerun_request_group")
        else:
            statement = statement.on_conflict_do_update(
                constraint="uq_rerun_request_group",
                set_={"priority": statement.excluded.priority},
            )
        session.execute(statement)
    if silent:
        return None, False

    found = {match.execution_id for match in matched}
    missing = bool(request.test_execution_ids - found)
    request_ids = {
        (plan, build, environment): rerun_id
        for rerun_id, plan, build, environment in session.execute(
            select(
                TestExecutionRerunRequest.id,
                TestExecutionRerunRequest.test_plan_id,
                TestExecutionRerunRequest.artefact_build_id,
                TestExecutionRerunRequest.environment_id,
            ).where(
                tuple_(
                    TestExecutionRerunRequest.test_plan_id,
                    TestExecutionRerunRequest.artefact_build_id,
                    TestExecutionRerunRequest.environment_id,
                ).in_(groups)
            )
        )
    }
    responses = pending_reruns(session, request_ids.values())
    by_id = dict(responses)
    created = [by_id[request_ids[group]] for group in groups if request_ids.get(group) in by_id]
    return created, missing


def delete_reruns(
    session: Session, principal: Principal, settings: Settings, request: DeleteReruns
) -> None:
    _check_filters(request)
    _check_bulk(principal, settings, request)
    matched = _match(session, request)
    _authorise(session, principal, settings, matched)
    groups = list(dict.fromkeys(match.group for match in matched))
    if groups:
        session.execute(
            delete(TestExecutionRerunRequest).where(
                tuple_(
                    TestExecutionRerunRequest.test_plan_id,
                    TestExecutionRerunRequest.artefact_build_id,
                    TestExecutionRerunRequest.environment_id,
                ).in_(groups)
            )
        )


def _newest_executions() -> Select[int, int]:
    """(rerun request id, id of the newest execution of its group)."""
    return (
        select(TestExecutionRerunRequest.id, TestExecution.id)
        .join(TestExecution, same_group())
        .ext(distinct_on(TestExecutionRerunRequest.id))
        .order_by(
            TestExecutionRerunRequest.id,
            TestExecution.created_at.desc(),
            TestExecution.id.desc(),
        )
    )


def pending_reruns(session: Session, request_ids: Iterable[int]) -> list[tuple[int, PendingRerun]]:
    """(rerun request id, response) for the given requests, in the order of `request_ids`."""
    ids = list(request_ids)
    if not ids:
        return []
    newest = _newest_executions().where(one_of(TestExecutionRerunRequest.id, ids)).subquery()
    rows = session.execute(
        select(TestExecutionRerunRequest, TestExecution, ArtefactBuild, Artefact.family)
        .join(newest, newest.c[0] == TestExecutionRerunRequest.id)
        .join(TestExecution, TestExecution.id == newest.c[1])
        .join(ArtefactBuild, ArtefactBuild.id == TestExecutionRerunRequest.artefact_build_id)
        .join(Artefact, Artefact.id == ArtefactBuild.artefact_id)
    ).all()
    return _build(session, rows, order=ids)


def _build(
    session: Session,
    rows: Sequence[tuple[TestExecutionRerunRequest, TestExecution, ArtefactBuild, FamilyName]],
    *,
    order: list[int] | None = None,
) -> list[tuple[int, PendingRerun]]:
    executions = execution_responses(session, [execution.id for _, execution, _, _ in rows])
    artefacts = artefact_responses(session, {build.artefact_id for _, _, build, _ in rows})
    responses = {
        rerun.id: PendingRerun(
            test_execution_id=execution.id,
            ci_link=execution.ci_link,
            family=family,
            priority=rerun.priority,
            created_at=rerun.created_at,
            test_execution=executions[execution.id],
            artefact=artefacts[build.artefact_id],
            artefact_build=ArtefactBuildMinimalResponse.model_validate(build),
        )
        for rerun, execution, build, family in rows
    }
    keys = order if order is not None else [rerun.id for rerun, _, _, _ in rows]
    return [(key, responses[key]) for key in keys if key in responses]


def list_reruns(
    session: Session,
    *,
    family: FamilyName | None,
    limit: int | None,
    environment: str | None,
    environment_architecture: str | None,
    build_architecture: str | None,
) -> list[PendingRerun]:
    # The newest execution of each request's group, looked up per request as the requests are
    # read in queue order: with a limit, only the requests on the page are looked up, however
    # long the queue.
    newest = (
        select(TestExecution.id)
        .where(same_group())
        .order_by(TestExecution.created_at.desc(), TestExecution.id.desc())
        .limit(1)
        .correlate(TestExecutionRerunRequest)
        .lateral()
    )
    query = (
        select(TestExecutionRerunRequest, TestExecution, ArtefactBuild, Artefact.family)
        .select_from(TestExecutionRerunRequest)
        .join(newest, true())
        .join(TestExecution, TestExecution.id == newest.c.id)
        .join(ArtefactBuild, ArtefactBuild.id == TestExecutionRerunRequest.artefact_build_id)
        .join(Artefact, Artefact.id == ArtefactBuild.artefact_id)
        .join(Environment, Environment.id == TestExecutionRerunRequest.environment_id)
        .order_by(
            TestExecutionRerunRequest.priority.desc(),
            TestExecutionRerunRequest.created_at,
            TestExecutionRerunRequest.id,
        )
    )
    if family is not None:
        query = query.where(Artefact.family == family)
    if environment is not None:
        query = query.where(Environment.name == environment)
    if environment_architecture is not None:
        query = query.where(Environment.architecture == environment_architecture)
    if build_architecture is not None:
        query = query.where(ArtefactBuild.architecture == build_architecture)
    if limit is not None:
        query = query.limit(limit)
    rows = session.execute(query).all()
    return [response for _, response in _build(session, rows)]
