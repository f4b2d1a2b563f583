"""Run what the charm renders, for real: its Pebble service and its action commands.

The charm is driven with ops.testing exactly as in tests/charm; the commands and environments
it hands to Pebble are then executed as local processes against a real PostgreSQL. Only the
database name in DB_URL is swapped for a per-run database, so that parallel runs never meet.
"""

from __future__ import annotations

import os
import secrets
import shlex
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql

from test_observer.settings import normalise_database_url
from tests.database import drop_later

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"


@dataclass(frozen=True)
class ScratchDatabase:
    """A database and a role created for one test (dropped at the end of the run)."""

    name: str
    user: str
    password: str
    host: str
    port: int

    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.port}"


def server_url() -> str:
    return os.environ.get("TEST_DATABASE_URL") or DEFAULT_SERVER


def _admin_conninfo() -> str:
    # TEST_DATABASE_URL may carry a SQLAlchemy driver suffix; libpq wants the plain scheme.
    url = urlsplit(server_url())
    return urlunsplit(("postgresql", *url[1:]))


def create_scratch_database() -> Iterator[ScratchDatabase]:
    token = f"{os.getpid()}_{secrets.token_hex(4)}"
    # A password with every character that must be URL-encoded in DB_URL.
    scratch = ScratchDatabase(
        name=f"charm_contract_{token}",
        user=f"charm_contract_{token}",
        password=f"p@ss/w:rd%?#{token}",
        host=urlsplit(server_url()).hostname or "127.0.0.1",
        port=urlsplit(server_url()).port or 5432,
    )
    try:
        admin = psycopg.connect(_admin_conninfo(), autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as error:
        # The charm renders TCP endpoints, so the embedded (Unix socket) server cannot stand in.
        pytest.skip(f"no PostgreSQL server reachable over TCP at {server_url()}: {error}")
    with admin as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(scratch.user), sql.Literal(scratch.password)
            )
        )
        conn.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(scratch.name), sql.Identifier(scratch.user)
            )
        )
    try:
        yield scratch
    finally:
        drop_later(normalise_database_url(server_url()), scratch.name, owner=scratch.user)


def retarget(env: Mapping[str, str], database: ScratchDatabase) -> dict[str, str]:
    """The rendered environment with DB_URL pointing at the scratch database."""
    url = urlsplit(env["DB_URL"])
    assert url.path == "/test_observer", url.path
    out = dict(env)
    out["DB_URL"] = urlunsplit(url._replace(path=f"/{quote(database.name)}"))
    return out


def psycopg_conninfo(db_url: str) -> str:
    """libpq accepts the rendered URL once any SQLAlchemy driver suffix is dropped."""
    url = urlsplit(db_url)
    return urlunsplit(("postgresql", *url[1:]))


def process_environment(rendered: Mapping[str, str]) -> dict[str, str]:
    """Only the rendered variables, plus what any process needs to find its programs."""
    base = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "TMPDIR") if k in os.environ}
    return {**base, **rendered}


def cli_path() -> str:
    path = shutil.which("test-observer")
    assert path, "the test-observer command is installed with the workspace (uv sync)"
    return path


def run(command: Sequence[str], env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(command), env=process_environment(env), capture_output=True, text=True, timeout=300
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


class RunningService:
    """The rendered Pebble service command, started like Pebble would start it."""

    def __init__(self, command: str, env: Mapping[str, str]) -> None:
        self.process = subprocess.Popen(
            shlex.split(command),
            env=process_environment(env),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def wait_until_answering(self, url: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                output = self.process.stdout.read() if self.process.stdout else ""
                raise AssertionError(
                    f"the service exited with {self.process.returncode}:\n{output}"
                )
            try:
                with urllib.request.urlopen(url, timeout=2):
                    return
            except OSError:
                time.sleep(0.2)
        raise AssertionError(f"{url} did not answer within {timeout}s")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
