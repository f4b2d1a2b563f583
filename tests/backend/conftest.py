"""API tests run against one migrated database, emptied after every test."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from test_observer.app import create_app
from test_observer.db.engine import make_engine
from test_observer.db.models import Base
from test_observer.settings import Settings
from tests.backend.offline import forbid_network
from tests.database import empty_tables, scratch_database

forbid_network()

# Health endpoints only answer local clients; the test client presents itself as one.
LOCAL_CLIENT = ("127.0.0.1", 50000)


@pytest.fixture(scope="session")
def database_url(database_server: str, migrated_template: str) -> Iterator[str]:
    # The schema comes from the migrations, exactly as in production (run once, then copied).
    with scratch_database(database_server, "api", template=migrated_template) as url:
        yield url


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture(autouse=True)
def _empty_tables_after_test(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "engine" not in request.fixturenames:
        return
    empty_tables(request.getfixturevalue("engine"), Base.metadata.sorted_tables)


@pytest.fixture
def _empty_queue(engine: Engine) -> Iterator[None]:
    """Empties the job queue's tables after a test that queues or runs jobs (they are
    procrastinate's, not our models', so the clean-up above leaves them)."""
    yield
    with engine.begin() as connection:
        connection.execute(
            text(
                "TRUNCATE procrastinate_events, procrastinate_periodic_defers, "
                "procrastinate_jobs, procrastinate_workers RESTART IDENTITY CASCADE"
            )
        )


@pytest.fixture
def db_session(engine: Engine) -> Iterator[Session]:
    """A session for arranging and checking data directly; commit to make it visible."""
    with Session(engine, expire_on_commit=False) as session:
        yield session


@pytest.fixture(scope="session")
def _apps() -> dict[str, FastAPI]:
    """Apps built so far in this process, by their settings (see `make_client`)."""
    return {}


@pytest.fixture
def make_client(
    engine: Engine, database_url: str, _apps: dict[str, FastAPI]
) -> Callable[..., TestClient]:
    """Build a client for an app with some settings changed (e.g. require_authentication).

    An app's first request resolves every route's dependencies, about 0.15 s of CPU for the
    whole API, which is the largest part of a short test; so an app is built once per set of
    settings and reused by later tests. Each test still gets a client of its own (no cookies
    carried over), and the app holds no state of its own besides its settings and metrics.
    """

    def build(**settings: object) -> TestClient:
        values = Settings(db_url=database_url, **settings)  # type: ignore[arg-type]
        key = _settings_key(values)
        app = _apps.get(key)
        if app is None:
            app = _apps[key] = create_app(values, engine=engine)
        return TestClient(app, client=LOCAL_CLIENT)

    return build


def _settings_key(settings: Settings) -> str:
    def plain(value: object) -> object:
        if isinstance(value, (set, frozenset)):
            return sorted(map(str, value))
        return str(value)

    return json.dumps(settings.model_dump(), sort_keys=True, default=plain)


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()


@pytest.fixture
def api(make_client: Callable[..., TestClient]) -> TestClient:
    """A client for an app whose session secret the tests know (see tests/backend/principals)."""
    from tests.backend.principals import SESSIONS_SECRET

    return make_client(sessions_secret=SESSIONS_SECRET)
