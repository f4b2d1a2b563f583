"""Periodic jobs never overlap: a slow run and the next instant's, or a run a frozen worker
resumes after another worker retried it, never do the work at the same time."""

from __future__ import annotations

import signal
import threading
import time

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from tests.backend.factories import make_artefact, make_build
from tests.backend.jobs.fake_http import FakeService, Request
from tests.backend.jobs.test_worker import STARTUP_S, environment, rows, wait_for, worker

pytestmark = pytest.mark.usefixtures("_empty_queue")


class SlowStore:
    """A Snap Store that takes `seconds` to answer and counts the runs asking at once."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.calls = 0
        self.in_flight = 0
        self.most_at_once = 0
        self._lock = threading.Lock()

    def __call__(self, request: Request) -> tuple[int, object]:
        with self._lock:
            self.calls += 1
            self.in_flight += 1
            self.most_at_once = max(self.most_at_once, self.in_flight)
        try:
            time.sleep(self.seconds)
        finally:
            with self._lock:
                self.in_flight -= 1
        entry = {"channel": {"architecture": "amd64", "risk": "beta", "track": "22"}}
        return 200, {"channel-map": [{**entry, "version": "1"}]}


def one_snap(db_session: Session) -> None:
    artefact = make_artefact(db_session, name="core22", version="1", stage="beta")
    make_build(db_session, artefact)
    db_session.commit()


def test_a_slow_periodic_job_and_the_next_instant_never_run_at_once(
    database_url: str, engine: Engine, db_session: Session, fake: FakeService
) -> None:
    one_snap(db_session)
    store = SlowStore(seconds=5)
    fake.on("/v2/snaps/info/core22", store)
    env = environment(
        database_url,
        SNAPCRAFT_API_URL=fake.url,
        PROMOTE_INTERVAL_S="2",
        HTTP_TIMEOUT_S="30",
    )
    with worker("one", env) as first, worker("two", env) as second:
        # Instants every 2 s, runs of 5 s: without the lock, runs would overlap from the
        # second instant on.
        wait_for(lambda: store.calls >= 3, STARTUP_S + 30, "three runs to reach the store")
        for process in (first, second):
            process.send_signal(signal.SIGTERM)
        outputs = "".join(process.communicate(timeout=60)[0] for process in (first, second))

    assert store.most_at_once == 1, outputs
    assert '"outcome": "skipped"' in outputs
    assert "another run of the job is still running" in outputs
    # A skipped run is a finished job like any other, not a failure to retry.
    failed = rows(
        engine,
        "SELECT count(*) FROM procrastinate_jobs "
        "WHERE task_name = 'promote-artefacts' AND status = 'failed'",
    )
    assert failed == [(0,)]


def test_a_run_resumed_by_a_frozen_worker_is_not_done_twice(
    database_url: str, engine: Engine, db_session: Session, fake: FakeService
) -> None:
    one_snap(db_session)
    store = SlowStore(seconds=12)
    fake.on("/v2/snaps/info/core22", store)
    env = environment(
        database_url,
        SNAPCRAFT_API_URL=fake.url,
        DISABLE_PERIODIC_TASKS="true",
        JOB_STALLED_AFTER_S="5",
        HTTP_TIMEOUT_S="60",
    )
    from typer.testing import CliRunner

    from test_observer.cli.main import app as cli_app

    queued = CliRunner().invoke(cli_app, ["jobs", "defer", "promote-artefacts"], env=env)
    assert queued.exit_code == 0, queued.output
    job_id = int(queued.stdout)

    with worker("frozen", env) as frozen:
        wait_for(lambda: store.calls == 1, STARTUP_S, "the job to reach the store")
        frozen.send_signal(signal.SIGSTOP)
        with worker("rescuer", env) as rescuer:
            # The rescuer takes the stalled job back, but the frozen run still holds its lock.
            wait_for(
                lambda: (
                    rows(engine, f"SELECT status FROM procrastinate_jobs WHERE id = {job_id}")
                    == [("succeeded",)]
                ),
                STARTUP_S,
                "the rescuer to finish the job",
            )
            frozen.send_signal(signal.SIGCONT)
            wait_for(lambda: store.in_flight == 0, 30, "the resumed run to finish")
            time.sleep(1)
            for process in (frozen, rescuer):
                process.send_signal(signal.SIGTERM)
            rescued = rescuer.communicate(timeout=60)[0]
        resumed = frozen.communicate(timeout=60)[0]

    # The store was asked once: the rescuer's run did not do the work again.
    assert store.calls == 1, (resumed, rescued)
    assert '"outcome": "skipped"' in rescued
    assert "was finished by another worker while this one was stalled" in resumed
    assert "Traceback" not in resumed
    assert frozen.returncode == 0, resumed
