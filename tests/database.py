"""Real PostgreSQL databases for the tests.

TEST_DATABASE_URL names a server the tests may create databases on; without it, an embedded
PostgreSQL is started for the test run. Every run works in databases of its own, named uniquely,
so several runs can share one server.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator, Sequence
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
    """Create a uniquely named database, empty or a copy of `template`; drop it afterwards."""
    name = f"to_{label}_{os.getpid()}_{secrets.token_hex(4)}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    copied = f' TEMPLATE "{template}"' if template else ""
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"{copied}'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


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
