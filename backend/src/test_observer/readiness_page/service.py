"""What the readiness page shows, gathered in a fixed number of statements.

The verdict, reasons and missing environments are readiness's; the matrix and the regressions
are the comparison's with the previous version. On top: the state of each latest execution,
the last lines of the regressions' logs, the quarantines that excuse failures of this artefact
and the latest review decisions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from test_observer.artefacts.comparison import compare_artefacts
from test_observer.artefacts.queries import latest_builds
from test_observer.artefacts.readiness import artefact_readiness
from test_observer.artefacts.schemas import ComparedResult, ReadinessResponse
from test_observer.artefacts.service import get_artefact
from test_observer.db.models import (
    ArtefactBuildEnvironmentReview,
    Environment,
    Quarantine,
    TestCase,
    TestExecution,
    TestResult,
    TestResultStatus,
)
from test_observer.quarantines.service import is_active

# Regressions listed with their logs; the page says how many more there are.
REGRESSIONS_SHOWN = 50
LOG_LINES = 8
REVIEWS_SHOWN = 15


@dataclass
class Cell:
    state: str  # passed, failed, regressed, missing, not_run, empty
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    regressions: int = 0
    execution_id: int | None = None


@dataclass
class Regression:
    result: ComparedResult
    environment: str
    log_tail: str


@dataclass
class QuarantineLine:
    test_case: str
    environment: str
    reason: str
    expires_at: datetime | None
    failures: int


@dataclass
class ReviewLine:
    environment: str
    architecture: str
    decisions: list[str]
    comment: str
    updated_at: datetime


@dataclass
class ReadinessPage:
    title: str
    family: str
    stage: str
    status: str
    due_date: date | None
    base_version: str | None
    readiness: ReadinessResponse
    environments: list[tuple[int, str]]
    test_plans: list[str]
    matrix: dict[tuple[int, str], Cell]
    regressions: list[Regression]
    regressions_total: int
    quarantines: list[QuarantineLine]
    reviews: list[ReviewLine]
    totals: dict[str, int] = field(default_factory=dict)


def _tail(log: str, lines: int = LOG_LINES) -> str:
    return "\n".join(log.rstrip("\n").splitlines()[-lines:])


def readiness_page(session: Session, artefact_id: int) -> ReadinessPage:
    artefact = get_artefact(session, artefact_id)
    readiness = artefact_readiness(session, artefact_id)
    comparison = compare_artefacts(
        session, artefact_id, "previous", ["regression"], REGRESSIONS_SHOWN, 0
    )
    base_version = (
        get_artefact(session, comparison.base_artefact_id).version
        if comparison.base_artefact_id is not None
        else None
    )

    execution_ids = [c.test_execution_id for c in comparison.cells if c.test_execution_id]
    executions = {
        row.id: row
        for row in session.execute(
            select(
                TestExecution.id,
                TestExecution.passed_count,
                TestExecution.failed_count,
                TestExecution.skipped_count,
            ).where(TestExecution.id.in_(execution_ids))
        )
    }
    matrix: dict[tuple[int, str], Cell] = {}
    environments: dict[int, str] = {}
    for cell in comparison.cells:
        environments[cell.environment.id] = (
            f"{cell.environment.name} ({cell.environment.architecture})"
        )
        found = executions.get(cell.test_execution_id) if cell.test_execution_id else None
        if found is None:
            matrix[(cell.environment.id, cell.test_plan)] = Cell("missing")
            continue
        if cell.counts.regression:
            state = "regressed"
        elif found.failed_count:
            state = "failed"
        elif found.passed_count:
            state = "passed"
        else:
            state = "empty"
        matrix[(cell.environment.id, cell.test_plan)] = Cell(
            state,
            found.passed_count,
            found.failed_count,
            found.skipped_count,
            cell.counts.regression,
            cell.test_execution_id,
        )

    listed = comparison.results["regression"].results
    logs: dict[int, str] = dict(
        session.execute(
            select(TestResult.id, TestResult.io_log).where(
                TestResult.id.in_([r.test_result_id for r in listed if r.test_result_id])
            )
        ).all()
    )
    regressions = [
        Regression(
            result,
            environments.get(result.environment_id, str(result.environment_id)),
            _tail(logs.get(result.test_result_id or 0, "")),
        )
        for result in listed
    ]

    quarantine_env = Environment.__table__.alias("quarantine_environment")
    quarantines = [
        QuarantineLine(
            row.test_case,
            f"{row.environment} ({row.architecture})" if row.environment else "every environment",
            row.reason,
            row.expires_at,
            row.failures,
        )
        for row in session.execute(
            select(
                TestCase.name.label("test_case"),
                quarantine_env.c.name.label("environment"),
                quarantine_env.c.architecture,
                Quarantine.reason,
                Quarantine.expires_at,
                func.count(TestResult.id).label("failures"),
            )
            .select_from(TestResult)
            .join(TestCase, TestCase.id == TestResult.test_case_id)
            .join(Quarantine, Quarantine.test_case_id == TestResult.test_case_id)
            .outerjoin(quarantine_env, quarantine_env.c.id == Quarantine.environment_id)
            .where(
                TestResult.test_execution_id.in_(execution_ids),
                TestResult.status == TestResultStatus.FAILED,
                func.coalesce(Quarantine.environment_id, TestResult.environment_id)
                == TestResult.environment_id,
                is_active(),
            )
            .group_by(
                TestCase.name,
                quarantine_env.c.name,
                quarantine_env.c.architecture,
                Quarantine.reason,
                Quarantine.expires_at,
            )
            .order_by(TestCase.name, quarantine_env.c.name.nulls_first())
        )
    ]

    latest = latest_builds([artefact_id]).subquery()
    review = ArtefactBuildEnvironmentReview
    reviews = [
        ReviewLine(
            row.name,
            row.architecture,
            list(row.review_decision),
            row.review_comment,
            row.updated_at,
        )
        for row in session.execute(
            select(
                Environment.name,
                Environment.architecture,
                review.review_decision,
                review.review_comment,
                review.updated_at,
            )
            .join(latest, latest.c.id == review.artefact_build_id)
            .join(Environment, Environment.id == review.environment_id)
            .where(func.cardinality(review.review_decision) > 0)
            .order_by(review.updated_at.desc(), review.id.desc())
            .limit(REVIEWS_SHOWN)
        )
    ]

    return ReadinessPage(
        title=f"{artefact.name} {artefact.version}",
        family=artefact.family.value,
        stage=artefact.stage,
        status=artefact.status.value,
        due_date=artefact.due_date,
        base_version=base_version,
        readiness=readiness,
        environments=sorted(environments.items(), key=lambda item: item[1]),
        test_plans=sorted({cell.test_plan for cell in comparison.cells}),
        matrix=matrix,
        regressions=regressions,
        regressions_total=comparison.results["regression"].count,
        quarantines=quarantines,
        reviews=reviews,
        totals=comparison.totals.model_dump(),
    )
