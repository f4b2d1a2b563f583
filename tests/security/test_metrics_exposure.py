"""The metrics server shows nothing to whoever can reach it that the API would not.

Attacks: scraping /metrics from another host (it listened on every interface), without any
credentials, reading artefact and test names of a deployment that requires authentication, and
holding the server's threads with connections that never send a request.
"""

from __future__ import annotations

import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator

import pytest
from prometheus_client import CollectorRegistry
from starlette.testclient import TestClient

from test_observer.db.models import Permission
from test_observer.observability.metrics import MetricsServer, start_metrics_server
from test_observer.settings import Settings

EVERY_PERMISSION = ",".join(permission.value for permission in Permission)
TOKEN = "s3cret-scrape-token"
ARTEFACT = "secret-product-snap"
TEST_NAME = "secret-feature/connects"


@pytest.fixture
def metrics_server(edge_database_url: str) -> Iterator[Callable[..., MetricsServer]]:
    started: list[MetricsServer] = []

    def start(**settings: object) -> MetricsServer:
        options: dict[str, object] = {
            "db_url": edge_database_url,
            "metrics_cache_seconds": 0,
            "metrics_port": 0,
            **settings,
        }
        timeout_s = float(options.pop("timeout_s", 10.0))  # type: ignore[arg-type]
        server = start_metrics_server(
            Settings(**options),  # type: ignore[arg-type]
            registry=CollectorRegistry(),
            refresh_wait_seconds=60,
            timeout_s=timeout_s,
        )
        assert server is not None
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def _scrape(server: MetricsServer, token: str | None = None) -> tuple[int, str]:
    request = urllib.request.Request(f"http://127.0.0.1:{server.port}/metrics")
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def _report_a_result(edge_client: Callable[..., TestClient]) -> None:
    client = edge_client(ignore_permissions=EVERY_PERMISSION)
    started = client.put(
        "/v1/test-executions/start-test",
        json={
            "family": "snap",
            "name": ARTEFACT,
            "version": "1",
            "revision": 1,
            "track": "22",
            "store": "ubuntu",
            "arch": "amd64",
            "execution_stage": "beta",
            "environment": "rpi4b",
            "test_plan": "smoke",
        },
    )
    assert started.status_code == 200, started.text
    execution_id = started.json()["id"]
    posted = client.post(
        f"/v1/test-executions/{execution_id}/test-results",
        json=[{"name": TEST_NAME, "status": "FAILED"}],
    )
    assert posted.status_code == 200, posted.text


def test_the_metrics_listen_on_loopback_unless_told_otherwise(
    metrics_server: Callable[..., MetricsServer], edge_db: object
) -> None:
    assert Settings().metrics_host == "127.0.0.1"
    server = metrics_server()
    assert server.server.server_address[0] == "127.0.0.1"


def test_a_scrape_without_the_token_is_refused(
    metrics_server: Callable[..., MetricsServer], edge_db: object
) -> None:
    server = metrics_server(metrics_token=TOKEN)
    assert _scrape(server)[0] == 401
    assert _scrape(server, "wrong")[0] == 401
    assert _scrape(server, TOKEN[:-1])[0] == 401
    status, body = _scrape(server, TOKEN)
    assert status == 200
    assert "test_observer_database_up" in body


def test_names_are_not_labels_when_authentication_is_required_and_scrapes_are_open(
    metrics_server: Callable[..., MetricsServer],
    edge_client: Callable[..., TestClient],
    edge_db: object,
) -> None:
    _report_a_result(edge_client)

    open_deployment = _scrape(metrics_server())[1]
    assert ARTEFACT in open_deployment
    assert TEST_NAME in open_deployment

    closed = _scrape(metrics_server(require_authentication=True))[1]
    assert "test_observer_database_up" in closed
    assert ARTEFACT not in closed
    assert TEST_NAME not in closed
    # The background jobs' series are labelled with job names only: still there.
    assert "test_observer_job_queue_depth" in closed

    with_token = _scrape(metrics_server(require_authentication=True, metrics_token=TOKEN), TOKEN)
    assert ARTEFACT in with_token[1]


def test_a_silent_connection_is_dropped(
    metrics_server: Callable[..., MetricsServer], edge_db: object
) -> None:
    server = metrics_server(timeout_s=0.5)
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as idle:
        idle.sendall(b"GET /metrics HTTP/1.1\r\n")  # and never the rest
        started = time.monotonic()
        # The server closes its end: the read ends (empty, or reset) long before our own limit.
        try:
            leftover = idle.recv(1024)
        except ConnectionResetError:
            leftover = b""
        waited = time.monotonic() - started
    assert waited < 5
    assert b"200 OK" not in leftover
    # It still serves others.
    assert _scrape(server)[0] == 200
