"""Fixtures shared by every test layer that needs PostgreSQL."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.database import scratch_database, server_url


@pytest.fixture(scope="session")
def database_server() -> Iterator[str]:
    """URL of a maintenance database on the server the tests use."""
    # Not under pytest's temporary root: concurrent pytest runs prune each other's old
    # directories there, which would delete a running embedded server's files.
    data_dir = Path(tempfile.mkdtemp(prefix="test-observer-db-"))
    data_dir.chmod(0o755)
    url, embedded_server = server_url(data_dir)
    yield url
    del embedded_server  # the embedded server stops with its last handle
    shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture
def empty_database(database_server: str) -> Iterator[str]:
    """A new database with no schema at all, dropped after the test."""
    with scratch_database(database_server, "empty") as url:
        yield url


def pytest_report_header(config: Any) -> str:
    import os

    where = os.environ.get("TEST_DATABASE_URL") or "an embedded PostgreSQL"
    return f"database server: {where}"
