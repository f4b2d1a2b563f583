"""`serve` with several worker processes: none outlives it, and stopping it drops no request.

`tests/bench/bench_serve_shutdown.py` repeats the SIGTERM round below, with one worker too."""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import psutil
import pytest

from tests.backend.cli import test_cli
from tests.backend.cli.test_cli import COMMAND, free_port, postgres_processes
from tests.database import scratch_database

# A server on an embedded database of its own, stopped whatever the test does.
embedded_env = test_cli.embedded_env


def start(env: dict[str, str], port: int, log: Path, *extra: str) -> subprocess.Popen[bytes]:
    with log.open("ab") as output:
        process = subprocess.Popen(
            [*COMMAND, "serve", "--port", str(port), *extra],
            env=env,
            stdout=output,
            stderr=output,
        )
    deadline = time.monotonic() + 90
    while True:
        assert process.poll() is None, log.read_text()
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=2).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        if time.monotonic() >= deadline:
            # Not left behind holding a port and a database.
            process.terminate()
            process.wait(timeout=30)
            raise AssertionError("the server did not become ready in 90 s")
        time.sleep(0.3)


def port_free(port: int) -> bool:
    return not any(
        connection.laddr.port == port and connection.status == psutil.CONN_LISTEN
        for connection in psutil.net_connections("tcp")
    )


def alive(processes: list[psutil.Process]) -> list[psutil.Process]:
    return [
        process
        for process in processes
        if process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    ]


def test_a_killed_multi_worker_serve_leaves_no_process_and_a_free_port(
    embedded_env: tuple[dict[str, str], Path], tmp_path: Path
) -> None:
    env, data_dir = embedded_env
    port = free_port()
    server = start(env, port, tmp_path / "serve.log", "--workers", "2")
    children = psutil.Process(server.pid).children(recursive=True)
    workers = [child for child in children if "spawn_main" in " ".join(child.cmdline())]
    assert len(workers) == 2, [child.cmdline() for child in children]
    assert postgres_processes(data_dir)

    server.kill()
    server.wait(timeout=30)
    deadline = time.monotonic() + 5
    while alive(children) or postgres_processes(data_dir) or not port_free(port):
        assert time.monotonic() < deadline, (
            f"left after 5 s: {[p.cmdline() for p in alive(children)]}, "
            f"postgres {postgres_processes(data_dir)}, port free: {port_free(port)}"
        )
        time.sleep(0.1)


def hammer(port: int, stop: threading.Event, outcomes: Counter[str], lock: threading.Lock) -> None:
    """Send requests one after another, each on a new connection, until `stop`."""
    while not stop.is_set():
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            connection.request("GET", "/v1/version", headers={"Connection": "close"})
            response = connection.getresponse()
            response.read()
            outcome = "ok" if response.status == 200 else f"status {response.status}"
        except ConnectionRefusedError:
            # The server no longer listens: a clean refusal, which a client retries elsewhere.
            outcome = "refused"
            time.sleep(0.01)
        except (ConnectionResetError, http.client.RemoteDisconnected, BrokenPipeError) as error:
            outcome = f"reset: {type(error).__name__}"
        finally:
            connection.close()
        with lock:
            outcomes[outcome] += 1


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_stopped_multi_worker_serve_stops_its_workers(
    database_server: str, tmp_path: Path, sig: signal.Signals
) -> None:
    with scratch_database(database_server, "stop") as url:
        port = free_port()
        server = start(
            {**os.environ, "DB_URL": url}, port, tmp_path / "serve.log", "--workers", "2"
        )
        children = psutil.Process(server.pid).children(recursive=True)
        server.send_signal(sig)
        assert server.wait(timeout=30) == 0
        # multiprocessing's resource tracker leaves once it sees its parent gone.
        deadline = time.monotonic() + 5
        while alive(children) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert [child.cmdline() for child in alive(children)] == []
        assert port_free(port)


def test_sigterm_under_load_with_two_workers_resets_no_connection(
    database_server: str, tmp_path: Path
) -> None:
    from tests.bench.bench_serve_shutdown import one_round

    outcomes = one_round(database_server, tmp_path, "2")
    assert outcomes["ok"] > 0, outcomes
    # Every request was answered, or refused once the server no longer listened.
    assert set(outcomes) <= {"ok", "refused"}, outcomes
