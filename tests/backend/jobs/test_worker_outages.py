"""The job worker rides out database outages: it keeps running, says so, reconnects and
resumes periodic scheduling without running an instant twice.

Each test runs a PostgreSQL cluster of its own (the embedded server), which it stops and
starts: the shared test server cannot be taken away from the other tests.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from test_observer.db import embedded, migrate
from tests.backend.jobs.test_worker import environment, wait_for

pytest.importorskip("pgserver", reason="the embedded-db dependency group is not installed")

# Worker processes on a loaded machine can take a while to start.
STARTUP_S = 90
PERIOD_S = 2


class Cluster:
    """A PostgreSQL server of the test's own, which it can stop and start again."""

    def __init__(self, parent: Path) -> None:
        self.data_dir = parent / "data"
        self.handle: Any = embedded.start(self.data_dir, keep_running=True)
        self.url = embedded.url_of(self.handle)

    def stop(self) -> None:
        assert embedded.stop(self.data_dir)

    def start(self) -> None:
        import pgserver

        with pgserver.PostgresServer._lock:
            self.handle.ensure_postgres_running()

    def rows(self, query: str) -> list[tuple[object, ...]]:
        engine = create_engine(self.url)
        try:
            with engine.connect() as connection:
                return [tuple(row) for row in connection.execute(text(query))]
        finally:
            engine.dispose()


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    # Not under pytest's temporary root: as root the server runs as another user, which
    # must reach its data.
    parent = Path(tempfile.mkdtemp(prefix="test-observer-outage-"))
    parent.chmod(0o755)
    own = Cluster(parent)
    try:
        migrate.upgrade(own.url)
        yield own
    finally:
        embedded.stop(own.data_dir)
        shutil.rmtree(parent, ignore_errors=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_worker(cluster: Cluster, log: Path, health_port: int) -> subprocess.Popen[bytes]:
    env = environment(
        cluster.url,
        CLEAN_SESSIONS_INTERVAL_S=str(PERIOD_S),
        WORKER_RECONNECT_MIN_S="0.5",
        WORKER_RECONNECT_MAX_S="2",
        WORKER_OUTAGE_THRESHOLD_S="5",
        WORKER_METRICS_PORT=str(health_port),
    )
    with log.open("ab") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "test_observer", "worker", "--name", "survivor"],
            env=env,
            stdout=output,
            stderr=output,
        )


def health(port: int) -> int | None:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code
    except httpx.TransportError:
        return None


def succeeded_instants(cluster: Cluster) -> list[int]:
    return [
        int(str(instant))
        for (instant,) in cluster.rows(
            "SELECT args->>'timestamp' FROM procrastinate_jobs "
            "WHERE task_name = 'clean-sessions' AND status = 'succeeded'"
        )
    ]


def assert_each_instant_ran_once(cluster: Cluster, log: str) -> None:
    duplicates = cluster.rows(
        "SELECT task_name, args->>'timestamp', count(*) FROM procrastinate_jobs "
        "GROUP BY 1, 2 HAVING count(*) > 1"
    )
    assert duplicates == []
    assert cluster.rows("SELECT id FROM procrastinate_jobs WHERE attempts > 1") == []
    # Every run the worker logged is one finished job: nothing ran twice.
    finished = cluster.rows(
        "SELECT count(*) FROM procrastinate_jobs "
        "WHERE task_name = 'clean-sessions' AND status IN ('succeeded', 'failed')"
    )[0][0]
    assert log.count('"job": "clean-sessions"') == finished


@pytest.mark.parametrize("outage_s", [20, 60])
def test_the_worker_outlives_an_outage_and_the_next_instant_runs_once(
    cluster: Cluster, tmp_path: Path, outage_s: int
) -> None:
    log = tmp_path / "worker.log"
    port = free_port()
    worker = start_worker(cluster, log, port)
    try:
        wait_for(lambda: len(succeeded_instants(cluster)) >= 2, STARTUP_S, "two periodic runs")
        assert health(port) == 200

        cluster.stop()
        began = time.monotonic()
        # Past the threshold the worker calls itself unhealthy, and keeps running.
        wait_for(lambda: health(port) == 503, 30, "the worker to report the outage")
        while time.monotonic() - began < outage_s:
            assert worker.poll() is None, log.read_text()
            time.sleep(1)
        back = time.time()
        cluster.start()

        wait_for(
            lambda: any(instant > back for instant in succeeded_instants(cluster)),
            60,
            "a periodic run after the database came back",
        )
        assert worker.poll() is None, log.read_text()
        assert health(port) == 200
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
        assert "test_observer_worker_database_outages_total 1.0" in metrics
        assert "test_observer_worker_database_up 1.0" in metrics
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)

    output = log.read_text()
    assert worker.returncode == 0, output
    assert "the database is unreachable" in output
    assert "the database is reachable again" in output
    assert_each_instant_ran_once(cluster, output)


def test_a_worker_started_during_an_outage_waits_for_the_database(
    cluster: Cluster, tmp_path: Path
) -> None:
    log = tmp_path / "worker.log"
    cluster.stop()
    worker = start_worker(cluster, log, free_port())
    try:
        wait_for(lambda: "the database is unreachable" in log.read_text(), STARTUP_S, "a retry")
        time.sleep(3)
        assert worker.poll() is None, log.read_text()
        cluster.start()
        wait_for(lambda: bool(succeeded_instants(cluster)), 60, "a periodic run")
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
    assert worker.returncode == 0, log.read_text()
    assert_each_instant_ran_once(cluster, log.read_text())
