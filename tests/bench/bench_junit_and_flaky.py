"""JUnit XML ingestion and the flaky-test list: `uv run tox -e bench`.

Not part of the default test run (the file name is not collected unless named).

* JUnit: a 20,000-testcase report (about 10 MB, a twentieth failing with long logs) uploaded
  over HTTP to a real server, into a new execution (every test case new) and again into the
  same one (every result replaced). Target: under 2 s each.
* Flaky: `GET /v1/test-cases/flaky` on a dataset of the default `test-observer seed` size,
  written by `seed --bulk`, which dates it as weeks of history (the service-path seed dates
  every result today, which no 30-day window of a running service looks like). Unfiltered and
  with typical filters, at the list's default parameters: median and p95 over RUNS calls,
  target p95 under 200 ms. With BENCH_HISTORY=4, the executions and results are copied three
  times further back in time first (four times the history, the window's contents
  unchanged); target 400 ms. Every pair (`min_flips=0`, not a default) is measured and
  printed too, without a target: it has every run of the window go through the window
  function, where the default reads only the pairs that failed.

Set BENCH_FLAKY_DB_URL to a database already seeded with `test-observer seed` (either way) to
reuse it (it is migrated, and with BENCH_HISTORY it grows). BENCH_RUNS changes the number of
timed calls per query (default 30).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, text
from starlette.testclient import TestClient

from test_observer.app import create_app
from test_observer.db import migrate
from test_observer.db.engine import make_engine
from test_observer.db.models import Permission
from test_observer.settings import Settings, normalise_database_url
from tests.backend.executions.conftest import snap
from tests.backend.executions.live import serve
from tests.database import scratch_database

EVERY_PERMISSION = ",".join(permission.value for permission in Permission)
TESTCASES = 20_000
JUNIT_TARGET_S = 2.0
RUNS = int(os.environ.get("BENCH_RUNS", "30"))
WARM_UP = 3
FLAKY_TARGET_MS = {1: 200.0, 4: 400.0}
EVERY_PAIR = "every pair (min_flips=0)"


def _report(size: int) -> bytes:
    cases = []
    for i in range(size):
        suite = f"suite_{i // 500:02d}"
        body = ""
        if i % 20 == 0:
            trace = "".join(f"    at pkg.Module.step{n}(Module.java:{n})\n" for n in range(40))
            body = (
                f'<failure message="expected {i} but was {i + 1}" type="AssertionError">'
                f"{trace}</failure><system-out>connecting\nretrying\n</system-out>"
            )
        elif i % 33 == 0:
            body = '<skipped message="not on this platform"/>'
        cases.append(
            f'<testcase classname="org.example.{suite}.Case{i // 50}" '
            f'name="test_behaviour_number_{i:05d}_with_a_realistic_length" time="0.01">'
            f"<system-out>ran test {i} in 0.01s with fixture setup and teardown\n"
            "setup: created a temporary directory and a database connection\n"
            "teardown: removed the temporary directory and closed the connection\n"
            "collected 1 item; 1 passed; no warnings were raised during the run\n"
            "</system-out>"
            f"{body}</testcase>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><testsuites><testsuite name="bench">'
        + "".join(cases)
        + "</testsuite></testsuites>"
    ).encode()


@pytest.fixture(scope="module")
def junit_server(database_server: str) -> Iterator[str]:
    with scratch_database(database_server, "bench_junit") as url:
        migrate.upgrade(url)
        engine = make_engine(url)
        app = create_app(
            Settings(db_url=url, ignore_permissions=EVERY_PERMISSION),  # type: ignore[arg-type]
            engine=engine,
        )
        with serve(app) as base:
            yield base
        engine.dispose()


def test_junit_upload_of_20000_testcases(junit_server: str) -> None:
    document = _report(TESTCASES)
    figures: dict[str, float] = {}
    with httpx.Client(base_url=junit_server, timeout=120) as client:
        execution_id = client.put("/v1/test-executions/start-test", json=snap()).json()["id"]
        for label in ("new test cases", "replacing every result"):
            began = time.perf_counter()
            response = client.post(
                f"/v1/test-executions/{execution_id}/junit",
                content=document,
                headers={"Content-Type": "application/xml"},
            )
            figures[label] = time.perf_counter() - began
            assert response.status_code == 200, response.text
            assert response.json()["stored"] == TESTCASES
    print(f"\n\nJUnit report: {TESTCASES:,} test cases, {len(document) / 1e6:.1f} MB")
    print("| upload | seconds | target |\n| --- | ---: | ---: |")
    for label, seconds in figures.items():
        print(f"| {label} | {seconds:.2f} | < {JUNIT_TARGET_S:.0f} |")
    for label, seconds in figures.items():
        assert seconds < JUNIT_TARGET_S, f"{label}: {seconds:.2f} s"


_COPY_HISTORY = text(
    """
    WITH copies AS (
        INSERT INTO test_execution (created_at, updated_at, status, artefact_build_id,
                                    environment_id, test_plan_id, checkbox_version, ci_link,
                                    passed_count, failed_count, skipped_count)
        SELECT created_at - make_interval(days => 31 * :generation),
               updated_at - make_interval(days => 31 * :generation),
               status, artefact_build_id, environment_id, test_plan_id, checkbox_version,
               ci_link || '#history-' || :generation,
               passed_count, failed_count, skipped_count
        FROM test_execution WHERE ci_link NOT LIKE '%#history-%'
        RETURNING id, ci_link
    )
    INSERT INTO test_result (created_at, updated_at, status, comment, io_log,
                             test_execution_id, environment_id, test_case_id)
    SELECT r.created_at - make_interval(days => 31 * :generation),
           r.updated_at - make_interval(days => 31 * :generation),
           r.status, r.comment, r.io_log, copies.id, r.environment_id, r.test_case_id
    FROM copies
    JOIN test_execution AS original
      ON original.ci_link || '#history-' || :generation = copies.ci_link
    JOIN test_result AS r ON r.test_execution_id = original.id
    """
)


def _add_history(engine: Engine, generations: int) -> None:
    """Copies of the seeded executions and their results, each generation 31 days further
    back; the seed gives every execution a ci_link, which names the copies."""
    with engine.begin() as connection:
        done = connection.scalar(
            text("SELECT count(*) FROM test_execution WHERE ci_link LIKE '%#history-%'")
        )
        if done:
            return
        for generation in range(1, generations):
            connection.execute(_COPY_HISTORY, {"generation": generation})
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE test_execution, test_result"))


@pytest.fixture(scope="module")
def flaky_database(database_server: str) -> Iterator[str]:
    configured = os.environ.get("BENCH_FLAKY_DB_URL")
    if configured:
        url = normalise_database_url(configured)
        migrate.upgrade(url)
        # A migration that rewrote results leaves them to autovacuum; until it has passed, an
        # index-only scan visits the rows too. Vacuum now, as the seeded database is.
        engine = make_engine(url)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE test_execution, test_result"))
        engine.dispose()
        yield url
        return
    with scratch_database(database_server, "bench_flaky") as url:
        subprocess.run(
            [sys.executable, "-m", "test_observer", "seed", "--bulk"],
            env={**os.environ, "DB_URL": url, "LOG_LEVEL": "warning"},
            check=True,
            stdout=subprocess.DEVNULL,
        )
        yield url


def _latency(client: TestClient, params: dict[str, Any]) -> tuple[float, float, int]:
    timings = []
    count = 0
    for n in range(WARM_UP + RUNS):
        began = time.perf_counter()
        response = client.get("/v1/test-cases/flaky", params=params)
        elapsed = (time.perf_counter() - began) * 1000
        assert response.status_code == 200, response.text
        count = response.json()["count"]
        if n >= WARM_UP:
            timings.append(elapsed)
    p95 = statistics.quantiles(timings, n=20)[-1]
    return statistics.median(timings), p95, count


def test_flaky_list_latency(flaky_database: str) -> None:
    history = int(os.environ.get("BENCH_HISTORY", "1"))
    engine = make_engine(flaky_database)
    with engine.connect() as connection:
        results = connection.scalar(text("SELECT count(*) FROM test_result"))
        environment = connection.scalar(text("SELECT name FROM environment ORDER BY id LIMIT 1"))
        plan = connection.scalar(text("SELECT name FROM test_plan ORDER BY id LIMIT 1"))
    if history > 1:
        _add_history(engine, history)
    app = create_app(
        Settings(db_url=flaky_database, ignore_permissions=EVERY_PERMISSION),  # type: ignore[arg-type]
        engine=engine,
    )
    cases = {
        "no filter (last 30 days)": {},
        "families=snap": {"families": "snap"},
        "one environment": {"environments": environment},
        "one test plan": {"test_plans": plan},
        EVERY_PAIR: {"min_flips": 0},
    }
    target = FLAKY_TARGET_MS.get(history, FLAKY_TARGET_MS[4])
    rows = []
    with TestClient(app) as client:
        for label, params in cases.items():
            rows.append((label, *_latency(client, params)))
    engine.dispose()
    load = ", ".join(f"{figure:.2f}" for figure in os.getloadavg())
    print(f"\n\nFlaky list: {results:,} seeded results, history x{history}, load average {load}")
    print("| query | median ms | p95 ms | pairs listed | target p95 |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for label, median, p95, count in rows:
        goal = "-" if label == EVERY_PAIR else f"< {target:.0f}"
        print(f"| {label} | {median:.0f} | {p95:.0f} | {count:,} | {goal} |")
    slow = [
        f"{label}: {p95:.0f} ms"
        for label, _, p95, _ in rows
        if label != EVERY_PAIR and p95 >= target
    ]
    assert not slow, "p95 over target: " + "; ".join(slow)
