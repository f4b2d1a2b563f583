"""`test_execution.ended`: what subscribers hear when test executions end."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.orm import Session

from test_observer.artefacts.cell_regressions import cell_regressions
from test_observer.artefacts.previous import previous_artefact_ids
from test_observer.db.models import (
    Artefact,
    ArtefactBuild,
    Environment,
    TestExecution,
    TestExecutionStatus,
    TestPlan,
)
from test_observer.webhooks.events import EventType, about, emit, wanted

ENDED = frozenset(
    {
        TestExecutionStatus.PASSED,
        TestExecutionStatus.FAILED,
        TestExecutionStatus.ENDED_PREMATURELY,
    }
)


def announce_ended(session: Session, execution_ids: Collection[int]) -> None:
    """One event per execution, with its result counts and, when the artefact has a previous
    version, the regressions of the execution's cell against it (`cell_regressions`).

    Four statements in all however many executions, one when no webhook wants the event.
    """
    if not execution_ids or not wanted(session, EventType.TEST_EXECUTION_ENDED):
        return
    rows = session.execute(
        select(TestExecution, ArtefactBuild.architecture, Environment.name, TestPlan.name, Artefact)
        .join(ArtefactBuild, ArtefactBuild.id == TestExecution.artefact_build_id)
        .join(Artefact, Artefact.id == ArtefactBuild.artefact_id)
        .join(Environment, Environment.id == TestExecution.environment_id)
        .join(TestPlan, TestPlan.id == TestExecution.test_plan_id)
        .where(TestExecution.id.in_(list(execution_ids)))
        .order_by(TestExecution.id)
        # The counts were just written in SQL: read them, not what the session remembers.
        .execution_options(populate_existing=True)
    ).all()
    bases = previous_artefact_ids(session, {artefact.id for *_, artefact in rows})
    regressions = cell_regressions(
        session,
        {
            execution.id: base
            for execution, *_, artefact in rows
            if (base := bases.get(artefact.id)) is not None
        },
    )
    emit(
        session,
        [
            about(
                artefact,
                EventType.TEST_EXECUTION_ENDED,
                {
                    "test_execution": {
                        "id": execution.id,
                        "status": execution.status.value,
                        "environment": environment,
                        "architecture": architecture,
                        "test_plan": plan,
                        "ci_link": execution.ci_link,
                        "c3_link": execution.c3_link,
                    },
                    "results": {
                        "passed": execution.passed_count,
                        "failed": execution.failed_count,
                        "skipped": execution.skipped_count,
                    },
                    **(
                        {"regressions": regressions[execution.id]}
                        if execution.id in regressions
                        else {}
                    ),
                },
            )
            for execution, architecture, environment, plan, artefact in rows
        ],
    )
