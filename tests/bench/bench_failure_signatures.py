"""What failure signatures cost: `pytest tests/bench/bench_failure_signatures.py -s`.

Not part of the default test run. Two measurements, each printing the load average (the
machine is shared: compare the ratios, which come from one run, not the absolute times).

**Ingestion.** In one process, against one database, rounds alternate between ingestion as it
was before signatures (SIGN_FAILURES=false, so no derivation and no signature insert, and the
counting triggers disabled) and ingestion with signatures, so that both see the same machine
load; medians of each side, and their ratio. Each side is measured as CPU time (this process
and the database's PostgreSQL backends, from /proc), which barely moves with the load of a
shared machine, and as wall-clock time; the targets apply to the CPU ratio, the wall-clock
ratio is printed beside it. Two ways: through the HTTP API in process (two
apps on the same database, one with each setting: what a CI client waits for, and the
target), and calling the service functions directly, committed, without HTTP or JSON parsing.
Those costs are the same with or without signatures, so the second ratio is an upper bound of
the first. The failures' outputs are drawn from the labelled corpus (`tests/data/failures`),
each made unique by a timestamp line, as real outputs are.

* 1,000 results with 3 % failures per POST: target, signed at most 1.10 x the baseline;
* one end-test of 5,000 results with 50 % failures: target, under 2 x the baseline.

**Listing.** The seed's dataset written with the COPY-based bulk seeder (which signs its
failures through the backfill), then `GET /v1/failure-signatures` for the whole history and
for one artefact (the snap artefact with the most failed results), BENCH_REQUESTS times each
(default 60), p50 and p95 in-process, on the seed's dataset and at BENCH_HISTORY_FACTOR
(default 10) times its history, the two sizes' requests alternating. Targets: p95 <= 100 ms
at 1x, and p95 at 10x <= 1.5 x p95 at 1x.
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from test_observer.app import create_app
from test_observer.db import migrate
from test_observer.db.engine import make_engine
from test_observer.db.models import Permission
from test_observer.executions.requests import (
    EndTestExecutionRequest,
    StartTestRequest,
    TestResultRequest,
)
from test_observer.executions.results import end_test, post_results
from test_observer.executions.start import start_test
from test_observer.settings import Settings
from tests.bench.bench_endpoints import _seed, _seeded_template
from tests.database import scratch_database

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "8"))
WARM_ROUNDS = 12
REQUESTS = int(os.environ.get("BENCH_REQUESTS", "60"))
FACTOR = os.environ.get("BENCH_HISTORY_FACTOR", "10")
CORPUS = Path(__file__).parents[1] / "data" / "failures"
# The triggers that count a signature's results (0020) and its spread (0023), per event.
TRIGGERS = tuple(
    f"test_result_{kind}_{counts}"
    for kind in ("inserted", "updated", "deleted")
    for counts in ("count_signatures", "count_signature_spread")
)
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
        for trigger in TRIGGERS:
            connection.execute(text(f"ALTER TABLE test_result {verb} TRIGGER {trigger}"))


START = {
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
}


def start(session: Session, ci_link: str) -> int:
    request = TypeAdapter(StartTestRequest).validate_python({**START, "ci_link": ci_link})
    return start_test(session, request, Settings(db_url="postgresql://unused"))


def _backend_cpu(engine: Engine) -> float:
    """CPU seconds used so far by the PostgreSQL backends of the bench database (read from
    /proc: the server runs on this machine). `schedstat` counts nanoseconds; `stat` would count
    10 ms ticks, coarser than the difference a POST of 1,000 results makes."""
    with engine.connect() as connection:
        pids = connection.scalars(
            text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
        ).all()
    total = 0
    for pid in pids:
        try:
            total += int(Path(f"/proc/{pid}/schedstat").read_text().split()[0])
        except OSError:
            continue
    return total / 1e9


def timed(engine: Engine, run: Callable[[], object]) -> tuple[float, float]:
    """Wall-clock seconds of `run`, and the CPU seconds it cost this process and PostgreSQL.

    CPU time barely moves when other work loads the machine; wall-clock time does."""
    cpu = time.process_time() + _backend_cpu(engine)
    began = time.perf_counter()
    run()
    wall = time.perf_counter() - began
    return wall, time.process_time() + _backend_cpu(engine) - cpu


def alternate(
    engine: Engine, label: str, measure: Callable[[bool, int], tuple[float, float]]
) -> tuple[float, float]:
    """Median CPU seconds of `measure(sign, round)` without, then with signatures, interleaved;
    wall-clock medians are printed too."""
    runs: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
    # Warm caches and plans on every pooled connection (each plans the triggers' statements on
    # first use, as a long-running server's connections did long ago).
    for n in range(WARM_ROUNDS):
        measure(True, -1 - n)
    for n in range(ROUNDS):
        for sign in (False, True) if n % 2 == 0 else (True, False):
            triggers(engine, sign)
            runs[sign].append(measure(sign, n))
    triggers(engine, True)
    wall = {sign: statistics.median(w for w, _ in runs[sign]) for sign in runs}
    cpu = {sign: statistics.median(c for _, c in runs[sign]) for sign in runs}
    say(
        f"{label}: CPU without {cpu[False] * 1000:.0f} ms, with {cpu[True] * 1000:.0f} ms, "
        f"ratio {cpu[True] / cpu[False]:.3f}; wall-clock without {wall[False] * 1000:.0f} ms, "
        f"with {wall[True] * 1000:.0f} ms, ratio {wall[True] / wall[False]:.3f} "
        f"({ROUNDS} rounds each, medians; {load()})"
    )
    return cpu[False], cpu[True]


def _clients(url: str, engine: Engine) -> dict[bool, TestClient]:
    """Two apps on one database, signing failures or not (SIGN_FAILURES)."""
    every = ",".join(permission.value for permission in Permission)
    return {
        sign: TestClient(
            create_app(
                # Anonymous, as permissions are ignored: allowed the bench's large bodies.
                Settings(
                    db_url=url,
                    ignore_permissions=every,
                    sign_failures=sign,
                    anonymous_max_request_body_size=64 * 1024 * 1024,
                ),
                engine=engine,
            )
        )
        for sign in (False, True)
    }


def test_ingestion_cost(database_server: str) -> None:
    logs = outputs()
    rng = random.Random(28)

    def log() -> str:
        # Real outputs differ from run to run, if only by their timestamps: no two alike.
        return f"started {time.time_ns()}\n{rng.choice(logs)}"

    def post_items() -> list[dict[str, Any]]:
        failed = set(rng.sample(range(1000), 30))
        return [
            {
                "name": f"bench/post/test_{i:04d}",
                "status": "FAILED" if i in failed else "PASSED",
                "category": "Bench",
                "comment": "",
                "io_log": log() if i in failed else "",
            }
            for i in range(1000)
        ]

    def end_items() -> list[dict[str, Any]]:
        return [
            {
                "name": f"bench/end/test_{i:04d}",
                "status": "fail" if i % 2 else "pass",
                "category": "Bench",
                "comment": "",
                "io_log": log() if i % 2 else "",
            }
            for i in range(5000)
        ]

    with scratch_database(database_server, "bench_sig") as url:
        migrate.upgrade(url)
        engine = make_engine(url)
        clients = _clients(url, engine)

        def start_over_http(client: TestClient, ci_link: str) -> int:
            payload = {**START, "ci_link": ci_link}
            response = client.put("/v1/test-executions/start-test", json=payload)
            assert response.status_code == 200, response.text
            return int(response.json()["id"])

        def post_http(sign: bool, n: int) -> tuple[float, float]:
            client, items = clients[sign], post_items()
            execution_id = start_over_http(client, f"https://bench.example/http-post/{sign}/{n}")
            path = f"/v1/test-executions/{execution_id}/test-results"
            return timed(engine, lambda: _ok(client.post(path, json=items)))

        def end_http(sign: bool, n: int) -> tuple[float, float]:
            client, ci_link = clients[sign], f"https://bench.example/http-end/{sign}/{n}"
            body = {"ci_link": ci_link, "test_results": end_items()}
            start_over_http(client, ci_link)
            return timed(engine, lambda: _ok(client.put("/v1/test-executions/end-test", json=body)))

        def post_service(sign: bool, n: int) -> tuple[float, float]:
            payload = [TestResultRequest.model_validate(item) for item in post_items()]
            with Session(engine) as session, session.begin():
                execution_id = start(session, f"https://bench.example/post/{sign}/{n}")
            with Session(engine) as session:

                def run() -> None:
                    post_results(session, execution_id, payload, sign=sign)
                    session.commit()

                return timed(engine, run)

        def end_service(sign: bool, n: int) -> tuple[float, float]:
            ci_link = f"https://bench.example/end/{sign}/{n}"
            request = EndTestExecutionRequest.model_validate(
                {"ci_link": ci_link, "test_results": end_items()}
            )
            with Session(engine) as session, session.begin():
                start(session, ci_link)
            with Session(engine) as session:

                def run() -> None:
                    end_test(session, request, sign=sign)
                    session.commit()

                return timed(engine, run)

        say(f"\nIngestion, {load()}")
        post = alternate(engine, "HTTP POST 1,000 results, 3 % failed", post_http)
        end = alternate(engine, "HTTP end-test 5,000 results, 50 % failed", end_http)
        alternate(engine, "service only: POST 1,000 results, 3 % failed", post_service)
        alternate(engine, "service only: end-test 5,000 results, 50 % failed", end_service)
        engine.dispose()
    assert post[1] <= 1.10 * post[0]
    assert end[1] < 2 * end[0]


def _ok(response: Any) -> None:
    assert response.status_code == 200, response.text


def _stats(samples: list[tuple[float, float]]) -> tuple[float, float, float]:
    """p50 and p95 wall-clock seconds, and the median CPU seconds (process and PostgreSQL)."""
    times = sorted(wall for wall, _ in samples)
    cpu = statistics.median(cpu for _, cpu in samples)
    return statistics.median(times), times[int(0.95 * (len(times) - 1))], cpu


class _Size:
    """One size of the dataset: its client and the artefact with the most failed results."""

    def __init__(self, url: str, factor: str) -> None:
        self.factor = factor
        self.engine = make_engine(url)
        with self.engine.connect() as connection:
            name, version = connection.execute(
                text(
                    "SELECT a.name, a.version FROM artefact a "
                    "JOIN artefact_build b ON b.artefact_id = a.id "
                    "JOIN test_execution e ON e.artefact_build_id = b.id "
                    "WHERE a.family = 'snap' GROUP BY a.id "
                    "ORDER BY sum(e.failed_count) DESC, a.id LIMIT 1"
                )
            ).one()
            signatures = connection.scalar(text("SELECT count(*) FROM failure_signature"))
            signed = connection.scalar(text("SELECT sum(result_count) FROM failure_signature"))
        self.client = _clients(url, self.engine)[True]
        self.selections: dict[str, dict[str, Any]] = {
            "whole history": {},
            "one artefact": {"artefacts": name, "artefact_versions": version},
        }
        say(f"x{factor}: {signatures} signatures, {signed} failed results; {name} {version}")

    def request(self, label: str) -> tuple[float, float]:
        params = self.selections[label]
        return timed(
            self.engine, lambda: _ok(self.client.get("/v1/failure-signatures", params=params))
        )


def _listing(sizes: list[_Size]) -> dict[str, dict[str, float]]:
    """Each selection's figures per size, the sizes' requests alternating so that both see
    the same load."""
    figures: dict[str, dict[str, float]] = {size.factor: {} for size in sizes}
    for label in sizes[0].selections:
        samples: dict[str, list[tuple[float, float]]] = {size.factor: [] for size in sizes}
        for size in sizes:
            size.request(label)  # warm
        for n in range(REQUESTS):
            for size in sizes if n % 2 == 0 else sizes[::-1]:
                samples[size.factor].append(size.request(label))
        for size in sizes:
            p50, p95, cpu = _stats(samples[size.factor])
            figures[size.factor][label] = p95
            figures[size.factor][f"{label} CPU"] = cpu
            say(
                f"  x{size.factor} GET /v1/failure-signatures {label}: p50 {p50 * 1000:.1f} ms,"
                f" p95 {p95 * 1000:.1f} ms, CPU {cpu * 1000:.1f} ms per request ({load()})"
            )
    for size in sizes:
        size.engine.dispose()
    return figures


@contextmanager
def _seeded(server: str, factor: str) -> Iterator[str]:
    """A database with the seed's dataset `factor` times: kept as BENCH_TEMPLATE_DB_x<factor>
    (seeded the first time only) when BENCH_TEMPLATE_DB is set, else a scratch one. The
    listing only reads, so a kept one is measured in place."""
    template = os.environ.get("BENCH_TEMPLATE_DB")
    if template:
        name = f"{template}_x{factor}"
        _seeded_template(server, name, factor)
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
        return
    with scratch_database(server, f"bench_sig{factor}") as url:
        migrate.upgrade(url)
        _seed(url, factor)
        yield url


def test_listing_latency(database_server: str) -> None:
    with _seeded(database_server, "1") as one_url, _seeded(database_server, FACTOR) as many_url:
        figures = _listing([_Size(one_url, "1"), _Size(many_url, FACTOR)])
    one, many = figures["1"], figures[FACTOR]
    for label in one:
        say(f"{label}: x{FACTOR} / x1 = {many[label] / one[label]:.2f}")
    latencies = [label for label in one if not label.endswith("CPU")]
    assert all(one[label] <= 0.100 for label in latencies)
    assert all(many[label] <= 1.5 * one[label] for label in latencies)
