"""Tracing: spans go to the configured OTLP endpoint; without one, OpenTelemetry stays unloaded."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from starlette.testclient import TestClient

from test_observer.app import create_app
from test_observer.db.engine import make_engine
from test_observer.settings import Settings
from tests.backend.conftest import LOCAL_CLIENT


class Collector(HTTPServer):
    """An OTLP/HTTP collector that records what it receives."""

    def __init__(self) -> None:
        self.received: list[tuple[str, str, bytes]] = []
        self.got_spans = threading.Event()
        super().__init__(("127.0.0.1", 0), _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: Collector

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.received.append((self.path, self.headers["Content-Type"], body))
        self.server.got_spans.set()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[Collector]:
    server = Collector()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_requests_and_queries_are_traced_to_the_endpoint(
    collector: Collector, database_url: str
) -> None:
    engine = make_engine(database_url)
    settings = Settings(
        db_url=database_url,
        otel_exporter_otlp_endpoint=f"http://127.0.0.1:{collector.server_port}",
        otel_service_name="test-observer-under-test",
    )
    app = create_app(settings, engine=engine)
    try:
        response = TestClient(app, client=LOCAL_CLIENT).get("/health/ready")
        assert response.status_code == 200
        TestClient(app, client=LOCAL_CLIENT).get("/")
        app.state.tracer_provider.force_flush()
    finally:
        app.state.tracer_provider.shutdown()
        engine.dispose()

    assert collector.got_spans.wait(10)
    assert {(path, kind) for path, kind, _ in collector.received} == {
        ("/v1/traces", "application/x-protobuf")
    }
    body = b"".join(body for _, _, body in collector.received)
    assert b"test-observer-under-test" in body
    assert b"GET /" in body  # the request's span
    assert b"SELECT" in body  # a query's span


def test_without_an_endpoint_nothing_of_opentelemetry_is_loaded(database_url: str) -> None:
    # Only the SDK, exporters and instrumentations are ours to load: a web framework dependency
    # may import the (inert) OpenTelemetry API by itself.
    script = (
        "import sys\n"
        "from test_observer.app import create_app\n"
        "from test_observer.settings import Settings\n"
        f"app = create_app(Settings(db_url={database_url!r}))\n"
        "assert not hasattr(app.state, 'tracer_provider')\n"
        "ours = ('opentelemetry.sdk', 'opentelemetry.exporter', 'opentelemetry.instrumentation')\n"
        "loaded = [m for m in sys.modules if m.startswith(ours)]\n"
        "print(loaded)\n"
        "assert not loaded, loaded\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
