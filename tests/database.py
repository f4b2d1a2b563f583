"""Real PostgreSQL databases for the tests.

TEST_DATABASE_URL names a server the tests may create databases on; without it, an embedded
PostgreSQL is started for the test run. Every run works in databases of its own, named uniquely,
so several runs can share one server.
"""

from __future__ import annotations

import atexit
import os
import secrets
import threading
import warnings
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Table, create_engine, text
from sqlalchemy.engine import make_url

from test_observer.settings import normalise_database_url


def server_url(tmp_dir: Path) -> tuple[str, Any]:
    """(URL of a maintenance database on the test server, embedded server handle or None)."""
    configured = os.environ.get("TEST_DATABASE_URL")
    if configured:
        return normalise_database_url(configured), None
    from test_observer.db import embedded

    server = embedded.start(tmp_dir / "postgres")
    return embedded.url_of(server), server


@contextmanager
def scratch_database(
    admin_url: str, label: str = "test", template: str | None = None
) -> Iterator[str]:
    """Create a uniquely named database, empty or a copy of `template`; drop it at the end of
    the run (see `drop_later`)."""
    name = f"to_{label}_{os.getpid()}_{secrets.token_hex(4)}"
    create_database(admin_url, name, template)
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        drop_later(admin_url, name)


def create_database(admin_url: str, name: str, template: str | None = None) -> None:
    # A copy of a template is a file copy on the server: a fraction of a second, where
    # running the migrations takes seconds.
    copied = f' TEMPLATE "{template}"' if template else ""
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"{copied}'))
    finally:
        admin.dispose()


def drop_database(admin_url: str, name: str, owner: str | None = None) -> None:
    """Drop the database `name` and then, if given, the role that owned it."""
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            if owner is not None:
                connection.execute(text(f'DROP ROLE IF EXISTS "{owner}"'))
    finally:
        admin.dispose()


def ensure_migrated_template(admin_url: str, name: str) -> None:
    """Make sure the database `name` exists at the migrations' head, to be copied.

    Several processes of one run (pytest-xdist workers) may ask at once: the first builds it
    under another name and renames it when complete, the others wait on an advisory lock and
    find it done.
    """
    from test_observer.db import migrate

    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            lock = {"key": _TEMPLATE_LOCK_KEY}
            connection.execute(text("SELECT pg_advisory_lock(:key)"), lock)
            try:
                exists = connection.scalar(
                    text("SELECT EXISTS (SELECT FROM pg_database WHERE datname = :name)"),
                    {"name": name},
                )
                if not exists:
                    building = f"{name}_{os.getpid()}"
                    connection.execute(text(f'DROP DATABASE IF EXISTS "{building}"'))
                    connection.execute(text(f'CREATE DATABASE "{building}"'))
                    migrate.upgrade(
                        make_url(admin_url)
                        .set(database=building)
                        .render_as_string(hide_password=False)
                    )
                    connection.execute(text(f'ALTER DATABASE "{building}" RENAME TO "{name}"'))
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), lock)
    finally:
        admin.dispose()


# Serialises the building of templates on one server (any value no other lock user picks).
_TEMPLATE_LOCK_KEY = 0x7E57_7E3F


# Databases the tests are done with, dropped together by `drop_pending`.
_pending_drops: list[tuple[str, str, str | None]] = []
_pending_lock = threading.Lock()


def drop_later(admin_url: str, name: str, owner: str | None = None) -> None:
    """Drop the database `name` (and the role `owner`) when the run ends, with the others.

    Before PostgreSQL 17, every DROP DATABASE waits for a forced checkpoint of the whole server,
    seconds on a busy one. Drops issued at the same time share one checkpoint, drops issued one
    by one after each test pay one each.
    """
    with _pending_lock:
        if not _pending_drops:
            atexit.register(drop_pending)
        _pending_drops.append((admin_url, name, owner))


def drop_pending() -> None:
    with _pending_lock:
        pending = list(_pending_drops)
        _pending_drops.clear()
    if not pending:
        return
    with ThreadPoolExecutor(max_workers=len(pending)) as pool:
        outcomes = list(pool.map(lambda target: _drop_quietly(*target), pending))
    for problem in filter(None, outcomes):
        warnings.warn(problem, stacklevel=1)


def _drop_quietly(admin_url: str, name: str, owner: str | None) -> str | None:
    try:
        drop_database(admin_url, name, owner)
    except Exception as error:  # a leftover database is not a test failure
        return f"could not drop the test database {name}: {error}"
    return None


# Sequences owned by the given tables' columns (serial or identity), with their start values.
_OWNED_SEQUENCES = text(
    """
    SELECT format('%I.%I', owned.schemaname, owned.sequencename), owned.start_value
    FROM pg_sequences AS owned
    JOIN pg_class AS sequence
        ON sequence.relname = owned.sequencename
        AND sequence.relnamespace = owned.schemaname::regnamespace
    JOIN pg_depend AS dependency
        ON dependency.classid = 'pg_class'::regclass
        AND dependency.objid = sequence.oid
        AND dependency.deptype IN ('a', 'i')
    JOIN pg_class AS owner ON owner.oid = dependency.refobjid
    WHERE owner.relname = ANY(:tables) AND owner.relnamespace = 'public'::regnamespace
    """
)


def empty_tables(engine: Engine, tables: Sequence[Table]) -> None:
    """Leave `tables` (in dependency order, parents first) as `TRUNCATE … RESTART IDENTITY
    CASCADE` would: no rows, every owned sequence at its start.

    TRUNCATE gives every table and index a new file, which costs about a second per call on a
    busy server whatever the tables hold; after a test only a few tables hold a few rows. So one
    statement finds the tables that hold rows and the sequences that moved, and only those are
    deleted from (children first) and restarted.
    """
    names = [table.name for table in tables]
    with engine.begin() as connection:
        # Triggers stay quiet: they keep counts and refuse rewriting the audit trail, and every
        # row of every table goes anyway (the tests' server role may set this).
        connection.execute(text("SET LOCAL session_replication_role = replica"))
        sequences = connection.execute(_OWNED_SEQUENCES, {"tables": names}).all()
        probes = [
            f"SELECT 'table', '{name}' WHERE EXISTS (SELECT FROM \"{name}\")" for name in names
        ] + [
            f"SELECT 'sequence', '{name}' FROM {name} WHERE is_called OR last_value <> {start}"
            for name, start in sequences
        ]
        used = {tuple(row) for row in connection.execute(text(" UNION ALL ".join(probes)))}
        for name in reversed(names):
            if ("table", name) in used:
                connection.execute(text(f'DELETE FROM "{name}"'))
        for name, _ in sequences:
            if ("sequence", name) in used:
                connection.execute(text(f"ALTER SEQUENCE {name} RESTART"))
