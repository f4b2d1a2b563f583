"""A private PostgreSQL server for development, so that no database needs installing.

It relies on the `pgserver` package, which is a development dependency: production always sets
DB_URL.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


class EmbeddedDatabaseUnavailableError(RuntimeError):
    pass


def default_data_dir() -> Path:
    """Per-user data directory, following the XDG base directory convention."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "test-observer" / "postgres"


def start(data_dir: Path, *, keep_running: bool = False) -> Any:
    """Start (or attach to) the server for `data_dir` and return its pgserver handle.

    The server stops when the last process using it exits, unless `keep_running` is set.
    """
    try:
        import pgserver
    except ImportError:
        raise EmbeddedDatabaseUnavailableError(
            "DB_URL is not set and the embedded PostgreSQL (package pgserver, dependency group "
            "'embedded-db') is not installed; set DB_URL or run `uv sync`"
        ) from None
    data_dir.mkdir(parents=True, exist_ok=True)
    return pgserver.get_server(data_dir, cleanup_mode=None if keep_running else "stop")


def url_of(server: Any, database: str = "postgres") -> str:
    """A psycopg 3 URL for a database of the embedded server (reached over its Unix socket)."""
    uri: str = server.get_uri(database)
    return uri.replace("postgresql://", "postgresql+psycopg://", 1)
