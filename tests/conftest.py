"""Fixtures shared by every test layer that needs PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.database import scratch_database, server_url


@pytest.fixture(scope="session")
def database_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a maintenance database on the server the tests use."""
    url, embedded_server = server_url(tmp_path_factory.mktemp("embedded-db"))
    yield url
    del embedded_server  # the embedded server stops with its last handle


@pytest.fixture
def empty_database(database_server: str) -> Iterator[str]:
    """A new database with no schema at all, dropped after the test."""
    with scratch_database(database_server, "empty") as url:
        yield url


def pytest_report_header(config: Any) -> str:
    import os

    where = os.environ.get("TEST_DATABASE_URL") or "an embedded PostgreSQL"
    return f"database server: {where}"
