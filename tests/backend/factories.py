"""Direct database inserts for arranging test data (API tests then read it back).

These write rows with the ORM and commit; they bypass the API on purpose, to set up states
that would take many calls to reach.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from test_observer.db.models import (
    Artefact,
    ArtefactBuild,
    ArtefactBuildEnvironmentReview,
    Environment,
    FamilyName,
    TestCase,
    TestExecution,
    TestExecutionStatus,
    TestPlan,
    TestResult,
    TestResultStatus,
)
from test_observer.executions.results import recount_results


def make_artefact(session: Session, **fields: Any) -> Artefact:
    values: dict[str, Any] = {
        "name": "core22",
        "version": "20240101",
        "family": FamilyName.snap,
        "stage": "beta",
        "track": "22",
        "store": "ubuntu",
    }
    values.update(fields)
    artefact = Artefact(**values)
    session.add(artefact)
    session.flush()
    return artefact


def make_build(session: Session, artefact: Artefact, **fields: Any) -> ArtefactBuild:
    values: dict[str, Any] = {"architecture": "amd64", "revision": 1, "artefact_id": artefact.id}
    values.update(fields)
    build = ArtefactBuild(**values)
    session.add(build)
    session.flush()
    return build


def make_environment(
    session: Session, name: str = "rpi4", architecture: str = "amd64"
) -> Environment:
    environment = Environment(name=name, architecture=architecture)
    session.add(environment)
    session.flush()
    return environment


def make_execution(
    session: Session,
    build: ArtefactBuild,
    environment: Environment,
    plan: str = "smoke",
    **fields: Any,
) -> TestExecution:
    test_plan = session.query(TestPlan).filter_by(name=plan).one_or_none()
    if test_plan is None:
        test_plan = TestPlan(name=plan)
        session.add(test_plan)
        session.flush()
    values: dict[str, Any] = {
        "artefact_build_id": build.id,
        "environment_id": environment.id,
        "test_plan_id": test_plan.id,
        "status": TestExecutionStatus.IN_PROGRESS,
    }
    values.update(fields)
    execution = TestExecution(**values)
    session.add(execution)
    session.flush()
    return execution


def make_review(
    session: Session, build: ArtefactBuild, environment: Environment, **fields: Any
) -> ArtefactBuildEnvironmentReview:
    review = ArtefactBuildEnvironmentReview(
        artefact_build_id=build.id, environment_id=environment.id, **fields
    )
    session.add(review)
    session.flush()
    return review


def make_result(
    session: Session,
    execution: TestExecution,
    name: str,
    status: TestResultStatus = TestResultStatus.PASSED,
    **fields: Any,
) -> TestResult:
    case = session.query(TestCase).filter_by(name=name).one_or_none()
    if case is None:
        case = TestCase(name=name, category=fields.pop("category", ""))
        session.add(case)
        session.flush()
    values: dict[str, Any] = {"comment": "", "io_log": ""}
    values.update(fields)
    result = TestResult(
        test_execution_id=execution.id,
        environment_id=execution.environment_id,
        test_case_id=case.id,
        status=status,
        **values,
    )
    session.add(result)
    session.flush()
    # As result ingestion does: the results search counts matches from these.
    recount_results(session, execution.id)
    return result
