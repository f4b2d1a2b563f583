"""What each route costs above the framework's floor: `uv run pytest tests/bench/bench_floor.py -s`.

Not part of the default test run. Serves, on this machine and under the same uvicorn settings
(one worker each, uvloop and httptools, no access log), a bare FastAPI app with one JSON route
(`floor_app.py`) and our server on a copy of a database seeded through the service code (the
developers' `test-observer seed`, default size). For each route of ours, for 1 and 4 clients,
it alternates short batches against the floor and against our route (floor, ours, ours, floor,
...) so that the machine's drift falls on both alike, and prints the median and 95th
percentile latency and the requests per second of each, and the cost above the floor.

Ends with the CI-style seeding rate: 4 clients each looping start-test, two 50-result POSTs
and a PATCH of the execution's status, in results per second.

The client is a keep-alive loop on raw sockets (asyncio on uvloop), far cheaper per request
than an HTTP library, so that what is measured is the servers.

BENCH_TEMPLATE_DB names the seeded database kept on the test server (seeded the first time
only, default `to_floor_template`); every run measures a fresh copy of it. BENCH_SECONDS is
the length of one batch (default 0.75), BENCH_ROUNDS the batches per side (default 4),
BENCH_ONLY keeps the routes whose name contains it (`BENCH_ONLY=seeding`: only the
CI-style run), BENCH_FLOW_SECONDS the length of the CI-style run (default 15), BENCH_WORKERS
our server's workers (default 1).
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvloop

from tests.bench import bench_endpoints
from tests.bench.bench_endpoints import Target, _seeded_template, bench_key, find_target
from tests.database import scratch_database

SECONDS = float(os.environ.get("BENCH_SECONDS", "0.75"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "4"))
FLOW_SECONDS = float(os.environ.get("BENCH_FLOW_SECONDS", "15"))
CLIENTS = (1, 4)
RUN = os.getpid()

# (method, path, body) of one request; the body is sent as JSON when not None.
Request = tuple[str, str, bytes | None]
Route = Callable[[int, int], Request]


class Connection:
    """One keep-alive HTTP/1.1 connection: writes a request, reads one response."""

    def __init__(self, port: int, headers: dict[str, str]) -> None:
        self.port = port
        self.headers = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()

    async def send(self, method: str, path: str, body: bytes | None) -> tuple[int, bytes]:
        assert self.reader is not None
        assert self.writer is not None
        head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{self.headers}"
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        self.writer.write((head + "\r\n").encode() + (body or b""))
        status_and_headers = await self.reader.readuntil(b"\r\n\r\n")
        lines = status_and_headers.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        fields = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                fields[name.strip().lower()] = value.strip()
        if "content-length" in fields:
            return status, await self.reader.readexactly(int(fields["content-length"]))
        chunks = []
        while True:  # chunked
            size = int((await self.reader.readuntil(b"\r\n")).strip(), 16)
            chunks.append(await self.reader.readexactly(size + 2))
            if size == 0:
                return status, b"".join(chunks)


@dataclass
class Sample:
    latencies: list[float] = field(default_factory=list)
    requests: int = 0
    seconds: float = 0.0

    @property
    def median_ms(self) -> float:
        return statistics.median(self.latencies) * 1000

    @property
    def p95_ms(self) -> float:
        ordered = sorted(self.latencies)
        return ordered[int(0.95 * (len(ordered) - 1))] * 1000

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds


async def _batch(
    port: int, headers: dict[str, str], route: Route, clients: int, seconds: float, into: Sample
) -> None:
    connections = [Connection(port, headers) for _ in range(clients)]
    for connection in connections:
        await connection.open()
        # Warm-up: the connection, and whatever the server caches on first use.
        status, body = await connection.send(*route(0, -1))
        assert status < 300, body[:500]
    stop = time.perf_counter() + seconds

    async def loop(worker: int, connection: Connection) -> None:
        n = 0
        while time.perf_counter() < stop:
            request = route(worker, n)
            began = time.perf_counter()
            status, body = await connection.send(*request)
            into.latencies.append(time.perf_counter() - began)
            assert status < 300, body[:500]
            n += 1
        into.requests += n

    began = time.perf_counter()
    await asyncio.gather(*(loop(i, c) for i, c in enumerate(connections)))
    into.seconds += time.perf_counter() - began
    for connection in connections:
        await connection.close()


def alternate(
    floor_port: int, port: int, headers: dict[str, str], route: Route, clients: int
) -> tuple[Sample, Sample]:
    """The floor's sample and ours, from ROUNDS batches each, in the order ABBA ABBA..."""
    floor, ours = Sample(), Sample()
    floor_route: Route = lambda worker, n: ("GET", "/v1/version", None)  # noqa: E731
    for round_ in range(ROUNDS):
        order = [(floor_port, {}, floor_route, floor), (port, headers, route, ours)]
        if round_ % 2:
            order.reverse()
        for each_port, each_headers, each_route, sample in order:
            uvloop.run(_batch(each_port, each_headers, each_route, clients, SECONDS, sample))
    return floor, ours


def _start_payload(worker: int, n: int, link: str) -> dict[str, Any]:
    return {**bench_endpoints._start_payload(worker, n), "ci_link": link}


def _results(prefix: str, count: int) -> bytes:
    return json.dumps(
        [
            {
                "name": f"{prefix}/test_{i:04d}",
                "status": "FAILED" if i % 20 == 0 else "PASSED",
                "category": "Bench",
                "comment": "",
                "io_log": "step failed: timeout after 30s\n" * 5 if i % 20 == 0 else "",
            }
            for i in range(count)
        ]
    ).encode()


def routes(target: Target) -> dict[str, tuple[Route, bool]]:
    """Our routes: name → (request for (client, n), whether it sends the API key)."""

    def get(path: str) -> Route:
        return lambda worker, n: ("GET", path, None)

    def start_test(worker: int, n: int) -> Request:
        link = f"https://bench.example/start/{RUN}/{worker}/{n}/{time.monotonic_ns()}"
        body = json.dumps(_start_payload(worker, n, link)).encode()
        return "PUT", "/v1/test-executions/start-test", body

    executions = target.execution_ids

    def post_results(worker: int, n: int) -> Request:
        execution = executions[(worker * 7919 + n) % len(executions)]
        body = _results(f"bench/{RUN}/{worker}/{n}/{time.monotonic_ns()}", 100)
        return "POST", f"/v1/test-executions/{execution}/test-results", body

    artefact = target.artefact_id
    chosen: dict[str, tuple[Route, bool]] = {
        "GET /v1/version, no key": (get("/v1/version"), False),
        "GET /v1/version, key": (get("/v1/version"), True),
    }
    for family in ("snap", "deb", "charm", "image", "solution"):
        chosen[f"GET artefacts?family={family}"] = (get(f"/v1/artefacts?family={family}"), True)
    chosen.update(
        {
            "GET one artefact": (get(f"/v1/artefacts/{artefact}"), True),
            "GET its builds": (get(f"/v1/artefacts/{artefact}/builds"), True),
            "GET its environment reviews": (
                get(f"/v1/artefacts/{artefact}/environment-reviews"),
                True,
            ),
            "GET test-results?families=snap": (get("/v1/test-results?families=snap"), True),
            "GET test-results?test_plans=<busiest>": (
                get(f"/v1/test-results?test_plans={target.test_plan}"),
                True,
            ),
            "GET test-results?environments=<busiest>": (
                get(f"/v1/test-results?environments={target.environment}"),
                True,
            ),
            "GET reruns?limit=100": (get("/v1/test-executions/reruns?limit=100"), True),
            "GET environments": (get("/v1/environments"), True),
            "GET test-cases": (get("/v1/test-cases"), True),
            "PUT start-test": (start_test, True),
            "POST 100 results": (post_results, True),
        }
    )
    return chosen


def floor_table(floor_port: int, port: int, key: str, target: Target) -> str:
    lines = [
        "| route | clients | floor p50 / p95 ms | ours p50 / p95 ms | floor req/s | ours req/s "
        "| above floor, p50 ms | load |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    only = os.environ.get("BENCH_ONLY", "")
    for name, (route, keyed) in routes(target).items():
        if only and only not in name:
            continue
        headers = {"Authorization": f"Bearer {key}"} if keyed else {}
        for clients in CLIENTS:
            floor, ours = alternate(floor_port, port, headers, route, clients)
            lines.append(
                f"| {name} | {clients} | {floor.median_ms:.2f} / {floor.p95_ms:.2f} | "
                f"{ours.median_ms:.2f} / {ours.p95_ms:.2f} | {floor.per_second:.0f} | "
                f"{ours.per_second:.0f} | {ours.median_ms - floor.median_ms:.2f} | "
                f"{os.getloadavg()[0]:.1f} |"
            )
            print(lines[-1], file=sys.stderr, flush=True)
    return "\n".join(lines)


async def _flow(port: int, key: str, clients: int, seconds: float) -> tuple[int, float]:
    """CI-style seeding: start-test, two 50-result POSTs, PATCH to completed, per client."""
    headers = {"Authorization": f"Bearer {key}"}
    stop = time.perf_counter() + seconds
    results = 0

    async def loop(worker: int) -> None:
        nonlocal results
        connection = Connection(port, headers)
        await connection.open()
        n = 0
        while time.perf_counter() < stop:
            link = f"https://bench.example/flow/{RUN}/{worker}/{n}/{time.monotonic_ns()}"
            start = json.dumps(_start_payload(worker, n, link)).encode()
            status, body = await connection.send("PUT", "/v1/test-executions/start-test", start)
            assert status == 200, body[:500]
            execution = json.loads(body)["id"]
            for part in range(2):
                results_body = _results(f"flow/{worker}/{n}/{part}", 50)
                path = f"/v1/test-executions/{execution}/test-results"
                status, body = await connection.send("POST", path, results_body)
                assert status == 200, body[:500]
                results += 50
            patch = json.dumps({"status": "COMPLETED"}).encode()
            status, body = await connection.send("PATCH", f"/v1/test-executions/{execution}", patch)
            assert status == 200, body[:500]
            n += 1
        await connection.close()

    began = time.perf_counter()
    await asyncio.gather(*(loop(worker) for worker in range(clients)))
    return results, time.perf_counter() - began


def _serve(command: list[str], url: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("w") as output:
        process = subprocess.Popen(
            command,
            env={**os.environ, "DB_URL": url, "LOG_LEVEL": "warning"},
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/v1/version")
            return process
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or process.poll() is not None:
            process.kill()
            raise RuntimeError(f"the server did not start: {log.read_text()}")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def seeded_copy(database_server: str) -> Iterator[str]:
    template = os.environ.get("BENCH_TEMPLATE_DB", "to_floor_template")
    _seeded_template(database_server, template, "1", bulk=False)
    with scratch_database(database_server, "bench_floor", template) as copy:
        yield copy


def test_floor(seeded_copy: str, tmp_path: Path) -> None:
    from tests.backend.executions.live import free_port

    key = bench_key(seeded_copy)
    target = find_target(seeded_copy)
    floor_port, port = free_port(), free_port()
    workers = os.environ.get("BENCH_WORKERS", "1")
    floor = _serve(
        [
            *(sys.executable, "-m", "uvicorn", "tests.bench.floor_app:app"),
            *("--port", str(floor_port), "--workers", "1", "--log-level", "warning"),
            *("--http", "httptools", "--loop", "auto", "--no-access-log"),
        ],
        seeded_copy,
        floor_port,
        tmp_path / "floor.log",
    )
    ours = _serve(
        [
            *(sys.executable, "-m", "test_observer", "serve", "--no-migrate"),
            *("--port", str(port), "--workers", workers, "--log-level", "warning"),
        ],
        seeded_copy,
        port,
        tmp_path / "ours.log",
    )
    try:
        load = os.getloadavg()[0]
        table = floor_table(floor_port, port, key, target)
        flow = ""
        if os.environ.get("BENCH_ONLY", "seeding") in "CI-style seeding":
            results, elapsed = uvloop.run(_flow(port, key, 4, FLOW_SECONDS))
            flow = (
                f"\nCI-style seeding, 4 clients, {workers} worker(s): {results:,} results in "
                f"{elapsed:.1f} s, {results / elapsed:,.0f} results/s "
                f"(load {os.getloadavg()[0]:.1f})"
            )
    finally:
        for process in (floor, ours):
            process.terminate()
            process.wait(timeout=30)
    print(
        f"\n\nour server: {workers} worker(s); load average {load:.1f} at the start\n{table}{flow}"
    )
