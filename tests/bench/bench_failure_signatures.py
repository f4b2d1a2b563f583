"""What failure signatures cost: `pytest tests/bench/bench_failure_signatures.py -s`.

Not part of the default test run. Two measurements, each printing the load average (the
machine is shared: compare the ratios, which come from one run, not the absolute times).

**Ingestion.** In one process, against one database, rounds alternate between ingestion as it
was before signatures (the counting triggers disabled, `sign=False`: no derivation, no
signature insert) and ingestion with signatures, on the same payloads, so that both see the
same machine load. The service functions are called directly (`post_results`, `end_test`),
committed, without HTTP or JSON parsing: those costs are the same with or without signatures,
so leaving them out of both sides makes the ratio an upper bound of what a client sees. The
failures' outputs are drawn from the labelled corpus (`tests/data/failures`).

* 1,000 results with 3 % failures per POST: target, signed at most 1.10 x the baseline;
* one end-test of 5,000 results with 50 % failures: target, under 2 x the baseline.

**Listing.** The seed's dataset written with the COPY-based bulk seeder (which signs its
failures through the backfill), then `GET /v1/failure-signatures` for the whole history and
for one artefact (the snap artefact with the most failed results), BENCH_REQUESTS times each
(default 60), p50 and p95 in-process; then the same at BENCH_HISTORY_FACTOR (default 10)
times the history. Targets: p95 <= 100 ms at 1x, and p95 at 10x <= 1.5 x p95 at 1x.
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from test_observer.app import create_app
from test_observer.db import migrate
from test_observer.db.engine import make_engine
from test_observer.db.models import Permission, TestResultStatus
from test_observer.executions.requests import (
    EndTestExecutionRequest,
    StartTestRequest,
    TestResultRequest,
)
from test_observer.executions.results import end_test, post_results
from test_observer.executions.start_test import start_test
from test_observer.settings import Settings
from tests.bench.bench_endpoints import _seed
from tests.database import scratch_database

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "8"))
REQUESTS = int(os.environ.get("BENCH_REQUESTS", "60"))
FACTOR = os.environ.get("BENCH_HISTORY_FACTOR", "10")
CORPUS = Path(__file__).parents[1] / "data" / "failures"
TRIGGERS = ("inserted", "updated", "deleted")
LOG = sys.stderr


def say(message: str) -> None:
    print(message, file=LOG, flush=True)


def load() -> str:
    return "load average " + " ".join(f"{value:.1f}" for value in os.getloadavg())


def outputs() -> list[str]:
    return [path.read_text() for path in sorted(CORPUS.glob("*/*/*.txt"))]


def triggers(engine: Engine, enabled: bool) -> None:
    verb = "ENABLE" if enabled else "DISABLE"
    with engine.begin() as connection:
        for kind in TRIGGERS:
            connection.execute(
                text(f"ALTER TABLE test_result {verb} TRIGGER test_result_{kind}_count_signatures")
            )


def start(session: Session, ci_link: str) -> int:
    request = TypeAdapter(StartTestRequest).validate_python(
        {
            "family": "snap",
            "name": "bench-signatures",
            "version": "1",
            "revision": 1,
            "track": "latest",
            "store": "ubuntu",
            "arch": "amd64",
            "execution_stage": "beta",
            "environment": "bench-env",
            "test_plan": "bench-plan",
            "ci_link": ci_link,
        }
    )
    return start_test(session, request, Settings(db_url="postgresql://unused"))


def timed(run: Callable[[], None]) -> float:
    began = time.perf_counter()
    run()
    return time.perf_counter() - began


def alternate(
    engine: Engine, label: str, measure: Callable[[bool, int], float]
) -> tuple[float, float]:
    """Median seconds of `measure(sign, round)` without, then with signatures, interleaved."""
    without: list[float] = []
    with_: list[float] = []
    measure(True, -1)  # warm caches and plans
    for n in range(ROUNDS):
        for sign in (False, True) if n % 2 == 0 else (True, False):
            triggers(engine, sign)
            (with_ if sign else without).append(measure(sign, n))
    triggers(engine, True)
    base, signed = statistics.median(without), statistics.median(with_)
    say(
        f"{label}: without {base * 1000:.1f} ms, with {signed * 1000:.1f} ms, "
        f"ratio {signed / base:.3f} ({ROUNDS} rounds each, medians; {load()})"
    )
    return base, signed


def test_ingestion_cost(database_server: str) -> None:
    logs = outputs()
    rng = random.Random(28)
    with scratch_database(database_server, "bench_sig") as url:
        migrate.upgrade(url)
        engine = make_engine(url)

        def post_payload() -> list[TestResultRequest]:
            failed = set(rng.sample(range(1000), 30))
            return [
                TestResultRequest(
                    name=f"bench/post/test_{i:04d}",
                    status=TestResultStatus.FAILED if i in failed else TestResultStatus.PASSED,
                    category="Bench",
                    comment="",
                    io_log=rng.choice(logs) if i in failed else "",
                )
                for i in range(1000)
            ]

        def post(sign: bool, n: int) -> float:
            payload = post_payload()
            with Session(engine) as session, session.begin():
                execution_id = start(session, f"bench://post/{sign}/{n}")
            with Session(engine) as session:

                def run() -> None:
                    post_results(session, execution_id, payload, sign=sign)
                    session.commit()

                return timed(run)

        def end(sign: bool, n: int) -> float:
            ci_link = f"bench://end/{sign}/{n}"
            request = EndTestExecutionRequest.model_validate(
                {
                    "ci_link": ci_link,
                    "test_results": [
                        {
                            "name": f"bench/end/test_{i:04d}",
                            "status": "fail" if i % 2 else "pass",
                            "category": "Bench",
                            "comment": "",
                            "io_log": rng.choice(logs) if i % 2 else "",
                        }
                        for i in range(5000)
                    ],
                }
            )
            with Session(engine) as session, session.begin():
                start(session, ci_link)
            with Session(engine) as session:

                def run() -> None:
                    end_test(session, request, sign=sign)
                    session.commit()

                return timed(run)

        say(f"\nIngestion, {load()}")
        base, signed = alternate(engine, "POST 1,000 results, 3 % failed", post)
        end_base, end_signed = alternate(engine, "end-test 5,000 results, 50 % failed", end)
        engine.dispose()
    assert signed <= 1.10 * base
    assert end_signed < 2 * end_base


def _latencies(client: TestClient, path: str, params: dict[str, Any]) -> tuple[float, float]:
    times = []
    client.get(path, params=params)
    for _ in range(REQUESTS):
        began = time.perf_counter()
        response = client.get(path, params=params)
        times.append(time.perf_counter() - began)
        assert response.status_code == 200, response.text
    times.sort()
    return statistics.median(times), times[int(0.95 * (len(times) - 1))]


def _listing(url: str, factor: str) -> dict[str, float]:
    engine = make_engine(url)
    with engine.connect() as connection:
        name, version = connection.execute(
            text(
                "SELECT a.name, a.version FROM artefact a "
                "JOIN artefact_build b ON b.artefact_id = a.id "
                "JOIN test_execution e ON e.artefact_build_id = b.id "
                "WHERE a.family = 'snap' GROUP BY a.id ORDER BY sum(e.failed_count) DESC, a.id "
                "LIMIT 1"
            )
        ).one()
        signatures = connection.scalar(text("SELECT count(*) FROM failure_signature"))
        signed = connection.scalar(text("SELECT sum(result_count) FROM failure_signature"))
    settings = Settings(db_url=url, ignore_permissions=",".join(p.value for p in Permission))
    client = TestClient(create_app(settings, engine=engine))
    figures = {}
    say(f"x{factor}: {signatures} signatures, {signed} failed results; {name} {version}")
    for label, params in (
        ("whole history", {}),
        ("one artefact", {"artefacts": name, "artefact_versions": version}),
    ):
        p50, p95 = _latencies(client, "/v1/failure-signatures", params)
        figures[label] = p95
        say(
            f"  GET /v1/failure-signatures {label}: p50 {p50 * 1000:.1f} ms, p95 "
            f"{p95 * 1000:.1f} ms ({load()})"
        )
    engine.dispose()
    return figures


def test_listing_latency(database_server: str) -> None:
    with scratch_database(database_server, "bench_sig1") as url:
        migrate.upgrade(url)
        _seed(url, "1")
        one = _listing(url, "1")
    with scratch_database(database_server, "bench_sig10") as url:
        migrate.upgrade(url)
        _seed(url, FACTOR)
        many = _listing(url, FACTOR)
    for label in one:
        say(f"{label}: p95 x{FACTOR} / x1 = {many[label] / one[label]:.2f}")
    assert all(p95 <= 0.100 for p95 in one.values())
    assert all(many[label] <= 1.5 * one[label] for label in one)
