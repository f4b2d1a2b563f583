"""API tests run against one migrated database, emptied after every test."""

from __future__ import annotations

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


@pytest.fixture
def make_client(engine: Engine, database_url: str) -> Callable[..., TestClient]:
    """Build a client for an app with some settings changed (e.g. require_authentication)."""

    def build(**settings: object) -> TestClient:
        app: FastAPI = create_app(Settings(db_url=database_url, **settings), engine=engine)  # type: ignore[arg-type]
        return TestClient(app, client=LOCAL_CLIENT)

    return build


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()


@pytest.fixture
def api(make_client: Callable[..., TestClient]) -> TestClient:
    """A client for an app whose session secret the tests know (see tests/backend/principals)."""
    from tests.backend.principals import SESSIONS_SECRET

    return make_client(sessions_secret=SESSIONS_SECRET)
