"""Fixtures of the edge, metrics and injection tests: a migrated database, emptied after each
test, and apps built on it with chosen settings.

Imported by name from each test module rather than from a `conftest.py`, so that these tests
share nothing implicit with the other tests of this layer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from test_observer.app import create_app
from test_observer.db import migrate
from test_observer.db.engine import make_engine
from test_observer.db.models import Base
from test_observer.settings import Settings
from tests.backend.offline import forbid_network
from tests.backend.principals import SESSIONS_SECRET
from tests.database import scratch_database

forbid_network()

LOCAL_CLIENT = ("127.0.0.1", 50000)


@pytest.fixture(scope="session")
def edge_database_url(database_server: str) -> Iterator[str]:
    with scratch_database(database_server, "security_edge") as url:
        migrate.upgrade(url)
        yield url


@pytest.fixture(scope="session")
def edge_engine(edge_database_url: str) -> Iterator[Engine]:
    engine = make_engine(edge_database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def edge_db(edge_engine: Engine) -> Iterator[Session]:
    """A session for arranging data; emptied tables after the test."""
    with Session(edge_engine, expire_on_commit=False) as session:
        yield session
    tables = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
    with edge_engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture
def edge_app(edge_engine: Engine, edge_database_url: str) -> Callable[..., FastAPI]:
    """Build the API with some settings changed; the session secret is the one the test
    principals sign cookies with."""

    def build(**settings: object) -> FastAPI:
        settings.setdefault("sessions_secret", SESSIONS_SECRET)
        return create_app(
            Settings(db_url=edge_database_url, **settings),  # type: ignore[arg-type]
            engine=edge_engine,
        )

    return build


@pytest.fixture
def edge_client(edge_app: Callable[..., FastAPI]) -> Callable[..., TestClient]:
    def build(**settings: object) -> TestClient:
        return TestClient(edge_app(**settings), client=LOCAL_CLIENT)

    return build
