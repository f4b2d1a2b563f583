"""The `test-observer` command: one entry point for people, the rock's service and the charm."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from test_observer.settings import LogLevel, SettingsError, load_settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

app = typer.Typer(
    name="test-observer",
    help="Run and administer the Test Observer API.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Inspect and migrate the database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")
admin_app = typer.Typer(help="Manage users and API clients.", no_args_is_help=True)
app.add_typer(admin_app, name="admin")

# Pebble waits 5 s after SIGTERM before it kills a service (its default kill-delay).
GRACEFUL_SHUTDOWN_SECONDS = 4

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
    workers: Annotated[
        int,
        typer.Option(
            help="Number of worker processes; 0 starts one per CPU the container may use.",
            min=0,
        ),
    ] = 0,
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
    if reload:
        workers = 1
    elif workers == 0:
        from test_observer.workers import available_cpus

        workers = available_cpus()
    note(
        f"Serving the API on http://{host}:{port} with {workers} worker(s), each with up to "
        f"{settings.db_pool_size + settings.db_max_overflow} database connections"
    )
    uvicorn.run(
        "test_observer.app:create_app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=None if reload else workers,
        reload=reload,
        log_level=log_level or settings.log_level,
        # On SIGTERM, stop accepting and let requests in flight finish, for at most this long
        # (it must stay below the time the process manager waits before killing).
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Apply migrations up to REVISION (default: head)."""
    _run_migration("upgrade", database_url(), revision)


# Relative revisions such as -1 look like options; let them through as the argument.
@db_app.command("downgrade", context_settings={"ignore_unknown_options": True})
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


@contextmanager
def _transaction() -> Iterator[Session]:
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
        fail(f"cannot reach the database: {error.orig}")
    except ProgrammingError as error:
        fail(f"the database schema is not ready (run `test-observer db upgrade`): {error.orig}")
    finally:
        engine.dispose()


@admin_app.command("create-application")
def admin_create_application(
    name: Annotated[str, typer.Argument(help="Unique name of the application (e.g. the CI).")],
    permission: Annotated[
        list[str] | None,
        typer.Option("--permission", "-p", help="A permission to grant; repeat for more."),
    ] = None,
    all_permissions: Annotated[
        bool, typer.Option("--all-permissions", help="Grant every permission.")
    ] = False,
) -> None:
    """Create an API client and print its new key (shown only this once) on stdout."""
    from test_observer.applications import service
    from test_observer.db.models import Permission
    from test_observer.permissions.service import parse_permissions

    if bool(permission) == all_permissions:
        fail("give either --permission (one or more times) or --all-permissions")
    try:
        permissions = list(Permission) if all_permissions else parse_permissions(permission or [])
    except ValueError as error:
        fail(str(error))
    with _transaction() as session:
        created = service.create_application(session, name.strip(), permissions)
    note(
        f"Created application {created.name!r} (id {created.id}) with "
        f"{len(created.permissions)} permission(s). Store the key now: it cannot be shown again."
    )
    typer.echo(created.api_key)


@admin_app.command("add-user")
def admin_add_user(
    email: Annotated[str, typer.Argument(help="Email address (the identity used at login).")],
    name: Annotated[
        str | None, typer.Option(help="Display name (default: the part before @).")
    ] = None,
) -> None:
    """Create a user unless one with this email exists."""
    from test_observer.users import service

    with _transaction() as session:
        user, created = service.add_user(session, email, name)
    note(f"{'Created' if created else 'Already present:'} user {user.email} (id {user.id})")


@admin_app.command("promote-user-to-admin")
def admin_promote_user(
    email: Annotated[str, typer.Argument(help="Email address of an existing user.")],
) -> None:
    """Give a user administrator rights (they pass every permission check)."""
    from test_observer.users import service

    with _transaction() as session:
        user = service.promote_to_admin(session, email)
    note(f"User {user.email} (id {user.id}) is an administrator")


@admin_app.command("clean-sessions")
def admin_clean_sessions() -> None:
    """Delete expired browser sessions (safe to run at any time, e.g. from a timer)."""
    from test_observer.users import service

    with _transaction() as session:
        deleted = service.clean_expired_sessions(session)
    note(f"Deleted {deleted} expired sessions")


@admin_app.command("delete-artefact")
def admin_delete_artefact(
    artefact_id: Annotated[int, typer.Argument(metavar="ID", help="Id of the artefact.")],
) -> None:
    """Delete an artefact with its builds, test executions, results and reviews.

    Environments, test cases, test plans and execution metadata values stay: other artefacts
    may use them.
    """
    from test_observer.artefacts import service

    with _transaction() as session:
        artefact = service.delete_artefact(session, artefact_id)
    note(
        f"Deleted {artefact.family.value} artefact {artefact.name} {artefact.version} "
        f"(id {artefact_id})"
    )


@app.command("seed")
def seed_command(
    artefacts: Annotated[
        int, typer.Option(help="Artefacts, spread over the five families.", min=1)
    ] = 300,
    architectures: Annotated[
        int, typer.Option(help="Architectures each artefact is built for.", min=1, max=6)
    ] = 3,
    environments: Annotated[
        int, typer.Option(help="Environments per architecture a build is tested on.", min=1)
    ] = 10,
    executions: Annotated[int, typer.Option(help="Test executions in all.", min=1)] = 2600,
    results: Annotated[int, typer.Option(help="Results per execution.", min=0)] = 200,
    versions_per_line: Annotated[
        int, typer.Option(help="Versions of each artefact line (name, track, ...).", min=1)
    ] = 5,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same data.")] = 0,
    batch: Annotated[int, typer.Option(help="Executions per transaction.", min=1)] = 50,
    issues: Annotated[
        int, typer.Option(help="Issues triaging recurring failures (a third with a rule).", min=0)
    ] = 60,
    migrate: Annotated[bool, typer.Option(help="Apply pending migrations first.")] = True,
) -> None:
    """Fill an empty database with a realistic, deterministic dataset (for development and
    benchmarks), through the same code paths the API uses."""
    import time

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from test_observer.db.engine import make_engine, make_session_factory
    from test_observer.seed import SeedPlan
    from test_observer.seed import seed as fill
    from test_observer.settings import Settings

    url = database_url()
    if migrate:
        _run_migration("upgrade", url, "head")
    plan = SeedPlan(
        artefacts=artefacts,
        architectures=architectures,
        environments=environments,
        executions=executions,
        results=results,
        versions_per_line=versions_per_line,
        seed=seed,
        batch=batch,
        issues=issues,
    )
    engine = make_engine(url)
    began = time.monotonic()
    try:
        with Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=None,
            transient=False,
        ) as progress:
            task = progress.add_task("Seeding executions", total=executions)
            counts = fill(
                make_session_factory(engine),
                plan,
                Settings(db_url=url),
                progress=lambda done: progress.update(task, completed=done),
            )
    except ValueError as error:
        fail(str(error))
    finally:
        engine.dispose()
    note(
        f"Seeded {counts['artefacts']} artefacts, {counts['executions']} executions, "
        f"{counts['results']} results, {counts['issues']} issues, "
        f"{counts['attachment_rules']} attachment rules and {counts['attachments']} "
        f"attachments in {time.monotonic() - began:.0f} s"
    )


@app.command("import-original")
def import_original_command(
    source: Annotated[
        str,
        typer.Option(
            "--from",
            envvar="ORIGINAL_DB_URL",
            help="URL of the original Test Observer's database (at its newest schema). "
            "It is only read. From ORIGINAL_DB_URL when not given, which keeps a password "
            "out of the process list.",
            show_default=False,
        ),
    ],
    dry_run: Annotated[
        bool, typer.Option(help="Report what would be imported and merged; write nothing.")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the row counts as JSON instead of a table.")
    ] = False,
) -> None:
    """Copy a database of the original Test Observer into this one, which must be empty and
    migrated. Ids are kept and API keys keep working; duplicates the original's races left
    are merged and reported. All or nothing: on failure nothing is written."""
    import time

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
    from rich.table import Table

    from test_observer.original_import.service import ImportRefusedError, import_original

    target = database_url()
    began = time.monotonic()
    console = Console(stderr=True)
    try:
        with Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            disable=dry_run or as_json,
        ) as progress:
            tasks: dict[str, Any] = {}

            def started(table: str, rows: int) -> None:
                tasks[table] = progress.add_task(table, total=rows)

            def copied(table: str, rows: int) -> None:
                progress.update(tasks[table], completed=rows)

            report = import_original(
                source, target, dry_run=dry_run, table_started=started, rows_copied=copied
            )
    except ImportRefusedError as error:
        fail(str(error))
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "dry-run": dry_run,
                    "tables": [
                        {
                            "table": table.table,
                            "source-rows": table.source_rows,
                            "imported-rows": table.imported_rows,
                            "merged-rows": table.merged_rows,
                        }
                        for table in report.tables
                    ],
                }
            )
        )
        return
    summary = Table(title="Would import" if dry_run else "Imported")
    for column in ("table", "source rows", "imported rows", "merged"):
        summary.add_column(column, justify="left" if column == "table" else "right")
    for table in report.tables:
        summary.add_row(
            table.table, str(table.source_rows), str(table.imported_rows), str(table.merged_rows)
        )
    Console().print(summary)
    for table in report.merges:
        note(f"Merged {table.merged_rows} rows of {table.table}: {table.merge_description}")
    rows = sum(table.imported_rows for table in report.tables)
    if dry_run:
        note(f"Dry run: {rows} rows would be imported; nothing was written")
    else:
        note(f"Imported {rows} rows in {time.monotonic() - began:.1f} s")


def main() -> None:
    app()
