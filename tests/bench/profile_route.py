"""Where a route's time goes: a sampling profile of the server while clients loop on it.

    python -m tests.bench.profile_route DB_URL ROUTE [SECONDS]

ROUTE is a name from `bench_floor.routes` ("PUT start-test", "POST 100 results",
"GET artefacts?family=snap", ...). Serves DB_URL with `test-observer serve --workers 1`,
creates an application with every permission, drives the route with 4 keep-alive clients
under `py-spy record` and prints the functions holding the most samples (own time), and the
share of samples whose innermost frame is in our code, the framework (FastAPI, Starlette,
pydantic, uvicorn), SQLAlchemy, the database driver (psycopg: mostly waiting for PostgreSQL)
or elsewhere (the interpreter, the standard library, idle threads are left out).
"""

from __future__ import annotations

import collections
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import uvloop

from tests.backend.executions.live import free_port
from tests.bench.bench_endpoints import bench_key, find_target
from tests.bench.bench_floor import _serve, routes

LAYERS = (
    ("ours", ("test_observer/",)),
    ("framework", ("fastapi/", "starlette/", "pydantic", "uvicorn/", "anyio/", "httptools")),
    ("SQLAlchemy", ("sqlalchemy/",)),
    ("driver", ("psycopg",)),
)
IDLE = (
    "select (selectors.py",
    "wait (threading.py",
    "_worker (concurrent",
    "run_forever",
    # The event loop (uvloop, in C) waiting for sockets.
    "Runner.run (asyncio",
)


def _layer(frame: str) -> str:
    for name, marks in LAYERS:
        if any(mark in frame for mark in marks):
            return name
    return "other"


def profile(url: str, route_name: str, seconds: float) -> str:
    key = bench_key(url)
    route, keyed = routes(find_target(url))[route_name]
    port = free_port()
    work = Path(tempfile.mkdtemp())
    server = _serve(
        [
            *(sys.executable, "-m", "test_observer", "serve", "--no-migrate"),
            *("--port", str(port), "--workers", "1", "--log-level", "warning"),
        ],
        url,
        port,
        work / "serve.log",
    )
    samples = work / "samples.txt"
    try:
        # The worker: the serve process itself with one worker.
        spy = subprocess.Popen(
            [
                *(str(Path(sys.executable).parent / "py-spy"), "record"),
                *("--format", "raw", "--rate", "250"),
                *("--duration", str(int(seconds)), "--pid", str(server.pid)),
                *("--output", str(samples), "--nonblocking"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        from tests.bench.bench_floor import Sample, _batch

        headers = {"Authorization": f"Bearer {key}"} if keyed else {}
        sample = Sample()
        uvloop.run(_batch(port, headers, route, 4, seconds, sample))
        spy.wait(timeout=seconds + 60)
    finally:
        server.terminate()
        server.wait(timeout=30)
    own: collections.Counter[str] = collections.Counter()
    layers: collections.Counter[str] = collections.Counter()
    total = 0
    for line in samples.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        frames = stack.split(";")
        innermost = frames[-1]
        if any(mark in innermost for mark in IDLE):
            continue
        count = int(count_text)
        total += count
        own[innermost] += count
        layers[_layer(innermost)] += count
    lines = [
        f"{route_name}: {sample.per_second:.0f} req/s at 4 clients, "
        f"{sample.median_ms:.1f} ms median; {total} busy samples",
        "share: "
        + ", ".join(f"{name} {100 * n / total:.0f} %" for name, n in layers.most_common()),
    ]
    lines += [f"{100 * n / total:5.1f} %  {frame}" for frame, n in own.most_common(15)]
    return "\n".join(lines)


if __name__ == "__main__":
    os.environ.setdefault("LOG_LEVEL", "warning")
    print(profile(sys.argv[1], sys.argv[2], float(sys.argv[3]) if len(sys.argv) > 3 else 15))
