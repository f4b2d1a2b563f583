"""The `test-observer` command: one entry point for people, the rock's service and the charm."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from test_observer.settings import LogLevel, SettingsError, load_settings

app = typer.Typer(
    name="test-observer",
    help="Run and administer the Test Observer API.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Inspect and migrate the database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")

# Keeps the embedded database server alive for as long as this process needs it.
_embedded_server: Any = None


def fail(message: str) -> NoReturn:
    typer.echo(f"Error: {message}", err=True)
    raise typer.Exit(1)


def note(message: str) -> None:
    typer.echo(message, err=True)


def database_url(*, keep_embedded_running: bool = False) -> str:
    """DB_URL if set; otherwise the URL of the embedded development database, started here."""
    global _embedded_server
    try:
        settings = load_settings()
    except SettingsError as error:
        fail(str(error))
    if settings.db_url:
        return settings.db_url

    from test_observer.db import embedded

    data_dir = Path(os.environ.get("TEST_OBSERVER_DATA_DIR") or embedded.default_data_dir())
    note(f"DB_URL is not set: using the embedded PostgreSQL in {data_dir}")
    try:
        _embedded_server = embedded.start(data_dir, keep_running=keep_embedded_running)
    except embedded.EmbeddedDatabaseUnavailableError as error:
        fail(str(error))
    return embedded.url_of(_embedded_server)


def _run_migration(action: str, url: str, revision: str) -> None:
    from sqlalchemy.exc import OperationalError

    from test_observer.db import migrate

    migrate.log_progress_to_stderr()
    try:
        if action == "upgrade":
            migrate.upgrade(url, revision)
        else:
            migrate.downgrade(url, revision)
    except OperationalError as error:
        fail(f"cannot reach the database: {error.orig}")
    except Exception as error:  # alembic reports bad revisions with several exception types
        fail(f"{action} to {revision} failed: {error}")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 30000,
    workers: Annotated[int, typer.Option(help="Number of worker processes.", min=1)] = 1,
    reload: Annotated[bool, typer.Option(help="Restart when the code changes (development).")] = (
        False
    ),
    migrate: Annotated[bool, typer.Option(help="Apply pending migrations before serving.")] = True,
    log_level: Annotated[
        LogLevel | None, typer.Option(help="Log level (default: LOG_LEVEL, else info).")
    ] = None,
) -> None:
    """Serve the API (with an embedded database when DB_URL is not set)."""
    import uvicorn

    url = database_url()
    # Workers and the reloader are separate processes that read their settings from the
    # environment: hand them the database and one shared session secret.
    os.environ["DB_URL"] = url
    if not os.environ.get("SESSIONS_SECRET"):
        import secrets

        os.environ["SESSIONS_SECRET"] = secrets.token_urlsafe(32)
    if migrate:
        note("Applying pending migrations")
        _run_migration("upgrade", url, "head")
    settings = load_settings()
    note(f"Serving the API on http://{host}:{port}")
    uvicorn.run(
        "test_observer.app:create_app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=None if reload else workers,
        reload=reload,
        log_level=log_level or settings.log_level,
    )


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Apply migrations up to REVISION (default: head)."""
    _run_migration("upgrade", database_url(), revision)


@db_app.command("downgrade")
def db_downgrade(
    revision: Annotated[
        str, typer.Argument(help="Target revision: an id, 'base', or relative such as -1.")
    ],
) -> None:
    """Revert migrations down to REVISION."""
    _run_migration("downgrade", database_url(), revision)


@db_app.command("current")
def db_current() -> None:
    """Print the database's current revision ('base' when none is applied)."""
    from sqlalchemy.exc import OperationalError

    from test_observer.db import migrate

    try:
        revisions = migrate.current(database_url())
    except OperationalError as error:
        fail(f"cannot reach the database: {error.orig}")
    typer.echo("\n".join(revisions) if revisions else "base")


@db_app.command("heads")
def db_heads() -> None:
    """Print the head revision(s) of this code's migrations (no database needed)."""
    from test_observer.db import migrate

    typer.echo("\n".join(migrate.heads()))


@db_app.command("check")
def db_check() -> None:
    """Exit non-zero when the models and the migrations differ."""
    from test_observer.db import migrate

    url = database_url()
    _run_migration("upgrade", url, "head")
    diff = migrate.differences(url)
    if diff:
        fail(f"the models differ from the migrations: {diff}")
    typer.echo("Models and migrations agree.")


@db_app.command("revision")
def db_revision(
    message: Annotated[str, typer.Argument(help="What the migration does.")],
    autogenerate: Annotated[
        bool, typer.Option(help="Fill the migration from the differences with the models.")
    ] = True,
) -> None:
    """Create a migration file (to review by hand before committing)."""
    from test_observer.db import migrate

    url = database_url()
    _run_migration("upgrade", url, "head")
    typer.echo(migrate.new_revision(url, message, autogenerate=autogenerate))


@app.command("openapi")
def openapi(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file, not stdout.")
    ] = None,
) -> None:
    """Print the OpenAPI document of the API."""
    from test_observer.app import create_app
    from test_observer.settings import Settings

    # The document does not depend on the database; no connection is made.
    schema = create_app(Settings(db_url="postgresql+psycopg://localhost/unused")).openapi()
    text = json.dumps(schema, indent=2, sort_keys=False) + "\n"
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text)


def main() -> None:
    app()
