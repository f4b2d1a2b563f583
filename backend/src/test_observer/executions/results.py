"""Storing test results in bulk: a fixed number of statements however many results arrive.

Test cases are upserted with one `INSERT … ON CONFLICT DO NOTHING` plus one lookup; results
with one `INSERT … SELECT FROM unnest(…)` joined to the cases, which also copies the
execution's environment onto each result (the flaky-test list orders runs by it). Within one
payload the last result for a test name wins. Names are inserted in sorted order so that
concurrent uploads sharing new test names lock them in the same order and cannot deadlock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import bindparam, delete, select, text, update
from sqlalchemy.orm import Session

from test_observer.artefacts.readiness_events import announce_readiness_of_executions
from test_observer.db.models import TestExecution, TestExecutionStatus, TestResult, TestResultStatus
from test_observer.errors import NotFoundError
from test_observer.issues.ingestion import on_results_stored
from test_observer.signatures import store as signatures_store

from .announcements import announce_ended
from .requests import C3_STATUS, EndTestExecutionRequest, TestResultRequest


@dataclass(frozen=True)
class IncomingResult:
    name: str
    status: TestResultStatus
    category: str
    template_id: str
    comment: str
    io_log: str
    # Seconds; None when the reporter did not say.
    duration: float | None = None


def execution_not_found() -> NotFoundError:
    return NotFoundError("TestExecution not found")


# Statements run on every write to an execution are built once: building even a one-row
# SELECT costs about half as much CPU as sending it.
_LOCK = (
    select(TestExecution.status)
    .where(TestExecution.id == bindparam("execution_id"))
    .with_for_update(key_share=True)
)
_STATUSES = (
    select(TestResult.status).distinct().where(TestResult.test_execution_id == bindparam("id"))
)


def lock_execution(session: Session, execution_id: int) -> TestExecutionStatus:
    """Lock the execution until the end of the transaction; its status. 404 if it does not
    exist.

    Writers of one execution's results and events take turns; readers are not blocked. Reads
    a column, not the entity: this runs before every write to an execution, and loading an
    entity costs more than the round trip.
    """
    status = session.scalar(_LOCK, {"execution_id": execution_id})
    if status is None:
        raise execution_not_found()
    return status


def _last_per_name(results: Sequence[IncomingResult]) -> list[IncomingResult]:
    return list({result.name: result for result in results}.values())


_UPSERT_CASES = text(
    """
    INSERT INTO test_case (name, category, template_id)
    SELECT name, category, template_id
    FROM unnest(CAST(:names AS varchar[]), CAST(:categories AS varchar[]),
                CAST(:template_ids AS varchar[])) AS c(name, category, template_id)
    -- Most names exist already: an anti-join skips them far more cheaply than a conflict.
    WHERE NOT EXISTS (SELECT 1 FROM test_case WHERE test_case.name = c.name)
    ORDER BY name
    ON CONFLICT (name) DO NOTHING
    """
)

# A template id sent with a result replaces the case's (end-test only). The rows are locked in
# name order first, so concurrent end-tests touching the same cases cannot deadlock.
_UPDATE_TEMPLATES = text(
    """
    WITH changed AS (
        SELECT test_case.id, c.template_id
        FROM test_case
        JOIN unnest(CAST(:names AS varchar[]), CAST(:template_ids AS varchar[]))
             AS c(name, template_id) ON test_case.name = c.name
        WHERE c.template_id <> '' AND test_case.template_id <> c.template_id
        ORDER BY test_case.name
        FOR UPDATE OF test_case
    )
    UPDATE test_case SET template_id = changed.template_id, updated_at = timezone('utc', now())
    FROM changed
    WHERE test_case.id = changed.id
    """
)

_UPSERT_RESULTS = text(
    """
    INSERT INTO test_result (test_execution_id, environment_id, test_case_id, status, comment,
                             io_log, failure_signature_id, duration)
    SELECT :execution_id, (SELECT environment_id FROM test_execution WHERE id = :execution_id),
           test_case.id, CAST(r.status AS testresultstatus), r.comment, r.io_log, fs.id,
           r.duration
    FROM unnest(CAST(:names AS varchar[]), CAST(:statuses AS varchar[]),
                CAST(:comments AS varchar[]), CAST(:io_logs AS varchar[]),
                CAST(:signatures AS varchar[]), CAST(:durations AS float8[]))
         WITH ORDINALITY AS r(name, status, comment, io_log, signature, duration, position)
    JOIN test_case ON test_case.name = r.name
    LEFT JOIN failure_signature AS fs ON fs.hash = r.signature
    ORDER BY r.position
    ON CONFLICT (test_execution_id, test_case_id) DO UPDATE
    SET status = excluded.status, comment = excluded.comment, io_log = excluded.io_log,
        failure_signature_id = excluded.failure_signature_id, duration = excluded.duration,
        updated_at = timezone('utc', now())
    -- A row this statement inserted has no xmax; one it replaced carries the transaction's id
    -- there (the lock the update took).
    RETURNING id, xmax <> 0 AS replaced
    """
)


# The execution's results per status, counted again after every write rather than adjusted:
# writers of one execution take turns (lock_execution), so the counts are exact when the
# transaction commits. Leaves `updated_at` alone: the execution itself did not change.
_RECOUNT = text(
    """
    UPDATE test_execution
    SET passed_count = c.passed, failed_count = c.failed, skipped_count = c.skipped
    FROM (
        SELECT count(*) FILTER (WHERE status = 'PASSED') AS passed,
               count(*) FILTER (WHERE status = 'FAILED') AS failed,
               count(*) FILTER (WHERE status = 'SKIPPED') AS skipped
        FROM test_result
        WHERE test_execution_id = :execution_id
    ) AS c
    WHERE test_execution.id = :execution_id
    """
)


def store_results(
    session: Session,
    execution_id: int,
    results: Sequence[IncomingResult],
    *,
    update_templates: bool = False,
    sign: bool = True,
) -> list[int]:
    """Insert or replace the results of an execution (one per test case); their ids.

    The only way results are written: callers hold the execution's lock. Six statements at
    most, plus those of the attachment hook. Failed results are signed (`signatures`) unless
    `sign` is false (the SIGN_FAILURES setting).
    """
    result_ids = _store(session, execution_id, _last_per_name(results), update_templates, sign)
    recount_results(session, execution_id)
    announce_readiness_of_executions(session, [execution_id])
    return result_ids


def recount_results(session: Session, execution_id: int) -> None:
    """Count the execution's results per status again (see `TestExecution.passed_count`)."""
    session.execute(_RECOUNT, {"execution_id": execution_id})


def _store(
    session: Session,
    execution_id: int,
    results: Sequence[IncomingResult],
    update_templates: bool,
    sign: bool,
) -> list[int]:
    if not results:
        return []
    signatures = signatures_store.sign(
        session,
        (
            (result.io_log, result.comment)
            if sign and result.status == TestResultStatus.FAILED
            else None
            for result in results
        ),
    )
    names = [result.name for result in results]
    session.execute(
        _UPSERT_CASES,
        {
            "names": names,
            "categories": [result.category for result in results],
            "template_ids": [result.template_id for result in results],
        },
    )
    if update_templates and any(result.template_id for result in results):
        session.execute(
            _UPDATE_TEMPLATES,
            {"names": names, "template_ids": [result.template_id for result in results]},
        )
    rows = session.execute(
        _UPSERT_RESULTS,
        {
            "execution_id": execution_id,
            "names": names,
            "statuses": [result.status.name for result in results],
            "comments": [result.comment for result in results],
            "io_logs": [result.io_log for result in results],
            "signatures": signatures,
            "durations": [result.duration for result in results],
        },
    ).all()
    result_ids = [row.id for row in rows]
    on_results_stored(session, execution_id, result_ids, replaced=any(row.replaced for row in rows))
    return result_ids


def post_results(
    session: Session, execution_id: int, items: Sequence[TestResultRequest], *, sign: bool = True
) -> None:
    lock_execution(session, execution_id)
    store_results(
        session,
        execution_id,
        [
            IncomingResult(
                name=item.name,
                status=item.status,
                category=item.category,
                template_id=item.template_id,
                comment=item.comment,
                io_log=item.io_log,
                duration=item.duration,
            )
            for item in items
        ],
        sign=sign,
    )


def completed_status(session: Session, execution_id: int) -> TestExecutionStatus:
    """What a finished execution's status is, from its results.

    No results: ENDED_PREMATURELY (the run stopped before reporting anything).
    """
    statuses = set(session.scalars(_STATUSES, {"id": execution_id}))
    if not statuses:
        return TestExecutionStatus.ENDED_PREMATURELY
    if TestResultStatus.FAILED in statuses:
        return TestExecutionStatus.FAILED
    return TestExecutionStatus.PASSED


def end_test(session: Session, request: EndTestExecutionRequest, *, sign: bool = True) -> None:
    execution = session.scalar(
        select(TestExecution)
        .where(TestExecution.ci_link == request.ci_link)
        .with_for_update(key_share=True)
    )
    if execution is None:
        raise NotFoundError("Related TestExecution not found")
    # The final list replaces whatever was posted before.
    session.execute(delete(TestResult).where(TestResult.test_execution_id == execution.id))
    store_results(
        session,
        execution.id,
        [
            IncomingResult(
                name=item.name,
                status=C3_STATUS[item.status],
                category=item.category,
                template_id=item.template_id or "",
                comment=item.comment,
                io_log=item.io_log,
                duration=item.duration,
            )
            for item in request.test_results
        ],
        update_templates=True,
        sign=sign,
    )
    changes: dict[str, object] = {"status": completed_status(session, execution.id)}
    if request.c3_link is not None:
        changes["c3_link"] = request.c3_link
    if request.checkbox_version is not None:
        changes["checkbox_version"] = request.checkbox_version
    session.execute(update(TestExecution).where(TestExecution.id == execution.id).values(changes))
    announce_ended(session, [execution.id])
