"""The background jobs' series: read from the job queue's tables after real jobs ran."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, text

from test_observer.observability.series import JOB_SERIES
from tests.backend.jobs.fake_http import FakeService, fake_service
from tests.backend.observability.conftest import Unit, defer_jobs, run_queued_jobs

pytestmark = pytest.mark.usefixtures("_empty_queue")

RUNS = "test_observer_job_runs"
DURATION = "test_observer_job_duration_seconds"
LAST_FAILED = "test_observer_job_last_run_failed"
QUEUE = "test_observer_job_queue_depth"


@pytest.fixture
def swm() -> Iterator[FakeService]:
    """The kernel SRU workflow status, with no open tracker: kernel-swm succeeds."""
    with fake_service() as service:
        service.on("/status.json", (200, {"trackers": {}}))
        yield service


def test_runs_failures_durations_and_the_queue_are_the_same_on_every_unit(
    make_unit: Callable[..., Unit], database_url: str
) -> None:
    first, second = make_unit(), make_unit()
    # kernel-swm fails: its status document is unreachable in the tests.
    defer_jobs(database_url, ("clean-sessions",), ("kernel-swm",))
    began = time.monotonic()
    run_queued_jobs(database_url)
    elapsed = time.monotonic() - began
    defer_jobs(database_url, ("promote-artefacts",))

    for unit in (first, second):
        assert unit.value(RUNS, task="clean-sessions", status="succeeded") == 1
        assert unit.value(RUNS, task="kernel-swm", status="failed") == 1
        assert unit.value(RUNS, task="kernel-swm", status="succeeded") == 0
        assert unit.value(LAST_FAILED, task="kernel-swm") == 1
        assert unit.value(LAST_FAILED, task="clean-sessions") == 0
        assert unit.value(QUEUE, queue="default", task="promote-artefacts", status="todo") == 1
        assert unit.value(QUEUE, queue="default", task="promote-artefacts", status="doing") == 0
    samples = first.scrape()
    # Only runs: the queued job has not run, and nothing ran twice.
    assert {labels["task"] for labels, _ in samples[RUNS]} == {"clean-sessions", "kernel-swm"}
    assert sum(value for _, value in samples[RUNS]) == 2
    assert first.value(f"{DURATION}_count", task="kernel-swm", status="failed") == 1
    duration = first.value(f"{DURATION}_sum", task="kernel-swm", status="failed")
    assert 0 <= duration <= elapsed
    # One run: every quantile is that run's duration.
    for quantile in ("0.5", "0.95"):
        labels = {"task": "kernel-swm", "status": "failed", "quantile": quantile}
        assert first.value(DURATION, **labels) == duration


def test_a_later_success_clears_the_failure(
    make_unit: Callable[..., Unit], database_url: str, swm: FakeService
) -> None:
    unit = make_unit()
    defer_jobs(database_url, ("kernel-swm",))
    run_queued_jobs(database_url)
    assert unit.value(LAST_FAILED, task="kernel-swm") == 1

    defer_jobs(database_url, ("kernel-swm",))
    run_queued_jobs(database_url, kernel_swm_status_url=swm.url + "/status.json")

    assert unit.value(LAST_FAILED, task="kernel-swm") == 0
    assert unit.value(RUNS, task="kernel-swm", status="failed") == 1
    assert unit.value(RUNS, task="kernel-swm", status="succeeded") == 1


def test_an_attempt_that_will_be_retried_is_not_a_run(
    make_unit: Callable[..., Unit], database_url: str
) -> None:
    unit = make_unit()
    # sync-issue retries after a failure; there is no issue 404, so its first attempt fails.
    defer_jobs(database_url, ("sync-issue", "404"))
    run_queued_jobs(database_url)

    assert RUNS not in unit.scrape()
    # Back in the queue, waiting for its retry.
    assert unit.value(QUEUE, queue="default", task="sync-issue", status="todo") == 1


def test_runs_that_ended_before_the_window_are_not_counted(
    make_unit: Callable[..., Unit], database_url: str, engine: Engine
) -> None:
    unit = make_unit(metrics_init_days=7)
    defer_jobs(database_url, ("clean-sessions",))
    run_queued_jobs(database_url)
    defer_jobs(database_url, ("clean-sessions",))
    assert unit.value(RUNS, task="clean-sessions", status="succeeded") == 1

    with engine.begin() as connection:
        connection.execute(text("UPDATE procrastinate_events SET at = at - interval '8 days'"))

    samples = unit.scrape()
    assert RUNS not in samples
    assert LAST_FAILED not in samples
    # The queue is reported as it is now, whatever the window.
    assert unit.value(QUEUE, queue="default", task="clean-sessions", status="todo") == 1
    everything = make_unit(metrics_init_days=0)
    assert everything.value(RUNS, task="clean-sessions", status="succeeded") == 1


def _plan(engine: Engine, statement: object) -> str:
    with engine.connect() as connection:
        # The tables are tiny here, so PostgreSQL would scan them whatever the indexes: ask
        # whether an index can serve each table at all, as on a large queue.
        connection.execute(text("SET LOCAL enable_seqscan = off"))
        compiled = statement.compile(  # type: ignore[attr-defined]
            dialect=engine.dialect, compile_kwargs={"literal_binds": True}
        )
        plan = connection.execute(text(f"EXPLAIN (FORMAT JSON) {compiled}")).scalar_one()
    return json.dumps(plan)


def test_the_job_queries_read_the_queue_through_its_indexes(engine: Engine) -> None:
    since = datetime.now(UTC).replace(tzinfo=None) - timedelta(days=30)
    for series in JOB_SERIES:
        plan = _plan(engine, series.query(since))
        assert '"Seq Scan"' not in plan, series.name
        if series.name == QUEUE:
            # Only the waiting and running jobs, not the finished ones.
            assert "procrastinate_jobs_id_lock_idx_v1" in plan
        else:
            # Only the runs that ended in the window, not the queue's history.
            assert "job_events_finished_ix" in plan, series.name
