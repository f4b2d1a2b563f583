"""Error reporting: GET /sentry-debug fails on purpose; with SENTRY_DSN set the error reaches
Sentry (a local fake of its ingestion endpoint), without it nothing is set up."""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import sentry_sdk
from fastapi import FastAPI
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from test_observer.app import create_app
from test_observer.db.models import Permission
from test_observer.settings import Settings
from tests.backend.conftest import LOCAL_CLIENT
from tests.backend.principals import SESSIONS_SECRET, user_headers


class FakeSentry(BaseHTTPRequestHandler):
    received: list[tuple[str, bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        if self.headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        FakeSentry.received.append((self.path, body))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def sentry(_apps: dict[str, FastAPI]) -> Iterator[str]:
    # Starting Sentry patches FastAPI's request handling for the whole process; an app that
    # answered before then would answer later requests with plain, not edge, requests. So
    # later tests build their apps again (see `make_client`).
    _apps.clear()
    FakeSentry.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeSentry)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://public@127.0.0.1:{server.server_address[1]}/1"
    sentry_sdk.get_client().close()
    sentry_sdk.get_global_scope().set_client(None)
    server.shutdown()


def _client(engine: Engine, database_url: str, **settings: object) -> TestClient:
    app = create_app(
        Settings(db_url=database_url, sessions_secret=SESSIONS_SECRET, **settings),  # type: ignore[arg-type]
        engine=engine,
    )
    return TestClient(app, client=LOCAL_CLIENT, raise_server_exceptions=False)


def test_sentry_debug_reports_the_error(
    engine: Engine, database_url: str, db_session: Session, sentry: str
) -> None:
    client = _client(engine, database_url, sentry_dsn=sentry)
    headers = user_headers(db_session, permissions=[Permission.view_sentry_debug])

    response = client.get("/sentry-debug", headers=headers)
    assert (response.status_code, response.json()) == (500, {"detail": "Internal server error"})
    sentry_sdk.flush(timeout=10)
    envelopes = [body for path, body in FakeSentry.received if path == "/api/1/envelope/"]
    assert any(b"DeliberateError" in body for body in envelopes)


def test_sentry_debug_needs_its_permission(
    engine: Engine, database_url: str, db_session: Session
) -> None:
    client = _client(engine, database_url)
    assert client.get("/sentry-debug").status_code == 403
    other = user_headers(db_session, permissions=[Permission.view_user])
    assert client.get("/sentry-debug", headers=other).status_code == 403


def test_nothing_is_set_up_without_a_dsn(
    engine: Engine, database_url: str, db_session: Session
) -> None:
    client = _client(engine, database_url)
    headers = user_headers(db_session, permissions=[Permission.view_sentry_debug])
    assert client.get("/sentry-debug", headers=headers).status_code == 500
    assert not sentry_sdk.get_client().is_active()
