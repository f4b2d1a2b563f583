"""Ingestion throughput through a real server: `uv run tox -e bench`.

Not part of the default test run (the file name is not collected unless named). It creates a
database of its own, seeds it with `test-observer seed` (a tenth of the default size unless
BENCH_SEED_EXECUTIONS says otherwise), serves it with `test-observer serve` (two workers) and
measures:

* results ingested per second, one client posting 1,000 results per request;
* start-test requests per second, four concurrent clients;
* one end-test carrying 5,000 results.

It prints a table and fails when a figure misses its target.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.orm import Session

from test_observer.db.engine import make_engine
from test_observer.db.models import Permission
from tests.backend.executions.conftest import snap
from tests.backend.executions.live import free_port
from tests.backend.principals import bearer, make_application
from tests.database import scratch_database

RESULTS_PER_POST = 1000
POSTS = 20
START_CLIENTS = 4
STARTS_PER_CLIENT = 150
END_TEST_RESULTS = 5000
TARGETS = {"results/s (POST)": 10_000.0, "start-test/s": 200.0}


@pytest.fixture(scope="module")
def server(
    database_server: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, dict[str, str]]]:
    with scratch_database(database_server, "bench") as url:
        env = {**os.environ, "DB_URL": url, "LOG_LEVEL": "warning"}
        seed_executions = os.environ.get("BENCH_SEED_EXECUTIONS", "260")
        subprocess.run(
            [sys.executable, "-m", "test_observer", "seed", "--executions", seed_executions],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        engine = make_engine(url)
        with Session(engine) as session:
            _, key = make_application(session, "bench", list(Permission))
        engine.dispose()
        port = free_port()
        log = tmp_path_factory.mktemp("bench") / "server.log"
        with Path(log).open("w") as output:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "test_observer",
                    "serve",
                    "--no-migrate",
                    "--port",
                    str(port),
                    "--workers",
                    "2",
                    "--log-level",
                    "warning",
                ],
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(f"{base}/health/live").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError(f"the server did not start: {log.read_text()}")
                time.sleep(0.2)
            yield base, bearer(key)
        finally:
            process.terminate()
            process.wait(timeout=30)


def _results(prefix: str, count: int, c3: bool = False) -> list[dict[str, Any]]:
    items = []
    for i in range(count):
        failed = i % 20 == 0
        status = ("fail" if failed else "pass") if c3 else ("FAILED" if failed else "PASSED")
        items.append(
            {
                "name": f"{prefix}/test_{i:05d}",
                "template_id": f"{prefix}/template_{i // 10}",
                "status": status,
                "category": "Bench",
                "comment": "",
                "io_log": "step failed: timeout after 30s\n" * 20 if failed else "",
            }
        )
    return items


def test_ingestion_throughput(server: tuple[str, dict[str, str]]) -> None:
    base, headers = server
    figures: dict[str, float] = {}
    with httpx.Client(base_url=base, headers=headers, timeout=120) as client:
        start = client.put(
            "/v1/test-executions/start-test", json=snap(ci_link="https://bench.example/results")
        )
        execution_id = start.json()["id"]
        payloads = [_results(f"bench/post{n}", RESULTS_PER_POST) for n in range(POSTS)]
        began = time.perf_counter()
        for payload in payloads:
            response = client.post(f"/v1/test-executions/{execution_id}/test-results", json=payload)
            assert response.status_code == 200, response.text
        figures["results/s (POST)"] = POSTS * RESULTS_PER_POST / (time.perf_counter() - began)

        client.put("/v1/test-executions/start-test", json=snap(ci_link="https://bench.example/end"))
        body = {
            "ci_link": "https://bench.example/end",
            "test_results": _results("bench/end", END_TEST_RESULTS, True),
        }
        began = time.perf_counter()
        response = client.put("/v1/test-executions/end-test", json=body)
        assert response.status_code == 200, response.text
        elapsed = time.perf_counter() - began
        figures["end-test 5,000 results (s)"] = elapsed
        figures["results/s (end-test)"] = END_TEST_RESULTS / elapsed

    def starts(worker: int) -> int:
        with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
            for n in range(STARTS_PER_CLIENT):
                payload = snap(
                    version=f"bench-{n % 10}",
                    environment=f"bench-env-{worker}-{n % 5}",
                    ci_link=f"https://bench.example/start/{worker}/{n}",
                )
                response = client.put("/v1/test-executions/start-test", json=payload)
                assert response.status_code == 200, response.text
        return STARTS_PER_CLIENT

    began = time.perf_counter()
    with ThreadPoolExecutor(START_CLIENTS) as pool:
        total = sum(pool.map(starts, range(START_CLIENTS)))
    figures["start-test/s"] = total / (time.perf_counter() - began)

    print("\n\n| measure | value | target |\n| --- | ---: | ---: |")
    for name, value in figures.items():
        target = TARGETS.get(name)
        print(f"| {name} | {value:,.1f} | {'' if target is None else f'>= {target:,.0f}'} |")
    for name, target in TARGETS.items():
        assert figures[name] >= target, f"{name}: {figures[name]:,.1f} < {target:,.0f}"
