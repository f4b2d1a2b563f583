"""Real PostgreSQL databases for the tests.

TEST_DATABASE_URL names a server the tests may create databases on; without it, an embedded
PostgreSQL is started for the test run. Every run works in databases of its own, named uniquely,
so several runs can share one server.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
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
