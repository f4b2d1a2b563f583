"""The database a command works on: DB_URL, or the embedded one started here; migrations
and one-transaction helpers shared by the command groups."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import typer

from .output import fail, note

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

# Keeps the embedded database server alive for as long as this process needs it.
_embedded_server: Any = None


def embedded_server() -> Any:
    """The embedded database server this process started, if any."""
    return _embedded_server


def _exit_on_termination() -> None:
    """Turn SIGTERM and SIGHUP into a normal exit, so that exit handlers (which stop the
    embedded database) run; by default these signals end the process on the spot."""

    def leave(signum: int, _: object) -> None:
        raise SystemExit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, leave)


def database_url(*, keep_embedded_running: bool = False) -> str:
    """DB_URL if set; otherwise the URL of the embedded development database, started here."""
    from test_observer.settings import SettingsError, load_settings

    global _embedded_server
    try:
        settings = load_settings()
    except SettingsError as error:
        fail(str(error))
    if settings.db_url:
        return settings.db_url

    from test_observer.db import embedded

    data_dir = embedded.data_dir_from_environment()
    note(f"DB_URL is not set: using the embedded PostgreSQL in {data_dir}")
    _exit_on_termination()
    try:
        left_over = embedded.status(data_dir)
        if left_over.orphaned:
            note(
                f"An embedded PostgreSQL (pid {left_over.server_pid}) was left running by an "
                "earlier run that did not exit cleanly: using it, and stopping it at exit"
            )
        _embedded_server = embedded.start(data_dir, keep_running=keep_embedded_running)
    except embedded.EmbeddedDatabaseUnavailableError as error:
        fail(str(error))
    except Exception as error:  # pgserver reports a failed start with several exception types
        fail(
            f"The embedded PostgreSQL in {data_dir} did not start ({error}): see "
            f"{data_dir / 'log'}, or reset it with `test-observer db embedded reset --yes`"
        )
    return embedded.url_of(_embedded_server)


def run_migration(action: str, url: str, revision: str, *, report: bool = False) -> None:
    """Run one schema command; with `report`, print the resulting schema state as JSON.

    The report is printed whether the command succeeded or not: migrations commit one
    revision at a time, so a failed run can leave the database between two revisions, and
    whoever records the schema (the charm) must record where it really is.
    """
    from sqlalchemy.exc import OperationalError

    from test_observer.db import migrate

    migrate.log_progress_to_stderr()
    error: str | None = None
    try:
        if action == "upgrade":
            migrate.upgrade(url, revision, on_wait=_note_lock_wait)
        else:
            migrate.downgrade(url, revision, on_wait=_note_lock_wait)
    except OperationalError as exc:
        error = f"Cannot reach the database (check DB_URL): {exc.orig}"
    except Exception as exc:  # alembic reports bad revisions with several exception types
        error = f"{action.capitalize()} to {revision} failed: {_one_line(exc)}"
    if report:
        print_schema_state(url, error)
    if error is not None:
        fail(error)


def _one_line(error: Exception) -> str:
    """The first line of an error; database errors carry the SQL and a link after it."""
    cause = getattr(error, "orig", None) or error
    lines = [line.strip() for line in str(cause).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


def _note_lock_wait() -> None:
    note("Waiting for another migration of this database to finish")


def print_schema_state(url: str, error: str | None = None) -> None:
    from sqlalchemy.exc import OperationalError

    from test_observer.db import migrate

    try:
        state = migrate.state(url)
    except OperationalError as exc:
        fail(f"Cannot reach the database (check DB_URL): {exc.orig}")
    typer.echo(json.dumps({**state.as_dict(), "error": error}))


REPORT_HELP = "Print the resulting schema state as one JSON line on stdout, even on failure."


def upgrade_if_pending(url: str) -> None:
    """Apply pending migrations, saying how many; say nothing when there are none."""
    from sqlalchemy.exc import OperationalError

    from test_observer.db import migrate

    try:
        count = len(migrate.pending(url))
    except OperationalError as error:
        fail(f"Cannot reach the database (check DB_URL): {error.orig}")
    if count:
        note(f"Applying {count} migration{'s' if count != 1 else ''}")
        run_migration("upgrade", url, "head")


@contextmanager
def transaction() -> Iterator[Session]:
    """One transaction on the configured database; failures become one-line errors."""
    from sqlalchemy.exc import OperationalError, ProgrammingError
    from sqlalchemy.orm import Session

    from test_observer.db.engine import make_engine
    from test_observer.errors import DomainError

    engine = make_engine(database_url())
    try:
        with Session(engine, expire_on_commit=False) as session, session.begin():
            yield session
    except DomainError as error:
        fail(error.detail)
    except (LookupError, ValueError) as error:
        fail(str(error))
    except OperationalError as error:
        fail(f"Cannot reach the database (check DB_URL): {error.orig}")
    except ProgrammingError as error:
        fail(f"The database schema is not ready (run `test-observer db upgrade`): {error.orig}")
    finally:
        engine.dispose()
