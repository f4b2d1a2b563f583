"""Comparison and readiness of a large release through a real server, at the seed's default
history and at ten times that history, in one run: `uv run tox -e bench`.

Not part of the default test run. Seeds two databases of its own (`test-observer seed --bulk`
and `--history-factor 10`, see bench_endpoints), or uses the databases BENCH_READINESS_X1 and
BENCH_READINESS_X10 on the test server when they exist (seeded once and kept, as with
bench_endpoints' BENCH_TEMPLATE_DB). Into each it plants the same release: a snap whose
version 2 and previous version 1 each ran 60 environments x 2,000 results (240,000 results),
with 1 % regressions, 1 % fixes, 2 % still failing, 50 new and 50 gone per environment and
1 % slower results, and before them a history of the failing test cases that grows with the
factor: a version a week, as the seed releases them, 2 earlier versions at the default size and
20 at ten times (so the flaky list's 30-day window holds the same few, as in a real line).

For each database, endpoint and 1 and 4 clients it prints the median and 95th percentile
latency, requests per second and the machine's load average, then the ratio of the 10x p95 to
the default's. GET /v1/version is the floor the other figures stand on: what a request costs
the server and the client with no query behind it. BENCH_REQUESTS sets the requests per
client (default 30).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from test_observer.db import migrate
from test_observer.db.engine import make_engine
from test_observer.db.models import Permission
from tests.bench.bench_endpoints import _seed, measure
from tests.database import scratch_database

REQUESTS_PER_CLIENT = int(os.environ.get("BENCH_REQUESTS", "30"))
CLIENTS = (1, 4)
ENVIRONMENTS = 60
RESULTS = 2_000

# The planted release, in SQL: one statement per table, generate_series for the rows.
_PLANT = """
INSERT INTO artefact (family, name, version, stage, store, track, branch, series, repo, source,
                      os, release, sha256, owner, image_url, comment, bug_link, status,
                      archived, created_at, updated_at)
SELECT 'snap', 'bench-release', v::text, 'beta', 'ubuntu', 'latest', '', '', '', '', '', '',
       '', '', '', '', '', 'UNDECIDED', v < :versions,
       timezone('utc', now()) - make_interval(days => 7 * (:versions - v)),
       timezone('utc', now())
FROM generate_series(1, :versions) AS v;

INSERT INTO artefact_build (artefact_id, architecture, revision)
SELECT id, 'amd64', 1 FROM artefact WHERE name = 'bench-release';

INSERT INTO environment (name, architecture)
SELECT 'bench-env-' || n, 'amd64' FROM generate_series(1, :environments) AS n
ON CONFLICT DO NOTHING;

INSERT INTO test_plan (name) VALUES ('bench-release-plan') ON CONFLICT DO NOTHING;

INSERT INTO test_case (name, category, template_id)
SELECT 'bench-release/test_' || n, 'Bench', '' FROM generate_series(1, :results + 50) AS n
ON CONFLICT DO NOTHING;

INSERT INTO test_execution (artefact_build_id, environment_id, test_plan_id, status,
                            resource_url, created_at, updated_at)
SELECT b.id, e.id, p.id, 'FAILED', '', a.created_at, a.created_at
FROM artefact a
JOIN artefact_build b ON b.artefact_id = a.id
CROSS JOIN environment e
CROSS JOIN test_plan p
WHERE a.name = 'bench-release' AND e.name LIKE 'bench-env-%' AND p.name = 'bench-release-plan';

-- The two newest versions: every test case; n in 1..results for the previous version and
-- 51..results+50 for the newest (50 gone, 50 new per environment). Earlier versions: only the
-- test cases that fail in one of the two, as a history for the flaky rule to read.
INSERT INTO test_result (test_execution_id, environment_id, test_case_id, status, comment,
                         io_log, duration, created_at, updated_at)
SELECT x.id, x.environment_id, c.id,
       CAST(CASE
           WHEN a.version::int = :versions THEN
               CASE WHEN n % 100 = 7 OR n % 50 = 3 THEN 'FAILED' ELSE 'PASSED' END
           WHEN a.version::int = :versions - 1 THEN
               CASE WHEN n % 100 = 9 OR n % 50 = 3 THEN 'FAILED' ELSE 'PASSED' END
           ELSE CASE WHEN (n + a.version::int) % 2 = 0 THEN 'FAILED' ELSE 'PASSED' END
       END AS testresultstatus),
       '', CASE WHEN n % 100 IN (7, 3) THEN 'assertion failed\n' ELSE '' END,
       CASE WHEN a.version::int = :versions AND n % 100 = 11 THEN 9.0 ELSE 2.0 END,
       x.created_at, x.created_at
FROM artefact a
JOIN artefact_build b ON b.artefact_id = a.id
JOIN test_execution x ON x.artefact_build_id = b.id
CROSS JOIN LATERAL generate_series(
    CASE WHEN a.version::int = :versions THEN 51 ELSE 1 END,
    CASE WHEN a.version::int = :versions THEN :results + 50 ELSE :results END) AS n
JOIN test_case c ON c.name = 'bench-release/test_' || n
WHERE a.name = 'bench-release'
  AND (a.version::int >= :versions - 1 OR n % 100 IN (7, 9) OR n % 50 = 3)
-- An execution's results together, as ingestion stores them.
ORDER BY x.id, n;

UPDATE test_execution e
SET passed_count = c.passed, failed_count = c.failed
FROM (
    SELECT test_execution_id,
           count(*) FILTER (WHERE status = 'PASSED') AS passed,
           count(*) FILTER (WHERE status = 'FAILED') AS failed
    FROM test_result
    WHERE test_execution_id IN (
        SELECT x.id FROM test_execution x JOIN artefact_build b ON b.id = x.artefact_build_id
        JOIN artefact a ON a.id = b.artefact_id WHERE a.name = 'bench-release')
    GROUP BY test_execution_id
) c
WHERE e.id = c.test_execution_id;

INSERT INTO artefact_build_environment_review (artefact_build_id, environment_id,
                                               review_decision, review_comment)
SELECT x.artefact_build_id, x.environment_id, '{}', ''
FROM test_execution x JOIN artefact_build b ON b.id = x.artefact_build_id
JOIN artefact a ON a.id = b.artefact_id
WHERE a.name = 'bench-release'
ON CONFLICT DO NOTHING;
"""


def _plant(url: str, versions: int) -> int:
    """Plant the release (once per database); the newest version's id."""
    engine = create_engine(url)
    with engine.begin() as connection:
        found = connection.scalar(text("SELECT max(id) FROM artefact WHERE name = 'bench-release'"))
        if found is None:
            began = time.monotonic()
            for statement in _PLANT.split(";\n\n"):
                connection.execute(
                    text(statement),
                    {"versions": versions, "environments": ENVIRONMENTS, "results": RESULTS},
                )
            found = connection.scalar(
                text("SELECT max(id) FROM artefact WHERE name = 'bench-release'")
            )
            print(f"\nplanted in {time.monotonic() - began:.0f} s", file=sys.stderr, flush=True)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE"))
    engine.dispose()
    assert found is not None
    return int(found)


@contextmanager
def _database(server: str, factor: int) -> Iterator[str]:
    """A seeded database: kept under BENCH_READINESS_X<factor> if that is set, else scratch."""
    name = os.environ.get(f"BENCH_READINESS_X{factor}")
    if name is None:
        with scratch_database(server, f"bench_readiness_x{factor}") as url:
            migrate.upgrade(url)
            _seed(url, str(factor))
            yield url
        return
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        if not connection.scalar(
            text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
        ):
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    migrate.upgrade(url)
    engine = make_engine(url)
    with engine.connect() as connection:
        seeded = connection.scalar(text("SELECT EXISTS (SELECT 1 FROM test_execution)"))
    engine.dispose()
    if not seeded:
        _seed(url, str(factor))
    yield url


def _wait_live(base: str, process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{base}/health/live").status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or process.poll() is not None:
            raise RuntimeError(f"the server did not start: {log.read_text()}")
        time.sleep(0.5)


@contextmanager
def serve(python: str, url: str, log: Path, *options: str) -> Iterator[tuple[str, int]]:
    """`test-observer serve` of `python`'s environment on `url`, with `options`: its base URL
    and pid."""
    from tests.backend.executions.live import free_port

    port = free_port()
    with log.open("w") as output:
        process = subprocess.Popen(
            [python, "-m", "test_observer", "serve", "--no-migrate", "--port", str(port), *options],
            env={**os.environ, "DB_URL": url, "LOG_LEVEL": "warning", "METRICS_PORT": "0"},
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_live(base, process, log, timeout=300)
        yield base, process.pid
    finally:
        process.terminate()
        process.wait(timeout=30)


@contextmanager
def _server(url: str, log: Path) -> Iterator[tuple[str, int, str]]:
    from tests.backend.principals import make_application

    engine = make_engine(url)
    with Session(engine) as session:
        _, key = make_application(session, f"bench-{time.time_ns()}", list(Permission))
    engine.dispose()
    options = (
        # One worker by default: on a busy machine a second can miss uvicorn's health ping
        # while it starts, and be restarted over and over.
        *("--workers", os.environ.get("BENCH_WORKERS", "1")),
        *("--log-level", "warning"),
    )
    with serve(sys.executable, url, log, *options) as (base, pid):
        yield base, pid, key


def _paths(artefact_id: int) -> dict[str, str]:
    return {
        "GET version (floor)": "/v1/version",
        "GET comparison": f"/v1/artefacts/{artefact_id}/comparison",
        "GET comparison?classes=regression": (
            f"/v1/artefacts/{artefact_id}/comparison?classes=regression"
        ),
        "GET readiness": f"/v1/artefacts/{artefact_id}/readiness",
        "GET readiness page": f"/artefacts/{artefact_id}/readiness",
    }


def test_comparison_and_readiness_latency(database_server: str, tmp_path: Path) -> None:
    figures: dict[tuple[int, str, int], float] = {}
    lines = [
        "| history | endpoint | clients | p50 ms | p95 ms | req/s | server CPU ms/req | load |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for factor in (1, 10):
        with _database(database_server, factor) as url:
            artefact_id = _plant(url, versions=2 * factor + 2)
            with _server(url, tmp_path / f"server-{factor}.log") as (base, pid, key):
                headers = {"Authorization": f"Bearer {key}"}
                for name, path in _paths(artefact_id).items():
                    for clients in CLIENTS:
                        m = measure(
                            base,
                            headers,
                            lambda client, worker, n, path=path: client.get(path),
                            clients,
                            REQUESTS_PER_CLIENT,
                            pid,
                        )
                        figures[(factor, name, clients)] = m.p95_ms
                        cpu = "" if m.cpu_ms is None else f"{m.cpu_ms:.1f}"
                        lines.append(
                            f"| x{factor} | {name} | {clients} | {m.p50_ms:.1f} | "
                            f"{m.p95_ms:.1f} | {m.per_second:.0f} | {cpu} | "
                            f"{os.getloadavg()[0]:.1f} |"
                        )
                        print(lines[-1], file=sys.stderr, flush=True)
    lines += ["", "| endpoint | clients | p95 x10 / p95 x1 |", "| --- | ---: | ---: |"]
    for name in _paths(0):
        for clients in CLIENTS:
            ratio = figures[(10, name, clients)] / figures[(1, name, clients)]
            lines.append(f"| {name} | {clients} | {ratio:.2f} |")
    print("\n\n" + "\n".join(lines) + f"\n\nload average at the end {os.getloadavg()}")
