"""Scrape latency of the metrics endpoint on the default seeded dataset.

Not part of the default test run: `uv run --frozen pytest tests/bench/bench_metrics.py -s`.
The dataset is `test-observer seed` with its defaults, in a database of its own (seeding takes
minutes); set METRICS_BENCH_DB_URL to reuse a database seeded that way.

Prints: the first scrape (it waits for the first refresh), scrapes served from the cache, a
scrape arriving while a refresh is due (it serves the previous counts after waiting at most
250 ms), the refresh itself, and the size of a scrape. The target: a cached scrape under
500 ms at p95.

A second benchmark times the background jobs' series alone on a long queue history: five years
of jobs (JOB_HISTORY, one every 158 s, 2 % failed) written straight into the queue's tables,
which puts about 16,000 runs in the default 30-day window.
"""

from __future__ import annotations

import gzip
import os
import statistics
import subprocess
import time
import urllib.request
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text

from test_observer.db import migrate
from test_observer.observability.collector import DomainCollector
from test_observer.observability.metrics import start_metrics_server
from test_observer.observability.series import JOB_SERIES, TEST_EXECUTIONS, TEST_RESULTS
from test_observer.settings import Settings, normalise_database_url
from tests.database import scratch_database

RUNS = 20
TARGET_MS = 500.0
JOB_HISTORY = 1_000_000
JOB_SPACING_S = 157.68
JOB_NAMES = ["promote-artefacts", "kernel-swm", "clean-sessions", "sync-issues", "sync-issue"]


@pytest.fixture(scope="module")
def seeded_url(database_server: str) -> Iterator[str]:
    configured = os.environ.get("METRICS_BENCH_DB_URL")
    if configured:
        yield normalise_database_url(configured)
        return
    with scratch_database(database_server, "metricsbench") as url:
        migrate.upgrade(url)
        subprocess.run(
            ["test-observer", "seed", "--no-migrate"],
            env={**os.environ, "DB_URL": url},
            check=True,
        )
        yield url


def scrape(port: int, *, compressed: bool) -> tuple[float, int]:
    headers = {"Accept-Encoding": "gzip"} if compressed else {}
    request = urllib.request.Request(f"http://127.0.0.1:{port}/metrics", headers=headers)
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=600) as response:
        body = response.read()
    elapsed_ms = (time.perf_counter() - started) * 1000
    if compressed:
        body = gzip.decompress(body)
    return elapsed_ms, len(body)


def summary(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
    return f"median {statistics.median(ordered):.0f} ms, p95 {p95:.0f} ms"


def test_scrape_latency_on_the_default_seed(seeded_url: str) -> None:
    settings = Settings(db_url=seeded_url, metrics_cache_seconds=3600, metrics_init_days=0)
    server = start_metrics_server(settings, registry=None, host="127.0.0.1", port=0)
    assert server is not None
    try:
        first_ms, size = scrape(server.port, compressed=True)
        refresh = server.domain.refresh()
        cached = [scrape(server.port, compressed=True)[0] for _ in range(RUNS)]
        plain = [scrape(server.port, compressed=False)[0] for _ in range(5)]
        server.domain.cache_seconds = 0
        stale = [scrape(server.port, compressed=True)[0] for _ in range(3)]
    finally:
        server.stop()

    print(
        f"\nmetrics scrape on the default seed: {size / 1e6:.1f} MB of text"
        f"\n  first scrape (waits for the first refresh): {first_ms:.0f} ms"
        f"\n  refresh (queries + rendering): {refresh.query_seconds * 1000:.0f} ms"
        f"\n  cached, gzip: {summary(cached)}"
        f"\n  cached, plain text: {summary(plain)}"
        f"\n  refresh due (serves the previous counts): {summary(stale)}"
    )
    assert sorted(cached)[round(0.95 * RUNS) - 1] < TARGET_MS


# Jobs as a worker leaves them (deferred, started, then succeeded or failed), ending now.
# Triggers are off while loading: they would add the same events one row at a time.
QUEUE_HISTORY = """
SET session_replication_role = replica;
INSERT INTO procrastinate_jobs (id, queue_name, task_name, status, attempts)
SELECT g, 'default', (CAST(:names AS text[]))[1 + g % 5],
       (CASE WHEN g % 50 = 0 THEN 'failed' ELSE 'succeeded' END)::procrastinate_job_status, 1
FROM generate_series(1, :jobs) g;
INSERT INTO procrastinate_events (job_id, type, at)
SELECT j.id, e.type::procrastinate_job_event_type,
       now() - (:jobs - j.id) * make_interval(secs => :spacing)
       + e.step * (1 + j.id % 7) * interval '1 second'
FROM procrastinate_jobs j
CROSS JOIN LATERAL (VALUES ('deferred', 0), ('started', 1), (j.status::text, 2)) e(type, step)
ORDER BY j.id, e.step;
SELECT setval('procrastinate_jobs_id_seq', :jobs);
"""


def test_job_series_on_a_long_queue_history(database_server: str) -> None:
    with scratch_database(database_server, "jobsbench") as url:
        migrate.upgrade(url)
        engine = create_engine(url, connect_args={"options": "-c timezone=UTC"})
        try:
            with engine.begin() as connection:
                for statement in filter(str.strip, QUEUE_HISTORY.split(";")):
                    connection.execute(
                        text(statement),
                        {"names": JOB_NAMES, "jobs": JOB_HISTORY, "spacing": JOB_SPACING_S},
                    )
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.execute(text("VACUUM ANALYZE procrastinate_jobs, procrastinate_events"))
            collector = DomainCollector(engine, cache_seconds=0, init_days=30, series=JOB_SERIES)
            refreshes = [collector.refresh() for _ in range(7)]
        finally:
            engine.dispose()

    assert all(refresh.succeeded for refresh in refreshes)
    print(
        f"\njob series on {JOB_HISTORY:,} finished jobs, 30-day window: "
        f"{len(refreshes[-1].exposition.splitlines())} lines; refresh "
        f"{summary([refresh.query_seconds * 1000 for refresh in refreshes[1:]])}"
    )


def test_execution_series_beside_the_result_counts(seeded_url: str) -> None:
    """What `test_observer_test_executions` adds to a refresh: its own refresh time, alternated
    with the result counts' (the series the refresh already ran) on the same data."""
    engine = create_engine(seeded_url)
    executions = DomainCollector(engine, cache_seconds=0, init_days=0, series=(TEST_EXECUTIONS,))
    results = DomainCollector(engine, cache_seconds=0, init_days=0, series=(TEST_RESULTS,))
    try:
        executions.refresh()  # warm the caches for both
        timings: dict[str, list[float]] = {"executions": [], "results": []}
        for _ in range(5):
            for name, collector in (("executions", executions), ("results", results)):
                snapshot = collector.refresh()
                assert snapshot.succeeded
                timings[name].append(snapshot.query_seconds * 1000)
        lines = len(executions.refresh().exposition.splitlines())
    finally:
        engine.dispose()
    print(
        f"\ntest_observer_test_executions: {lines} lines, refresh "
        f"{summary(timings['executions'])}; test_observer_test_results alone, alternated: "
        f"{summary(timings['results'])}; load average {os.getloadavg()[0]:.1f}"
    )
