"""`test-observer seed`: a deterministic dataset built through the service layer."""

from __future__ import annotations

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from test_observer.db.engine import make_session_factory
from test_observer.db.models import (
    Artefact,
    Base,
    FamilyName,
    IssueTestResultAttachment,
    TestCase,
    TestResult,
    TestResultStatus,
)
from test_observer.seeding.seed import SeedPlan, seed
from test_observer.settings import Settings
from tests.backend.command_line import run_command
from tests.database import empty_tables

PLAN = SeedPlan(artefacts=10, architectures=2, environments=3, executions=24, results=12, seed=7)


def snapshot(session: Session) -> list[tuple[object, ...]]:
    return [
        tuple(row)
        for row in session.execute(
            select(
                TestResult.test_execution_id, TestCase.name, TestResult.status, TestResult.io_log
            )
            .join(TestCase, TestCase.id == TestResult.test_case_id)
            .order_by(TestResult.test_execution_id, TestCase.name)
        )
    ]


def test_seed_is_deterministic_and_covers_every_family(
    engine: Engine, database_url: str, db_session: Session
) -> None:
    factory = make_session_factory(engine)
    settings = Settings(db_url=database_url)
    done: list[int] = []
    counts = seed(factory, PLAN, settings, progress=done.append)
    assert counts["executions"] == 24
    assert counts["results"] > 0
    assert done[-1] == 24
    assert set(db_session.scalars(select(Artefact.family))) == set(FamilyName)
    first = snapshot(db_session)
    db_session.rollback()  # release its locks before emptying the tables

    empty_tables(engine, Base.metadata.sorted_tables)
    seed(factory, PLAN, settings)
    db_session.expire_all()
    assert snapshot(db_session) == first


def test_seed_refuses_a_database_with_data(database_url: str, engine: Engine) -> None:
    seed(
        make_session_factory(engine),
        SeedPlan(artefacts=2, executions=2, results=1),
        Settings(db_url=database_url),
    )
    completed = run_command(
        *("seed", "--executions", "1", "--no-migrate"),
        env={"DB_URL": database_url, "PATH": ""},
        inherit_env=False,
    )
    assert completed.returncode == 1
    # Refused in one line, before any progress bar is drawn.
    assert completed.stderr.strip().splitlines() == [
        "Error: The database already holds artefacts: seed an empty one (a new DB_URL, or "
        "reset the embedded one with `test-observer db embedded reset --yes`)"
    ]


def test_seed_triages_failures_with_issues_and_rules(
    engine: Engine, database_url: str, db_session: Session
) -> None:
    plan = SeedPlan(
        artefacts=10, architectures=2, environments=3, executions=40, results=40, issues=9
    )
    counts = seed(make_session_factory(engine), plan, Settings(db_url=database_url))
    assert counts["issues"] == 9
    assert counts["attachment_rules"] == 3
    rows = db_session.execute(
        select(IssueTestResultAttachment.attachment_rule_id, TestResult.status).join(
            TestResult, TestResult.id == IssueTestResultAttachment.test_result_id
        )
    ).all()
    assert counts["attachments"] == len(rows) > 0
    # Only failures are attached, some by a rule during ingestion and some by hand.
    assert {status for _, status in rows} == {TestResultStatus.FAILED}
    assert any(rule is None for rule, _ in rows)
    assert any(rule is not None for rule, _ in rows)
