"""The worker's database URL and log lines, as the charm renders them for it."""

from __future__ import annotations

import json
from urllib.parse import quote, urlsplit

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict
from sqlalchemy import text
from typer.testing import CliRunner

from test_observer.cli.main import app as cli_app
from test_observer.db.engine import make_engine
from test_observer.jobs.queue import libpq_url
from test_observer.settings import normalise_database_url


def test_several_hosts_become_libpq_host_and_port_lists() -> None:
    url = (
        "postgresql+psycopg://relation_7:p%40ss@/test_observer"
        "?host=pg-0.pg-endpoints:5432&host=pg-1.pg-endpoints:5433&host=[fd00::1]:5434"
        "&sslmode=verify-full&sslrootcert=/etc/test-observer/database-ca.pem"
    )

    options = conninfo_to_dict(libpq_url(url))

    assert options["host"] == "pg-0.pg-endpoints,pg-1.pg-endpoints,fd00::1"
    assert options["port"] == "5432,5433,5434"
    assert options["user"] == "relation_7"
    assert options["password"] == "p@ss"
    assert options["dbname"] == "test_observer"
    assert options["sslmode"] == "verify-full"
    assert options["sslrootcert"] == "/etc/test-observer/database-ca.pem"


def test_one_host_is_left_as_it_is() -> None:
    assert libpq_url("postgresql+psycopg://u:p@db:5432/x") == "postgresql://u:p@db:5432/x"


def _multi_host_url(server_url: str) -> str:
    """The server's URL with a first host that refuses connections, in SQLAlchemy's spelling."""
    parts = urlsplit(server_url)
    user = quote(parts.username or "postgres", safe="")
    password = f":{quote(parts.password, safe='')}" if parts.password else ""
    host = parts.hostname or "127.0.0.1"
    if host.startswith("/") or not parts.hostname:
        pytest.skip("the test database is reached over a Unix socket, not TCP")
    # Port 9 (discard) on loopback refuses at once: libpq goes on to the next host.
    return (
        f"postgresql+psycopg://{user}{password}@/{parts.path.lstrip('/') or 'postgres'}"
        f"?host=127.0.0.1:9&host={host}:{parts.port or 5432}"
    )


def test_the_worker_and_the_api_both_reach_the_second_host(database_server: str) -> None:
    url = normalise_database_url(_multi_host_url(database_server))

    # The worker's queue connects with libpq's own string...
    with psycopg.connect(libpq_url(url), connect_timeout=5) as connection:
        assert connection.execute("SELECT 1").fetchone() == (1,)
    # ...and its jobs, like the API, through SQLAlchemy.
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            assert connection.execute(text("SELECT 1")).scalar() == 1
    finally:
        engine.dispose()


def test_the_plain_rendering_would_have_kept_only_a_broken_host(database_server: str) -> None:
    """What libpq does with SQLAlchemy's spelling, to show the conversion is needed."""
    url = normalise_database_url(_multi_host_url(database_server))
    naive = url.replace("postgresql+psycopg://", "postgresql://")

    # libpq keeps the last of a repeated parameter, and takes "HOST:PORT" for a host name.
    host = conninfo_to_dict(naive)["host"]
    assert "," not in host
    assert host.endswith(f":{urlsplit(database_server).port or 5432}")


def test_job_log_lines_are_json_when_log_format_is_json(database_url: str) -> None:
    result = CliRunner().invoke(
        cli_app,
        ["jobs", "run", "clean-sessions"],
        env={"DB_URL": database_url, "LOG_FORMAT": "json", "LOG_LEVEL": "info"},
    )

    assert result.exit_code == 0, result.stderr
    records = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    outcomes = [r for r in records if r.get("logger") == "test_observer.jobs"]
    assert outcomes, result.stderr
    assert outcomes[-1]["level"].lower() == "info"


def test_the_worker_pools_follow_their_settings(database_url: str) -> None:
    import asyncio

    from test_observer.jobs.environment import JobEnvironment
    from test_observer.jobs.queue import build_app
    from test_observer.settings import Settings

    settings = Settings(
        db_url=database_url,
        worker_db_pool_size=1,
        worker_db_max_overflow=2,
        worker_queue_pool_size=3,
        disable_periodic_tasks=True,
    )
    env = JobEnvironment.from_settings(settings)
    try:
        pool = env.engine.pool
        assert (pool.size(), pool._max_overflow) == (1, 2)  # type: ignore[attr-defined]
        app = build_app(env)

        async def queue_pool_bounds() -> tuple[int, int]:
            async with app.open_async():
                queue_pool = app.connector.pool  # type: ignore[attr-defined]
                return queue_pool.min_size, queue_pool.max_size

        assert asyncio.run(queue_pool_bounds()) == (1, 3)
    finally:
        env.close()
