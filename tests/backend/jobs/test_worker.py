"""`test-observer worker` processes on one database: periodic jobs run once per period, and a
job whose worker is killed is retried by another without leaving half-written state."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from test_observer.cli.main import app as cli_app
from test_observer.db.models import Artefact
from test_observer.jobs import queue
from test_observer.jobs.environment import JobEnvironment
from tests.backend.factories import make_artefact, make_build
from tests.backend.jobs.conftest import NOWHERE
from tests.backend.jobs.fake_http import FakeService, Request

pytestmark = pytest.mark.usefixtures("_empty_queue")

# Worker processes on a loaded machine can take a while to start.
STARTUP_S = 90


def environment(database_url: str, **settings: str) -> dict[str, str]:
    values = {
        "DB_URL": database_url,
        "SNAPCRAFT_API_URL": NOWHERE,
        "UBUNTU_ARCHIVE_URL": NOWHERE,
        "UBUNTU_PORTS_URL": NOWHERE,
        "KERNEL_SWM_STATUS_URL": NOWHERE,
        "HTTP_TIMEOUT_S": "5",
        **settings,
    }
    return {**os.environ, **values}


@contextmanager
def worker(name: str, env: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "test_observer", "worker", "--name", name],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)


def wait_for(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def rows(engine: Engine, query: str) -> list[tuple[object, ...]]:
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(text(query))]


def test_two_workers_run_each_periodic_job_once_per_period(
    database_url: str, engine: Engine
) -> None:
    env = environment(
        database_url,
        PROMOTE_INTERVAL_S="2",
        KERNEL_SWM_INTERVAL_S="2",
        CLEAN_SESSIONS_INTERVAL_S="2",
    )
    with worker("one", env) as first, worker("two", env) as second:
        # Until each job has been run for at least three periods.
        wait_for(
            lambda: (
                rows(
                    engine,
                    "SELECT count(*) FROM procrastinate_jobs "
                    "WHERE task_name = 'clean-sessions' AND status = 'succeeded'",
                )[0][0]
                >= 3
            ),
            60,
            "three periods of clean-sessions",
        )
        for process in (first, second):
            process.send_signal(signal.SIGTERM)
        outputs = [process.communicate(timeout=30)[0] for process in (first, second)]
        assert [first.returncode, second.returncode] == [0, 0], outputs

    for output in outputs:
        assert "Worker stopped" in output
    duplicates = rows(
        engine,
        "SELECT task_name, args->>'timestamp', count(*) FROM procrastinate_jobs "
        "GROUP BY 1, 2 HAVING count(*) > 1",
    )
    assert duplicates == []
    per_job = dict(
        rows(
            engine,
            "SELECT task_name, count(DISTINCT args->>'timestamp') FROM procrastinate_jobs "
            "GROUP BY 1",
        )
    )
    # The pruning jobs run hourly and daily: a run may cross one of their instants.
    assert (
        {"promote-artefacts", "kernel-swm", "clean-sessions"}
        <= set(per_job)
        <= {
            "promote-artefacts",
            "kernel-swm",
            "clean-sessions",
            "prune-audit-events",
            "prune-webhook-events",
        }
    )
    # Periods are clock instants every 2 s (a period may be skipped while the previous run
    # still waits in the queue, never run twice).
    instants = [
        int(str(row[0]))
        for row in rows(engine, "SELECT args->>'timestamp' FROM procrastinate_jobs")
    ]
    assert all(instant % 2 == 0 for instant in instants), instants
    # No job ran twice: the runs both workers logged are exactly the finished jobs.
    finished = rows(
        engine, "SELECT count(*) FROM procrastinate_jobs WHERE status IN ('succeeded', 'failed')"
    )[0][0]
    logged = sum(output.count('"outcome": ') for output in outputs)
    assert logged == finished


def test_disabled_periodic_tasks_schedule_nothing(make_env: Callable[..., JobEnvironment]) -> None:
    enabled = make_env(enable_issue_sync=True)
    assert {job for job, _, _ in queue.scheduled(enabled.settings)} == {
        "promote-artefacts",
        "sync-issues",
        "kernel-swm",
        "clean-sessions",
        "prune-audit-events",
        "prune-webhook-events",
    }
    assert len(queue.build_app(enabled).periodic_registry.periodic_tasks) == 8
    disabled = make_env(enable_issue_sync=True, disable_periodic_tasks=True)
    assert queue.scheduled(disabled.settings) == []
    assert queue.build_app(disabled).periodic_registry.periodic_tasks == {}
    # Issue sync is scheduled only when enabled.
    assert len(queue.build_app(make_env()).periodic_registry.periodic_tasks) == 5


def test_a_killed_job_is_retried_and_leaves_no_half_written_state(
    database_url: str, engine: Engine, db_session: Session, fake: FakeService
) -> None:
    artefacts = []
    for name in ("core22", "docker"):
        artefact = make_artefact(db_session, name=name, version="1", stage="beta")
        make_build(db_session, artefact)
        artefacts.append(artefact.id)
    db_session.commit()
    calls: list[str] = []

    def store(request: Request) -> tuple[int, object]:
        calls.append(request.path)
        if request.path.endswith("docker") and len(calls) <= 2:
            time.sleep(30)  # the first worker is killed while it waits here
        entry = {
            "channel": {"architecture": "amd64", "risk": "candidate", "track": "22"},
            "version": "1",
        }
        return 200, {"channel-map": [entry]}

    fake.on("/v2/snaps/info/core22", store)
    fake.on("/v2/snaps/info/docker", store)
    env = environment(
        database_url,
        SNAPCRAFT_API_URL=fake.url,
        DISABLE_PERIODIC_TASKS="true",
        JOB_STALLED_AFTER_S="5",
        HTTP_TIMEOUT_S="60",
    )
    queued = CliRunner().invoke(cli_app, ["jobs", "defer", "promote-artefacts"], env=env)
    assert queued.exit_code == 0, queued.output
    job_id = int(queued.stdout)

    with worker("doomed", env) as doomed:
        wait_for(lambda: len(calls) == 2, STARTUP_S, "the job to reach the store")
        doomed.kill()
    # Nothing was written: the decisions are written only after every answer is in.
    stages = rows(engine, "SELECT stage FROM artefact ORDER BY id")
    assert stages == [("beta",), ("beta",)]
    assert rows(engine, f"SELECT status FROM procrastinate_jobs WHERE id = {job_id}") == [
        ("doing",)
    ]

    with worker("rescuer", env):
        wait_for(
            lambda: (
                rows(engine, f"SELECT status FROM procrastinate_jobs WHERE id = {job_id}")
                == [("succeeded",)]
            ),
            STARTUP_S,
            "the retried job to succeed",
        )
    db_session.expire_all()
    assert [db_session.get_one(Artefact, i).stage for i in artefacts] == ["candidate", "candidate"]
    # The killed attempt and the one that finished.
    assert rows(engine, f"SELECT attempts FROM procrastinate_jobs WHERE id = {job_id}") == [(2,)]


def test_sigterm_lets_the_running_job_finish(
    database_url: str, engine: Engine, db_session: Session, fake: FakeService
) -> None:
    artefact = make_artefact(db_session, name="core22", version="1", stage="beta")
    make_build(db_session, artefact)
    db_session.commit()
    asked: list[str] = []

    def slow_store(request: Request) -> tuple[int, object]:
        asked.append(request.path)
        time.sleep(3)
        entry = {"channel": {"architecture": "amd64", "risk": "stable", "track": "22"}}
        return 200, {"channel-map": [{**entry, "version": "1"}]}

    fake.on("/v2/snaps/info/core22", slow_store)
    env = environment(database_url, SNAPCRAFT_API_URL=fake.url, DISABLE_PERIODIC_TASKS="true")
    queued = CliRunner().invoke(cli_app, ["jobs", "defer", "promote-artefacts"], env=env)
    assert queued.exit_code == 0, queued.output

    with worker("stopping", env) as process:
        wait_for(lambda: bool(asked), STARTUP_S, "the job to reach the store")
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=60)[0]

    assert process.returncode == 0, output
    assert '"outcome": "succeeded"' in output
    assert rows(engine, "SELECT status FROM procrastinate_jobs") == [("succeeded",)]
    db_session.expire_all()
    assert db_session.get_one(Artefact, artefact.id).stage == "stable"
