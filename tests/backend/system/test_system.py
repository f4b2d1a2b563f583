"""Root, version, health, CORS and the error conventions every endpoint shares."""

from __future__ import annotations

import gc
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

import pytest
from sqlalchemy.engine import make_url
from starlette.testclient import TestClient

from test_observer.app import create_app
from test_observer.settings import Settings
from test_observer.version import installed_version
from tests.backend.conftest import LOCAL_CLIENT

FRONTEND = "http://localhost:30001"


def preflight(client: TestClient, origin: str, path: str = "/v1/artefacts") -> dict[str, str]:
    response = client.options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "PATCH",
            "Access-Control-Request-Headers": "x-csrf-token, content-type",
        },
    )
    return {"status": str(response.status_code), **response.headers}


def test_root_answers_with_the_service_name(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.json() == "test observer api"


def test_version_is_the_installed_package_version(client: TestClient) -> None:
    response = client.get("/v1/version")
    assert response.status_code == 200
    assert response.json() == {"version": installed_version()}


def test_version_override_wins(make_client: Callable[..., TestClient]) -> None:
    client = make_client(version_override="2.5.0-beta")
    assert client.get("/v1/version").json() == {"version": "2.5.0-beta"}


def test_require_authentication_guards_root_version_and_docs(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(require_authentication=True)
    for path in ("/", "/v1/version", "/openapi.json", "/docs"):
        response = client.get(path)
        assert response.status_code == 401, path
        assert response.json() == {"detail": "Not authenticated"}


def test_health_endpoints(client: TestClient) -> None:
    assert client.get("/health/live").json() == {"status": "live"}
    ready = client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready"}


def test_health_endpoints_refuse_remote_clients(client: TestClient) -> None:
    remote = TestClient(client.app, client=("203.0.113.9", 40000))
    for path in ("/health/live", "/health/ready"):
        response = remote.get(path)
        assert response.status_code == 403
        assert response.json() == {"detail": "Forbidden"}


def test_serving_probe_answers_remote_clients_with_a_status_only(
    make_client: Callable[..., TestClient],
) -> None:
    local = make_client(require_authentication=True)
    remote = TestClient(local.app, client=("10.1.2.3", 40000))

    response = remote.get("/health/serving")

    assert response.status_code == 200
    assert response.json() == {"status": "serving"}


def test_serving_probe_fails_when_the_schema_is_not_this_codes(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from test_observer.system import service

    # Code whose head differs from the database's revision, as after a newer code migrated.
    service._code_heads.cache_clear()
    monkeypatch.setattr("test_observer.db.migrate.heads", lambda: ["9999"])
    try:
        response = TestClient(client.app, client=("10.1.2.3", 40000)).get("/health/serving")
    finally:
        service._code_heads.cache_clear()

    assert response.status_code == 503
    assert response.json() == {"detail": "Not serving"}


@contextmanager
def database_relay(database_url: str) -> Iterator[tuple[str, Callable[[bool], None]]]:
    """A local TCP relay in front of the test database that can be switched off and on.

    Yields the database URL through the relay and the switch. Switching off closes every
    relayed connection and refuses new ones, as a database going away would.
    """
    url = make_url(database_url)
    socket_dir = url.query.get("host")
    if isinstance(socket_dir, str) and socket_dir.startswith("/"):  # embedded: Unix socket

        def connect() -> socket.socket:
            unix = socket.socket(socket.AF_UNIX)
            unix.connect(f"{socket_dir}/.s.PGSQL.{url.port or 5432}")
            return unix
    else:

        def connect() -> socket.socket:
            return socket.create_connection((url.host or "127.0.0.1", url.port or 5432))

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    up = threading.Event()
    up.set()
    lock = threading.Lock()
    open_sockets: list[socket.socket] = []

    def pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            source.close()
            sink.close()

    def accept_loop() -> None:
        while True:
            try:
                incoming, _ = listener.accept()
            except OSError:
                return
            if not up.is_set():
                incoming.close()
                continue
            outgoing = connect()
            with lock:
                open_sockets.extend([incoming, outgoing])
            threading.Thread(target=pipe, args=(incoming, outgoing), daemon=True).start()
            threading.Thread(target=pipe, args=(outgoing, incoming), daemon=True).start()

    def switch(on: bool) -> None:
        if on:
            up.set()
            return
        up.clear()
        with lock:
            for connection in open_sockets:
                with suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
            open_sockets.clear()

    threading.Thread(target=accept_loop, daemon=True).start()
    relayed = url.set(host="127.0.0.1", port=listener.getsockname()[1], query={})
    try:
        yield relayed.render_as_string(hide_password=False), switch
    finally:
        listener.close()


def test_ready_reports_503_while_the_database_is_away_and_recovers(database_url: str) -> None:
    with database_relay(database_url) as (relayed_url, switch):
        app = create_app(Settings(db_url=relayed_url))
        client = TestClient(app, client=LOCAL_CLIENT)
        assert client.get("/health/ready").status_code == 200

        switch(False)
        away = client.get("/health/ready")
        assert away.status_code == 503
        assert away.json() == {"detail": "Database connection failed"}
        assert client.get("/health/live").status_code == 200

        switch(True)
        back = client.get("/health/ready")
        assert back.status_code == 200
        assert back.json() == {"status": "ready"}
        app.state.engine.dispose()


def test_unknown_paths_and_trailing_slashes_are_json_404s(client: TestClient) -> None:
    for path in ("/v1/nothing-here", "/v1/version/"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.json() == {"detail": "Not Found"}


def test_wrong_method_is_a_json_405(client: TestClient) -> None:
    response = client.delete("/v1/version")
    assert response.status_code == 405
    assert "detail" in response.json()


def test_preflight_from_the_frontend_is_granted_with_credentials(client: TestClient) -> None:
    headers = preflight(client, FRONTEND)
    assert headers["status"] == "200"
    assert headers["access-control-allow-origin"] == FRONTEND
    assert headers["access-control-allow-credentials"] == "true"
    assert "x-csrf-token" in headers["access-control-allow-headers"].lower()
    assert "PATCH" in headers["access-control-allow-methods"]


def test_preflight_is_answered_on_any_path(client: TestClient) -> None:
    for path in ("/", "/v1/test-executions/12/test-results", "/does/not/exist"):
        assert preflight(client, FRONTEND, path)["access-control-allow-origin"] == FRONTEND


def test_preflight_from_an_unlisted_origin_gets_no_grant(client: TestClient) -> None:
    headers = preflight(client, "https://evil.example")
    assert headers["status"] == "400"
    assert "access-control-allow-origin" not in headers


def test_additional_origins_are_granted(make_client: Callable[..., TestClient]) -> None:
    client = make_client(additional_cors_origins=["https://review.example:8443"])
    headers = preflight(client, "https://review.example:8443")
    assert headers["access-control-allow-origin"] == "https://review.example:8443"
    assert preflight(client, FRONTEND)["access-control-allow-origin"] == FRONTEND


def test_simple_request_from_the_frontend_carries_cors_headers(client: TestClient) -> None:
    response = client.get("/v1/version", headers={"Origin": FRONTEND})
    assert response.headers["access-control-allow-origin"] == FRONTEND
    assert response.headers["access-control-allow-credentials"] == "true"


def test_the_start_up_heap_is_kept_out_of_full_collections_while_serving(
    client: TestClient,
) -> None:
    assert gc.get_freeze_count() == 0
    with client:
        assert client.get("/").status_code == 200
        assert gc.get_freeze_count() > 10_000
    # Stopped, the app can be freed again.
    assert gc.get_freeze_count() == 0
