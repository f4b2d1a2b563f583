"""Signing results stored unsigned or with older rules: `signatures backfill` and its job."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import Engine, select, text, update
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from test_observer.db.engine import make_session_factory
from test_observer.db.models import FailureSignature, TestResult
from test_observer.errors import UnprocessableError
from test_observer.jobs.environment import JobEnvironment
from test_observer.jobs.registry import JOBS
from test_observer.signatures.backfill import backfill, pending
from tests.backend.command_line import run_command
from tests.backend.executions.conftest import result, snap, start
from tests.backend.issues.conftest import results_url
from tests.backend.jobs.conftest import job_settings


def stored_unsigned(api: TestClient, db_session: Session, failures: int = 5) -> None:
    """Failures of two causes (and a pass) stored as before signing existed."""
    execution_id = start(api, snap())
    api.post(
        results_url(execution_id),
        json=[
            result(f"t{i}", "FAILED", io_log=f"Error: cause {'ab'[i % 2]} on sda{i}\n")
            for i in range(failures)
        ]
        + [result("ok", "PASSED")],
    )
    db_session.execute(update(TestResult).values(failure_signature_id=None))
    db_session.commit()


def counts(session: Session) -> dict[str, int]:
    session.expire_all()
    return {
        signature.text: signature.result_count
        for signature in session.scalars(select(FailureSignature))
        if signature.result_count
    }


def signed(session: Session) -> int:
    return len(
        session.scalars(
            select(TestResult.id).where(TestResult.failure_signature_id.is_not(None))
        ).all()
    )


def test_backfill_signs_unsigned_failures_in_batches(
    api: TestClient, db_session: Session, engine: Engine
) -> None:
    stored_unsigned(api, db_session)
    assert counts(db_session) == {}
    sessions = make_session_factory(engine)
    with sessions() as session:
        assert pending(session, None) == 5
    batches = []
    progress = backfill(sessions, batch_size=2, on_batch=lambda p: batches.append(p.signed))
    assert (progress.signed, progress.batches, batches) == (5, 3, [2, 4, 5])
    assert counts(db_session) == {"Error: cause a on <dev>": 3, "Error: cause b on <dev>": 2}
    # Nothing left: a second run signs nothing.
    assert backfill(sessions).signed == 0


def test_a_stopped_backfill_resumes_where_it_stopped(
    api: TestClient, db_session: Session, engine: Engine
) -> None:
    stored_unsigned(api, db_session)
    sessions = make_session_factory(engine)

    def stop(_: object) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        backfill(sessions, batch_size=2, on_batch=stop)
    db_session.expire_all()
    assert signed(db_session) == 2
    assert backfill(sessions, batch_size=2).signed == 3
    assert sum(counts(db_session).values()) == 5


def test_since_limits_the_backfill_to_newer_results(
    api: TestClient, db_session: Session, engine: Engine
) -> None:
    stored_unsigned(api, db_session)
    db_session.execute(
        update(TestResult)
        .where(TestResult.id.in_(select(TestResult.id).order_by(TestResult.id).limit(2)))
        .values(created_at=datetime(2020, 1, 1))
    )
    db_session.commit()
    assert backfill(make_session_factory(engine), datetime(2021, 1, 1)).signed == 3


def test_results_signed_by_older_rules_are_signed_again(
    api: TestClient, db_session: Session, engine: Engine
) -> None:
    execution_id = start(api, snap())
    api.post(results_url(execution_id), json=[result("t", "FAILED", io_log="Error: x 1")])
    # As if the signature had been made by rules of an earlier version.
    db_session.execute(text("UPDATE failure_signature SET signature_version = 0, hash = 'old'"))
    db_session.commit()
    assert backfill(make_session_factory(engine)).signed == 1
    db_session.expire_all()
    rows = {
        s.hash: (s.signature_version, s.result_count)
        for s in db_session.scalars(select(FailureSignature))
    }
    assert rows.pop("old") == (0, 0)
    assert list(rows.values()) == [(1, 1)]


def test_the_job_backfills_and_refuses_a_bad_date(
    api: TestClient, db_session: Session, engine: Engine, database_url: str
) -> None:
    stored_unsigned(api, db_session)
    env = JobEnvironment(
        settings=job_settings(database_url), engine=engine, sessions=make_session_factory(engine)
    )
    job = JOBS["backfill-signatures"]
    with pytest.raises(UnprocessableError, match="ISO date"):
        job.run(env, "yesterday")
    assert job.run(env, "2000-01-01") == {"signed": 5, "batches": 1}


def test_the_command_reports_progress_on_stderr(
    api: TestClient, db_session: Session, database_url: str
) -> None:
    stored_unsigned(api, db_session)
    done = run_command("signatures", "backfill", "--batch", "2", env={"DB_URL": database_url})
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert "Signed 5 failed results in 3 batches" in done.stderr
    assert "results/s" in done.stderr
    assert sum(counts(db_session).values()) == 5
    bad = run_command("signatures", "backfill", "--since", "soon", env={"DB_URL": database_url})
    assert bad.returncode != 0
    assert "since" in bad.stderr.lower()
