"""`test-observer admin delete-artefact`: an artefact goes with everything only it uses."""

from __future__ import annotations

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from test_observer.cli.main import app
from test_observer.db.models import (
    Artefact,
    ArtefactBuild,
    ArtefactBuildEnvironmentReview,
    Environment,
    Issue,
    IssueSource,
    IssueTestResultAttachment,
    TestCase,
    TestEvent,
    TestExecution,
    TestExecutionMetadata,
    TestExecutionRerunRequest,
    TestPlan,
    TestResult,
    User,
    artefact_reviewers_association,
    test_execution_metadata_association_table,
)
from tests.backend.factories import (
    make_artefact,
    make_build,
    make_environment,
    make_execution,
    make_result,
    make_review,
)


def count(session: Session, table: object) -> int:
    return session.scalar(select(func.count()).select_from(table)) or 0  # type: ignore[arg-type]


def test_delete_artefact_keeps_what_others_use(db_session: Session, database_url: str) -> None:
    doomed = make_artefact(db_session, version="1")
    kept = make_artefact(db_session, version="2")
    rpi = make_environment(db_session)
    shared_metadata = TestExecutionMetadata(category="charm", value="mysql")
    issue = Issue(source=IssueSource.GITHUB, project="canonical/x", key="1")
    jane = User(email="jane@example.com", name="Jane")
    db_session.add_all([shared_metadata, issue, jane])
    db_session.flush()
    executions = []
    for artefact in (doomed, kept):
        build = make_build(db_session, artefact)
        execution = make_execution(db_session, build, rpi)
        result = make_result(db_session, execution, "disk")
        make_review(db_session, build, rpi)
        db_session.add_all(
            [
                TestEvent(
                    test_execution_id=execution.id,
                    event_name="job_start",
                    timestamp=execution.created_at,
                    detail="",
                ),
                IssueTestResultAttachment(issue_id=issue.id, test_result_id=result.id),
                TestExecutionRerunRequest(
                    test_plan_id=execution.test_plan_id,
                    artefact_build_id=build.id,
                    environment_id=rpi.id,
                ),
            ]
        )
        db_session.execute(
            insert(test_execution_metadata_association_table).values(
                test_execution_id=execution.id, test_execution_metadata_id=shared_metadata.id
            )
        )
        db_session.execute(
            insert(artefact_reviewers_association).values(artefact_id=artefact.id, user_id=jane.id)
        )
        executions.append(execution)
    db_session.commit()
    doomed_id, kept_id, kept_execution_id = doomed.id, kept.id, executions[1].id

    outcome = CliRunner().invoke(
        app, ["admin", "delete-artefact", str(doomed_id)], env={"DB_URL": database_url}
    )
    assert outcome.exit_code == 0, outcome.output
    db_session.expire_all()

    assert db_session.scalars(select(Artefact.id)).all() == [kept_id]
    for model in (
        ArtefactBuild,
        TestExecution,
        TestResult,
        TestEvent,
        ArtefactBuildEnvironmentReview,
        TestExecutionRerunRequest,
        IssueTestResultAttachment,
        artefact_reviewers_association,
        test_execution_metadata_association_table,
    ):
        assert count(db_session, model) == 1, model
    # Shared rows stay, and the other artefact still has its metadata.
    for model in (Environment, TestCase, TestPlan, TestExecutionMetadata, Issue, User):
        assert count(db_session, model) == 1, model
    assert db_session.scalar(
        select(test_execution_metadata_association_table.c.test_execution_id)
    ) == (kept_execution_id)

    missing = CliRunner().invoke(
        app, ["admin", "delete-artefact", str(doomed_id)], env={"DB_URL": database_url}
    )
    assert missing.exit_code == 1
    assert f"Artefact with id {doomed_id} not found" in missing.output
