"""A private PostgreSQL server for development, so that no database needs installing.

It relies on the `pgserver` package, which is a development dependency: production always sets
DB_URL.

pgserver shares one server between the processes that use a data directory: it lists their
PIDs in `.handle_pids.json` there and stops the server when the last one exits. A process
killed with SIGKILL never takes its PID off that list, and from then on no clean exit is "the
last one", so the server would run forever. `start` therefore drops the PIDs of dead processes
first, which makes the next process that exits cleanly stop a server an earlier crash left
behind.
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HANDLES_FILE = ".handle_pids.json"
POSTMASTER_FILE = "postmaster.pid"


class EmbeddedDatabaseUnavailableError(RuntimeError):
    pass


def default_data_dir() -> Path:
    """Per-user data directory, following the XDG base directory convention."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "test-observer" / "postgres"


def data_dir_from_environment() -> Path:
    return Path(os.environ.get("TEST_OBSERVER_DATA_DIR") or default_data_dir())


def _pgserver() -> Any:
    try:
        # pgserver asks platformdirs for a runtime directory when it is imported; without
        # XDG_RUNTIME_DIR (containers, CI, ssh) that warns although the /tmp fallback is fine.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR")
            import pgserver
    except ImportError:
        raise EmbeddedDatabaseUnavailableError(
            "DB_URL is not set and the embedded PostgreSQL (package pgserver, dependency group "
            "'embedded-db') is not installed: set DB_URL or run `uv sync`"
        ) from None
    return pgserver


def _process_alive(pid: int) -> bool:
    import psutil

    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


def _is_server_of(pid: int, data_dir: Path) -> bool:
    """Whether `pid` is a running postgres serving `data_dir` (and not a recycled PID)."""
    import psutil

    try:
        process = psutil.Process(pid)
        return bool(process.name() == "postgres" and str(data_dir) in process.cmdline())
    except psutil.Error:
        return False


def _server_pid(data_dir: Path) -> int | None:
    """PID of the postmaster recorded in the data directory, if that process still serves it."""
    try:
        first_line = (data_dir / POSTMASTER_FILE).read_text().split("\n", 1)[0]
        pid = int(first_line)
    except (OSError, ValueError):
        return None
    return pid if _is_server_of(pid, data_dir) else None


def _read_handles(data_dir: Path) -> list[int]:
    try:
        handles = json.loads((data_dir / HANDLES_FILE).read_text())
    except (OSError, ValueError):
        return []
    return [pid for pid in handles if isinstance(pid, int)]


@dataclass(frozen=True)
class Status:
    data_dir: Path
    initialised: bool
    server_pid: int | None
    # Processes using the server (they stop it when the last of them exits).
    users: list[int] = field(default_factory=list)
    # Recorded users that no longer exist: left by processes that were killed.
    stale: list[int] = field(default_factory=list)

    @property
    def orphaned(self) -> bool:
        """A server is running but no live process will ever stop it."""
        return self.server_pid is not None and not self.users


def status(data_dir: Path) -> Status:
    _pgserver()  # raises the friendly error without it (psutil comes with it)
    data_dir = data_dir.expanduser().resolve()
    handles = _read_handles(data_dir)
    return Status(
        data_dir=data_dir,
        initialised=(data_dir / "PG_VERSION").exists(),
        server_pid=_server_pid(data_dir),
        users=[pid for pid in handles if _process_alive(pid)],
        stale=[pid for pid in handles if not _process_alive(pid)],
    )


def _clear_stale_state(data_dir: Path) -> Status:
    """Drop dead users from the handle list and a postmaster.pid no postgres owns any more.

    Called under pgserver's lock, which its own bookkeeping holds too.
    """
    found = status(data_dir)
    if found.stale:
        (data_dir / HANDLES_FILE).write_text(json.dumps(found.users))
    postmaster = data_dir / POSTMASTER_FILE
    if found.server_pid is None and postmaster.exists():
        # Its PID may now belong to another process, which pgserver would take for the server.
        postmaster.unlink()
    return found


def start(data_dir: Path, *, keep_running: bool = False) -> Any:
    """Start (or attach to) the server for `data_dir` and return its pgserver handle.

    The server stops when the last process using it exits (normally, by an exception, or by a
    signal the caller turns into an exit), unless `keep_running` is set.
    """
    pgserver = _pgserver()
    data_dir = data_dir.expanduser().resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    with pgserver.PostgresServer._lock:
        _clear_stale_state(data_dir)
    return pgserver.get_server(data_dir, cleanup_mode=None if keep_running else "stop")


def release(handle: Any) -> None:
    """Let go of the server now rather than at exit; stops it if no other process uses it."""
    handle._cleanup()


def stop(data_dir: Path) -> bool:
    """Stop the server of `data_dir` whoever started it; False when none was running."""
    pgserver = _pgserver()
    from pgserver import _commands

    data_dir = data_dir.expanduser().resolve()
    with pgserver.PostgresServer._lock:
        _clear_stale_state(data_dir)
        pid = _server_pid(data_dir)
        if pid is None:
            return False
        # As root, pgserver runs the server as its own system user; pg_ctl must be that user.
        user = "pgserver" if os.name == "posix" and os.geteuid() == 0 else None
        _commands.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=data_dir, user=user)
        (data_dir / HANDLES_FILE).write_text("[]")
    return True


def url_of(server: Any, database: str = "postgres") -> str:
    """A psycopg 3 URL for a database of the embedded server (reached over its Unix socket)."""
    uri: str = server.get_uri(database)
    return uri.replace("postgresql://", "postgresql+psycopg://", 1)
