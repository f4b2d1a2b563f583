"""Fixtures shared by every test layer that needs PostgreSQL."""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from test_observer.settings import normalise_database_url
from tests.database import (
    drop_database,
    drop_later,
    drop_pending,
    ensure_migrated_template,
    scratch_database,
    server_url,
)

# The name of this run's migrated template database. The process that picks it drops it: the
# pytest-xdist controller hands its name to every worker (they share the server named by
# TEST_DATABASE_URL, so the first to need it builds it once for all), a run without xdist
# picks its own.
TEMPLATE = pytest.StashKey[str]()


def pytest_configure(config: pytest.Config) -> None:
    inherited = getattr(config, "workerinput", {}).get("database_template")
    config.stash[TEMPLATE] = inherited or f"to_template_{os.getpid()}_{secrets.token_hex(4)}"


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto`: a worker per CPU and one more. Much of a run is tests waiting for the
    processes they started (servers, job workers, an embedded PostgreSQL, a browser) or sitting
    out a timer; the extra worker runs other tests meanwhile. More workers than that made the
    default run, which is CPU-bound once every layer shares the pool, slower: each worker
    collects every test and builds its own apps and databases. At most eight: each worker holds
    up to about seven connections to the test server, whose default limit is a hundred."""
    return min(8, len(os.sched_getaffinity(0)) + 1)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    node.workerinput["database_template"] = node.config.stash[TEMPLATE]


def pytest_sessionfinish() -> None:
    # Also in an xdist worker, which may end without running its interpreter's exit handlers.
    drop_pending()


def pytest_unconfigure(config: pytest.Config) -> None:
    # Only a controller whose workers shared a server built the template somewhere it outlives
    # them; with an embedded server per worker it went with the server.
    controller = config.pluginmanager.has_plugin("dsession")
    configured = os.environ.get("TEST_DATABASE_URL")
    if controller and configured and not hasattr(config, "workerinput"):
        try:
            drop_database(normalise_database_url(configured), config.stash[TEMPLATE])
        except Exception as error:  # the run's outcome is decided already: only say so
            print(f"could not drop the template database: {error}")


@pytest.fixture(scope="session")
def database_server() -> Iterator[str]:
    """URL of a maintenance database on the server the tests use."""
    # Not under pytest's temporary root: concurrent pytest runs prune each other's old
    # directories there, which would delete a running embedded server's files.
    data_dir = Path(tempfile.mkdtemp(prefix="test-observer-db-"))
    data_dir.chmod(0o755)
    url, embedded_server = server_url(data_dir)
    yield url
    drop_pending()
    del embedded_server  # the embedded server stops with its last handle
    shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def migrated_template(request: pytest.FixtureRequest, database_server: str) -> Iterator[str]:
    """Name of a database at the migrations' head, built once per run, to copy from
    (`scratch_database(database_server, label, template=migrated_template)`)."""
    name = request.config.stash[TEMPLATE]
    ensure_migrated_template(database_server, name)
    yield name
    if not hasattr(request.config, "workerinput"):
        drop_later(database_server, name)


@pytest.fixture
def migrated_database(database_server: str, migrated_template: str) -> Iterator[str]:
    """A new database at the migrations' head (a copy of the template), for one test."""
    with scratch_database(database_server, "migrated", template=migrated_template) as url:
        yield url


@pytest.fixture
def empty_database(database_server: str) -> Iterator[str]:
    """A new database with no schema at all, for one test."""
    with scratch_database(database_server, "empty") as url:
        yield url


def pytest_report_header(config: Any) -> str:
    where = os.environ.get("TEST_DATABASE_URL") or "an embedded PostgreSQL"
    return f"database server: {where}"
