"""Jobs run against the test database with every external service faked at its HTTP edge."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import Engine

from test_observer.db.engine import make_session_factory
from test_observer.jobs.environment import JobEnvironment
from test_observer.settings import Settings
from tests.backend.jobs.fake_http import FakeService, fake_service

# Nothing listens here: a job that forgot a setting fails at once instead of reaching out.
NOWHERE = "http://127.0.0.1:9"


@pytest.fixture
def fake() -> Iterator[FakeService]:
    with fake_service() as service:
        yield service


def job_settings(database_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "db_url": database_url,
        "snapcraft_api_url": NOWHERE,
        "ubuntu_archive_url": NOWHERE,
        "ubuntu_ports_url": NOWHERE,
        "github_api_url": NOWHERE,
        "jira_api_url": NOWHERE,
        "launchpad_api_url": NOWHERE,
        "kernel_swm_status_url": NOWHERE,
        "http_timeout_s": 2,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def make_env(engine: Engine, database_url: str) -> Callable[..., JobEnvironment]:
    def build(**overrides: object) -> JobEnvironment:
        return JobEnvironment(
            settings=job_settings(database_url, **overrides),
            engine=engine,
            sessions=make_session_factory(engine),
        )

    return build
