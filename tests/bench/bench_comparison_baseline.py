"""The comparison and readiness of a large release, this checkout against a baseline, side by
side: `BENCH_BASELINE_PYTHON=<python of the baseline's environment> uv run --frozen pytest
tests/bench/bench_comparison_baseline.py -s -p no:cacheprovider`.

Not part of the default test run. The databases and the planted release are
bench_readiness's (set BENCH_READINESS_X1 and BENCH_READINESS_X10 to keep them seeded). For each
size, two servers run on the same database, migrated by this checkout: this one and the
baseline's (its Python runs `test_observer serve` from the baseline's code, which must read a
database migrated further than itself). Each endpoint and number of clients is measured in
BENCH_ROUNDS alternated rounds (default 2) of BENCH_REQUESTS requests per client (default 10)
on each server, so that both see the same load; it prints the median and 95th percentile of
each side and the load average.
"""

from __future__ import annotations

import os
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy.orm import Session

from test_observer.db.engine import make_engine
from test_observer.db.models import Permission
from tests.bench.bench_readiness import _database, _plant, serve

BASELINE = os.environ.get("BENCH_BASELINE_PYTHON")
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "2"))
REQUESTS = int(os.environ.get("BENCH_REQUESTS", "10"))
CLIENTS = (1, 4)


def _latencies(base: str, headers: dict[str, str], path: str, clients: int) -> list[float]:
    found: list[float] = []
    lock = threading.Lock()

    def run(_: int) -> None:
        with httpx.Client(base_url=base, headers=headers, timeout=120) as client:
            client.get(path).raise_for_status()  # warm-up: connection and caches
            mine = []
            for _ in range(REQUESTS):
                began = time.perf_counter()
                client.get(path).raise_for_status()
                mine.append((time.perf_counter() - began) * 1000)
            with lock:
                found.extend(mine)

    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(run, range(clients)))
    return found


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[int(0.95 * (len(ordered) - 1))]


@pytest.mark.skipif(BASELINE is None, reason="BENCH_BASELINE_PYTHON names the baseline")
def test_comparison_against_a_baseline(database_server: str, tmp_path: Path) -> None:
    from tests.backend.principals import make_application

    assert BASELINE is not None
    lines = [
        "| history | endpoint | clients | p50 ms, baseline | p95 ms, baseline | p50 ms, this "
        "| p95 ms, this | load |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for factor in (1, 10):
        with _database(database_server, factor) as url:
            artefact_id = _plant(url, versions=2 * factor + 2)
            engine = make_engine(url)
            with Session(engine) as session:
                _, key = make_application(session, f"bench-{time.time_ns()}", list(Permission))
            engine.dispose()
            headers = {"Authorization": f"Bearer {key}"}
            paths = {
                "GET version (floor)": "/v1/version",
                "GET comparison": f"/v1/artefacts/{artefact_id}/comparison",
                "GET comparison?classes=regression": (
                    f"/v1/artefacts/{artefact_id}/comparison?classes=regression"
                ),
                "GET readiness": f"/v1/artefacts/{artefact_id}/readiness",
            }
            with (
                serve(BASELINE, url, tmp_path / f"baseline-{factor}.log") as (baseline, _),
                serve(sys.executable, url, tmp_path / f"this-{factor}.log") as (this, _),
            ):
                for name, path in paths.items():
                    for clients in CLIENTS:
                        sides: dict[str, list[float]] = {baseline: [], this: []}
                        for _ in range(ROUNDS):
                            for server in (baseline, this):
                                sides[server] += _latencies(server, headers, path, clients)
                        figures = [
                            f(sides[server])
                            for server in (baseline, this)
                            for f in (statistics.median, _p95)
                        ]
                        lines.append(
                            f"| x{factor} | {name} | {clients} | "
                            + " | ".join(f"{value:.0f}" for value in figures)
                            + f" | {os.getloadavg()[0]:.1f} |"
                        )
                        print(lines[-1], file=sys.stderr, flush=True)
    print("\n\n" + "\n".join(lines) + f"\n\nload average at the end {os.getloadavg()}")
