"""Latency and throughput of the hot endpoints through a real server: `uv run tox -e bench`.

Not part of the default test run. Seeds a database of its own with `test-observer seed --bulk`
(the seed's default size, 2,600 executions and about 470,000 results; BENCH_HISTORY_FACTOR=10
gives ten times the history, 26,000 executions and about 4.7 M results, in a few minutes), or
measures an existing, already seeded database given in BENCH_DB_URL (the runs write into it).
With BENCH_TEMPLATE_DB=NAME the seeded database is kept under that name on the test server,
seeded the first time only, and every run measures a fresh copy of it (CREATE DATABASE ...
TEMPLATE), so that runs start from the same data and the long history is built once.

Serves the database with `test-observer serve --workers BENCH_WORKERS` (default 2) and, for
each endpoint and for 1 and 4 concurrent clients, prints the median and 95th percentile
latency, the requests per second, the server's CPU time per request (user + system time of
the server and its workers, read from /proc: unlike wall-clock figures it barely moves when
other work loads the machine) and the machine's load average when the measurement ended.
Ends with the database size. The builds page is that of the seeded snap artefact with the
most executions, or of the artefact BENCH_ARTEFACT_ID; BENCH_REQUESTS sets the requests per
client (default 60) and BENCH_ONLY keeps the endpoints whose name contains it.

The same load can drive a server started by hand (for a sampling profiler):
`BENCH_DB_URL=... python -m tests.bench.bench_endpoints http://127.0.0.1:PORT API_KEY [SECONDS]`.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from test_observer.db import migrate
from test_observer.db.engine import make_engine
from test_observer.db.models import Permission
from tests.database import scratch_database

REQUESTS_PER_CLIENT = int(os.environ.get("BENCH_REQUESTS", "60"))
CLIENTS = (1, 4)
RESULTS_PER_POST = 100
RUN = os.getpid()


@dataclass
class Target:
    """What the benchmark needs to know about the seeded data."""

    artefact_id: int
    execution_ids: list[int]
    # The most tested environment name, and the test plan the seeded snaps run: the seed gives
    # each family one plan, so `test_plans` selects exactly what `families=snap` does.
    environment: str
    test_plan: str


Call = Callable[[httpx.Client, int, int], httpx.Response]


def _start_payload(worker: int, n: int) -> dict[str, Any]:
    return {
        "family": "snap",
        # A name of its own per run, so that no artefact grows from one run to the next.
        "name": f"bench-snap-{RUN}",
        "version": f"1.{n % 10}",
        "revision": 100 + n % 10,
        "track": "latest",
        "store": "ubuntu",
        "arch": "amd64",
        "execution_stage": "beta",
        "environment": f"bench-env-{worker}-{n % 5}",
        "test_plan": "bench-plan",
        "ci_link": f"https://bench.example/start/{worker}/{n}/{time.monotonic_ns()}",
    }


def _results(prefix: str, count: int) -> list[dict[str, Any]]:
    return [
        {
            "name": f"{prefix}/test_{i:04d}",
            "status": "FAILED" if i % 20 == 0 else "PASSED",
            "category": "Bench",
            "comment": "",
            "io_log": "step failed: timeout after 30s\n" * 5 if i % 20 == 0 else "",
        }
        for i in range(count)
    ]


def endpoints(target: Target) -> dict[str, Call]:
    executions = target.execution_ids

    def start_test(client: httpx.Client, worker: int, n: int) -> httpx.Response:
        return client.put("/v1/test-executions/start-test", json=_start_payload(worker, n))

    def post_results(client: httpx.Client, worker: int, n: int) -> httpx.Response:
        execution = executions[(worker * 7919 + n) % len(executions)]
        return client.post(
            f"/v1/test-executions/{execution}/test-results",
            json=_results(f"bench/{worker}/{n}/{time.monotonic_ns()}", RESULTS_PER_POST),
        )

    def patch_execution(client: httpx.Client, worker: int, n: int) -> httpx.Response:
        execution = executions[(worker * 31 + n) % len(executions)]
        return client.patch(
            f"/v1/test-executions/{execution}",
            json={"execution_metadata": {"bench": [f"w{worker}"]}},
        )

    def get(path: str) -> Call:
        return lambda client, worker, n: client.get(path)

    return {
        "PUT start-test": start_test,
        "POST 100 results": post_results,
        "PATCH execution": patch_execution,
        "GET artefacts?family=snap": get("/v1/artefacts?family=snap"),
        "GET artefact builds": get(f"/v1/artefacts/{target.artefact_id}/builds"),
        "GET test-results?families=snap": get("/v1/test-results?families=snap"),
        "GET test-results?test_plans=<snap plan>": get(
            f"/v1/test-results?test_plans={target.test_plan}"
        ),
        "GET test-results?environments=<busiest>": get(
            f"/v1/test-results?environments={target.environment}"
        ),
        "GET test-executions?families=snap": get("/v1/test-executions?families=snap"),
        "GET test-executions?test_plans=<snap plan>": get(
            f"/v1/test-executions?test_plans={target.test_plan}"
        ),
        "GET test-executions?environments=<busiest>": get(
            f"/v1/test-executions?environments={target.environment}"
        ),
        "GET reruns?limit=100": get("/v1/test-executions/reruns?limit=100"),
        "GET test-cases": get("/v1/test-cases"),
    }


def find_target(url: str) -> Target:
    engine = make_engine(url)
    with engine.connect() as connection:
        # The seeded snap artefact with the most executions: the heaviest builds page. Not
        # one the start-test benchmark adds to, so that runs stay comparable.
        artefact_id = connection.scalar(
            text(
                "SELECT b.artefact_id FROM artefact_build b "
                "JOIN test_execution e ON e.artefact_build_id = b.id "
                "JOIN artefact a ON a.id = b.artefact_id "
                "WHERE a.family = 'snap' AND a.name NOT LIKE 'bench-snap-%' "
                "GROUP BY b.artefact_id ORDER BY count(*) DESC, b.artefact_id LIMIT 1"
            )
        )
        if os.environ.get("BENCH_ARTEFACT_ID"):
            artefact_id = int(os.environ["BENCH_ARTEFACT_ID"])
        execution_ids = list(
            connection.scalars(text("SELECT id FROM test_execution ORDER BY id LIMIT 200"))
        )
        environment = connection.scalar(
            text(
                "SELECT env.name FROM test_execution e "
                "JOIN environment env ON env.id = e.environment_id "
                "GROUP BY env.name ORDER BY count(*) DESC, env.name LIMIT 1"
            )
        )
        test_plan = connection.scalar(
            text(
                "SELECT p.name FROM test_execution e "
                "JOIN test_plan p ON p.id = e.test_plan_id "
                "JOIN artefact_build b ON b.id = e.artefact_build_id "
                "JOIN artefact a ON a.id = b.artefact_id "
                "WHERE a.family = 'snap' AND a.name NOT LIKE 'bench-snap-%' "
                "GROUP BY p.name ORDER BY count(*) DESC, p.name LIMIT 1"
            )
        )
    engine.dispose()
    assert artefact_id is not None, "the database holds no snap executions"
    assert execution_ids, "the database holds no executions"
    assert environment is not None, "the database holds no environments"
    assert test_plan is not None, "the database holds no snap test plans"
    return Target(
        artefact_id=artefact_id,
        execution_ids=execution_ids,
        environment=environment,
        test_plan=test_plan,
    )


def _process_tree_cpu(pid: int) -> float:
    """User + system CPU seconds of `pid` and its children (alive ones and reaped ones)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids.extend(int(child) for child in children)
    except OSError:
        pass
    for each in pids:
        try:
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # utime, stime, cutime, cstime are fields 14-17 of stat (1-based).
        total += sum(int(value) for value in fields[11:15]) / ticks
    return total


@dataclass
class Measure:
    p50_ms: float
    p95_ms: float
    per_second: float
    cpu_ms: float | None


def measure(
    base: str, headers: dict[str, str], call: Call, clients: int, requests: int, server_pid: int
) -> Measure:
    latencies: list[float] = []
    lock = threading.Lock()

    def run(worker: int) -> None:
        with httpx.Client(base_url=base, headers=headers, timeout=120) as client:
            call(client, worker, -1).raise_for_status()  # warm-up: connection and caches
            mine = []
            for n in range(requests):
                began = time.perf_counter()
                response = call(client, worker, n)
                mine.append(time.perf_counter() - began)
                assert response.status_code < 300, response.text
            with lock:
                latencies.extend(mine)

    cpu_before = _process_tree_cpu(server_pid) if server_pid else 0.0
    began = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(run, range(clients)))
    elapsed = time.perf_counter() - began
    cpu = (_process_tree_cpu(server_pid) - cpu_before) if server_pid else None
    total = len(latencies)
    latencies.sort()
    return Measure(
        p50_ms=statistics.median(latencies) * 1000,
        p95_ms=latencies[int(0.95 * (total - 1))] * 1000,
        per_second=total / elapsed,
        # Includes the warm-up requests' share: a slight over-estimate, the same in every run.
        cpu_ms=None if cpu is None else cpu * 1000 / (total + clients),
    )


def report(base: str, headers: dict[str, str], target: Target, server_pid: int) -> str:
    lines = [
        "| endpoint | clients | p50 ms | p95 ms | req/s | server CPU ms/req | load |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    only = os.environ.get("BENCH_ONLY", "")
    for name, call in endpoints(target).items():
        if only and only not in name:
            continue
        for clients in CLIENTS:
            m = measure(base, headers, call, clients, REQUESTS_PER_CLIENT, server_pid)
            cpu = "" if m.cpu_ms is None else f"{m.cpu_ms:.1f}"
            lines.append(
                f"| {name} | {clients} | {m.p50_ms:.1f} | {m.p95_ms:.1f} | "
                f"{m.per_second:.0f} | {cpu} | {os.getloadavg()[0]:.1f} |"
            )
            print(lines[-1], file=sys.stderr, flush=True)
    return "\n".join(lines)


def database_size(url: str) -> str:
    engine = make_engine(url)
    with engine.connect() as connection:
        size = connection.scalar(
            text("SELECT pg_size_pretty(pg_database_size(current_database()))")
        )
        results = connection.scalar(text("SELECT count(*) FROM test_result"))
    engine.dispose()
    return f"database size {size}, {results:,} test results"


def _wait_live(base: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/health/live").status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or process.poll() is not None:
            raise RuntimeError(f"the server did not start: {log.read_text()}")
        time.sleep(0.2)


def _seed(url: str, factor: str, *, bulk: bool = True) -> None:
    """The seed's dataset, `factor` times the history, written with COPY (or, without `bulk`,
    through the service code as the API writes it)."""
    began = time.monotonic()
    load = os.getloadavg()[0]
    subprocess.run(
        [
            *(sys.executable, "-m", "test_observer", "seed", "--bulk" if bulk else "--no-bulk"),
            *("--history-factor", factor),
        ],
        env={**os.environ, "DB_URL": url, "LOG_LEVEL": "warning"},
        check=True,
        stdout=subprocess.DEVNULL,
    )
    print(
        f"\nseeded x{factor} in {time.monotonic() - began:.0f} s (load average "
        f"{load:.1f} before, {os.getloadavg()[0]:.1f} after); {database_size(url)}",
        file=sys.stderr,
        flush=True,
    )


def _seeded_template(server: str, name: str, factor: str, *, bulk: bool = True) -> None:
    """Database `name` on the test server, seeded unless an earlier run did it."""
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        exists = connection.scalar(
            text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
        )
        if not exists:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    migrate.upgrade(url)
    engine = make_engine(url)
    with engine.connect() as connection:
        seeded = connection.scalar(text("SELECT EXISTS (SELECT 1 FROM artefact)"))
    engine.dispose()
    if not seeded:
        _seed(url, factor, bulk=bulk)


@pytest.fixture(scope="module")
def seeded_url(database_server: str) -> Iterator[str]:
    existing = os.environ.get("BENCH_DB_URL")
    if existing:
        yield existing
        return
    factor = os.environ.get("BENCH_HISTORY_FACTOR", "1")
    template = os.environ.get("BENCH_TEMPLATE_DB")
    if template:
        _seeded_template(database_server, template, factor)
        began = time.monotonic()
        with scratch_database(database_server, "bench_copy", template) as url:
            print(f"\ncopied {template} in {time.monotonic() - began:.0f} s", file=sys.stderr)
            yield url
        return
    with scratch_database(database_server, "bench_endpoints") as url:
        _seed(url, factor)
        yield url


def bench_key(url: str) -> str:
    """The key of a new application with every permission, for a benchmark's requests."""
    from tests.backend.principals import make_application

    engine = make_engine(url)
    with Session(engine) as session:
        _, key = make_application(session, f"bench-{time.time_ns()}", list(Permission))
    engine.dispose()
    return key


def test_endpoint_latency(seeded_url: str, tmp_path: Path) -> None:
    from tests.backend.executions.live import free_port
    from tests.backend.principals import bearer

    key = bench_key(seeded_url)
    target = find_target(seeded_url)
    port = free_port()
    workers = os.environ.get("BENCH_WORKERS", "2")
    log = tmp_path / "server.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "test_observer", "serve", "--no-migrate"),
                *("--port", str(port), "--workers", workers, "--log-level", "warning"),
            ],
            env={**os.environ, "DB_URL": seeded_url, "LOG_LEVEL": "warning"},
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_live(base, process, log)
        table = report(base, bearer(key), target, process.pid)
    finally:
        process.terminate()
        process.wait(timeout=30)
    print(
        f"\n\n{workers} worker(s); {database_size(seeded_url)}; "
        f"load average {os.getloadavg()[0]:.1f}\n{table}"
    )


def _drive(base: str, key: str, seconds: float) -> None:
    """Loop over every endpoint with four clients for `seconds` (load for a profiler)."""
    headers = {"Authorization": f"Bearer {key}"}
    calls = endpoints(find_target(os.environ["BENCH_DB_URL"]))
    only = os.environ.get("BENCH_ONLY", "")
    chosen = [call for name, call in calls.items() if not only or only in name]
    stop = time.monotonic() + seconds

    def run(worker: int) -> int:
        done = 0
        with httpx.Client(base_url=base, headers=headers, timeout=120) as client:
            while time.monotonic() < stop:
                for call in chosen:
                    call(client, worker, done).raise_for_status()
                    done += 1
        return done

    with ThreadPoolExecutor(4) as pool:
        print(sum(pool.map(run, range(4))), "requests")


if __name__ == "__main__":
    _drive(sys.argv[1], sys.argv[2], float(sys.argv[3]) if len(sys.argv) > 3 else 30.0)
