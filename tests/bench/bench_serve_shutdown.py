"""Connections reset when `serve` with two workers is stopped under load.

Not part of the default test run: `uv run --frozen pytest tests/bench/bench_serve_shutdown.py -s`.
Four clients send `GET /v1/version`, each on a new connection, while `serve --workers 2` gets
SIGTERM; every outcome is counted: answered, refused (the server no longer listens, a clean
refusal) or reset. `BENCH_ROUNDS` sets the rounds per worker count (default 3). With two
workers the supervisor refuses new connections before its workers stop, so none is reset (the
test suite checks one round); a single worker has no supervisor and keeps uvicorn's own window.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from pathlib import Path

from tests.backend.cli.test_cli import free_port
from tests.backend.serving.test_serve_processes import hammer, start
from tests.database import scratch_database

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))


def one_round(database_server: str, tmp_path: Path, workers: str) -> Counter[str]:
    with scratch_database(database_server, "drain") as url:
        env = {**os.environ, "DB_URL": url, "METRICS_PORT": "0"}
        port = free_port()
        server = start(env, port, tmp_path / "serve.log", "--workers", workers)
        stop = threading.Event()
        outcomes: Counter[str] = Counter()
        lock = threading.Lock()
        clients = [
            threading.Thread(target=hammer, args=(port, stop, outcomes, lock)) for _ in range(4)
        ]
        for client in clients:
            client.start()
        try:
            time.sleep(2)
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
            time.sleep(0.5)
        finally:
            stop.set()
            for client in clients:
                client.join(timeout=30)
            if server.poll() is None:
                server.kill()
    return outcomes


def test_resets_when_stopping_under_load(database_server: str, tmp_path: Path) -> None:
    print(f"\nload average: {os.getloadavg()}")
    for workers in ("1", "2"):
        for _ in range(ROUNDS):
            outcomes = one_round(database_server, tmp_path, workers)
            print(f"workers={workers}: {dict(outcomes)}")
