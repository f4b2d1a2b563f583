"""The fuzzing layer: a migrated, seeded database and an app that grants every permission, so
that generated requests reach the code behind the permission checks."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from sqlalchemy import Engine

from test_observer.app import create_app
from test_observer.db.engine import make_engine, make_session_factory
from test_observer.db.models import Permission
from test_observer.seeding.seed import SeedPlan, seed
from test_observer.settings import Settings
from tests.database import scratch_database

EVERY_PERMISSION = ",".join(permission.value for permission in Permission)
# Small, but enough that generated small ids often name real rows.
SEED_PLAN = SeedPlan(
    artefacts=10, architectures=2, environments=2, executions=30, results=5, seed=16
)


@pytest.fixture(scope="session")
def database_url(database_server: str, migrated_template: str) -> Iterator[str]:
    with scratch_database(database_server, "fuzz", template=migrated_template) as url:
        yield url


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    seed(make_session_factory(engine), SEED_PLAN, Settings(db_url=database_url))
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def app(engine: Engine, database_url: str) -> FastAPI:
    # Anonymous bodies as large as anybody's: these tests are about what the endpoints do with
    # hostile values, not about who may send them (tests/security covers that).
    settings = Settings(
        db_url=database_url,
        ignore_permissions=EVERY_PERMISSION,
        anonymous_max_request_body_size=64 * 1024 * 1024,
    )
    return create_app(settings, engine=engine)
