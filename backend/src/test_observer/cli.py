"""The `test-observer` command: one entry point for people, the rock's service and the charm."""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from test_observer.observability.logging import configure_logging, logging_config
from test_observer.settings import LogLevel, Settings, SettingsError, load_settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from test_observer.settings import Settings

app = typer.Typer(
    name="test-observer",
    help="Run and administer the Test Observer API.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Inspect and migrate the database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")
embedded_app = typer.Typer(
    help="The embedded PostgreSQL used when DB_URL is not set.", no_args_is_help=True
)
db_app.add_typer(embedded_app, name="embedded")
admin_app = typer.Typer(help="Manage users and API clients.", no_args_is_help=True)
app.add_typer(admin_app, name="admin")
jobs_app = typer.Typer(help="List, run and queue background jobs.", no_args_is_help=True)
app.add_typer(jobs_app, name="jobs")
settings_app = typer.Typer(help="Inspect the server's settings.", no_args_is_help=True)
app.add_typer(settings_app, name="settings")
signatures_app = typer.Typer(help="Failure signatures of failed results.", no_args_is_help=True)
app.add_typer(signatures_app, name="signatures")

# Pebble waits 5 s after SIGTERM before it kills a service (its default kill-delay).
GRACEFUL_SHUTDOWN_SECONDS = 4

# Keeps the embedded database server alive for as long as this process needs it.
_embedded_server: Any = None


def fail(message: str) -> NoReturn:
    # One style for every failure: "Error: " and a capitalised sentence naming the fix.
    typer.echo(f"Error: {message[:1].upper()}{message[1:]}", err=True)
    raise typer.Exit(1)


def _print_version(value: bool) -> None:
    if value:
        from test_observer.version import installed_version

        typer.echo(installed_version())
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version and exit.", callback=_print_version, is_eager=True
        ),
    ] = False,
) -> None:
    """Run and administer the Test Observer API."""


def _exit_on_termination() -> None:
    """Turn SIGTERM and SIGHUP into a normal exit, so that exit handlers (which stop the
    embedded database) run; by default these signals end the process on the spot."""

    def leave(signum: int, _: object) -> None:
        raise SystemExit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, leave)


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


def _run_migration(action: str, url: str, revision: str, *, report: bool = False) -> None:
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
        _print_schema_state(url, error)
    if error is not None:
        fail(error)


def _one_line(error: Exception) -> str:
    """The first line of an error; database errors carry the SQL and a link after it."""
    cause = getattr(error, "orig", None) or error
    lines = [line.strip() for line in str(cause).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


def _note_lock_wait() -> None:
    note("Waiting for another migration of this database to finish")


def _print_schema_state(url: str, error: str | None = None) -> None:
    from sqlalchemy.exc import OperationalError

    from test_observer.db import migrate

    try:
        state = migrate.state(url)
    except OperationalError as exc:
        fail(f"Cannot reach the database (check DB_URL): {exc.orig}")
    typer.echo(json.dumps({**state.as_dict(), "error": error}))


_REPORT_HELP = "Print the resulting schema state as one JSON line on stdout, even on failure."


def _upgrade_if_pending(url: str) -> None:
    """Apply pending migrations, saying how many; say nothing when there are none."""
    from sqlalchemy.exc import OperationalError

    from test_observer.db import migrate

    try:
        count = len(migrate.pending(url))
    except OperationalError as error:
        fail(f"Cannot reach the database (check DB_URL): {error.orig}")
    if count:
        note(f"Applying {count} migration{'s' if count != 1 else ''}")
        _run_migration("upgrade", url, "head")


def _check_port_free(host: str, port: int) -> None:
    # Bound as the server will bind it, so "taken" here means the server could not start.
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as error:
        fail(f"Cannot listen on {host}: {error.strerror or error} (check --host)")
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as error:
            fail(
                f"Port {port} on {host} is not available ({error.strerror or error}): another "
                "server may be running; stop it or choose another with --port"
            )


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
    forwarded_allow_ips: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated addresses (or *) whose X-Forwarded-For/-Proto headers are "
            "trusted: those of a reverse proxy in front of the API.",
            envvar="FORWARDED_ALLOW_IPS",
            show_default="127.0.0.1,::1",
        ),
    ] = None,
    root_path: Annotated[
        str,
        typer.Option(
            help="Path prefix a reverse proxy serves the API under and strips before passing "
            "requests on (e.g. /model-app); used in the links of /docs and the OpenAPI document.",
            envvar="ROOT_PATH",
        ),
    ] = "",
) -> None:
    """Serve the API (with an embedded database when DB_URL is not set)."""
    import uvicorn

    _check_port_free(host, port)
    url = database_url()
    # Workers and the reloader are separate processes that read their settings from the
    # environment: hand them the database and one shared session secret.
    os.environ["DB_URL"] = url
    if not os.environ.get("SESSIONS_SECRET"):
        import secrets

        os.environ["SESSIONS_SECRET"] = secrets.token_urlsafe(32)
    if migrate:
        _upgrade_if_pending(url)
    settings = load_settings()
    # Checked again: the database's start and the migrations take a while.
    _check_port_free(host, port)
    if reload:
        workers = 1
    elif workers == 0:
        from test_observer.workers import available_cpus

        workers = available_cpus()
    level = log_level or settings.log_level
    configure_logging(settings.log_format, level)
    _start_metrics_server(settings, several_processes=workers > 1 or reload)
    note(
        f"Serving the API on http://{host}:{port} with {workers} worker(s), each with up to "
        f"{settings.db_pool_size + settings.db_max_overflow} database connections"
    )
    options: dict[str, Any] = {
        "factory": True,
        "host": host,
        "port": port,
        "workers": None if reload else workers,
        "reload": reload,
        "log_level": level,
        "log_config": logging_config(settings.log_format, level),
        "forwarded_allow_ips": forwarded_allow_ips,
        "root_path": root_path.rstrip("/"),
        # Our request log (one structured line per request) replaces uvicorn's access log.
        "access_log": False,
        # On SIGTERM, stop accepting and let requests in flight finish, for at most this long
        # (it must stay below the time the process manager waits before killing).
        "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN_SECONDS,
    }
    from test_observer import supervision

    options["http"] = supervision.DrainingHttpProtocol

    # Worker processes (and the reloader's) leave when this process is gone, however it went.
    os.environ[supervision.SUPERVISOR_ENV] = str(os.getpid())
    if _embedded_server is not None:
        supervision.start_database_watchdog(Path(_embedded_server.pgdata))
    application = "test_observer.app:create_app_from_environment"
    if workers > 1 and not reload:
        config = uvicorn.Config(application, **options)
        supervision.Supervisor(config, sockets=[config.bind_socket()]).run()
    else:
        uvicorn.run(application, **options)


def _start_metrics_server(settings: Settings, *, several_processes: bool) -> None:
    """Serve /metrics on METRICS_HOST:METRICS_PORT from this process, next to the API's
    workers."""
    if not settings.metrics_port:
        return
    if several_processes and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        import tempfile

        # Set before any worker starts: each records its HTTP metrics into files there, which
        # the metrics server sums.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="test-observer-metrics-")
    from test_observer.observability.metrics import start_metrics_server

    server = start_metrics_server(settings)
    if server is None:
        note(f"Metrics are not served: port {settings.metrics_port} is unavailable")
    else:
        note(f"Serving metrics on http://{settings.metrics_host}:{server.port}/metrics")


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
    json_report: Annotated[bool, typer.Option("--json", help=_REPORT_HELP)] = False,
) -> None:
    """Apply migrations up to REVISION (default: head)."""
    _run_migration("upgrade", database_url(), revision, report=json_report)


# Relative revisions such as -1 look like options; let them through as the argument.
@db_app.command("downgrade", context_settings={"ignore_unknown_options": True})
def db_downgrade(
    revision: Annotated[
        str, typer.Argument(help="Target revision: an id, 'base', or relative such as -1.")
    ],
    json_report: Annotated[bool, typer.Option("--json", help=_REPORT_HELP)] = False,
) -> None:
    """Revert migrations down to REVISION."""
    _run_migration("downgrade", database_url(), revision, report=json_report)


@db_app.command("current")
def db_current(
    json_report: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print JSON: the current revisions, this code's heads, whether the database "
            "is at them and whether this code knows every applied revision.",
        ),
    ] = False,
) -> None:
    """Print the database's current revision ('base' when none is applied)."""
    from sqlalchemy.exc import OperationalError

    from test_observer.db import migrate

    if json_report:
        _print_schema_state(database_url())
        return
    try:
        revisions = migrate.current(database_url())
    except OperationalError as error:
        fail(f"Cannot reach the database (check DB_URL): {error.orig}")
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
        fail(
            "The models differ from the migrations (add one with `test-observer db revision`): "
            f"{diff}"
        )
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


def _embedded_status() -> Any:
    from test_observer.db import embedded

    try:
        return embedded.status(embedded.data_dir_from_environment())
    except embedded.EmbeddedDatabaseUnavailableError as error:
        fail(str(error))


@embedded_app.command("status")
def db_embedded_status() -> None:
    """Show where the embedded database keeps its data and whether its server runs."""

    found = _embedded_status()
    typer.echo(f"Data directory: {found.data_dir}")
    if not found.initialised:
        typer.echo("State: not created yet (the first `test-observer serve` creates it)")
        return
    if found.server_pid is None:
        typer.echo("State: stopped")
    elif found.orphaned:
        typer.echo(
            f"State: running (pid {found.server_pid}) with no process using it: left by a "
            "run that was killed; `test-observer db embedded stop` stops it"
        )
    else:
        users = ", ".join(str(pid) for pid in found.users)
        typer.echo(f"State: running (pid {found.server_pid}), used by process(es) {users}")
    if found.stale:
        typer.echo(f"Stale users (exited without cleaning up): {len(found.stale)}")


@embedded_app.command("stop")
def db_embedded_stop(
    force: Annotated[
        bool, typer.Option("--force", help="Stop it even while a running process uses it.")
    ] = False,
) -> None:
    """Stop the embedded database server, e.g. one left running after a crash."""
    from test_observer.db import embedded

    found = _embedded_status()
    data_dir = found.data_dir
    if found.users and not force:
        users = ", ".join(str(pid) for pid in found.users)
        fail(
            f"The embedded PostgreSQL in {data_dir} is in use by process(es) {users}: stop "
            "them (it then stops by itself), or pass --force"
        )
    stopped = embedded.stop(data_dir)
    note("Stopped the embedded PostgreSQL" if stopped else "The embedded PostgreSQL is not running")


@embedded_app.command("reset")
def db_embedded_reset(
    yes: Annotated[bool, typer.Option("--yes", help="Confirm: every record is deleted.")] = False,
) -> None:
    """Delete the embedded database's data; the next start creates an empty one."""
    import shutil

    from test_observer.db import embedded

    found = _embedded_status()
    data_dir = found.data_dir
    if not yes:
        fail(f"This deletes every record in {data_dir}: run again with --yes to confirm")
    if found.users:
        users = ", ".join(str(pid) for pid in found.users)
        fail(f"The embedded PostgreSQL in {data_dir} is in use by process(es) {users}: stop them")
    if found.server_pid is not None:
        embedded.stop(data_dir)
    shutil.rmtree(data_dir, ignore_errors=True)
    note(f"Deleted {data_dir}")


@settings_app.command("check")
def settings_check(
    json_report: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print JSON on stdout: whether the settings are valid, for each problem the "
            "variable, the rejected input and the reason, and the version the API reports.",
        ),
    ] = False,
) -> None:
    """Validate the settings in the environment as the server would, without starting it."""
    from pydantic import ValidationError

    from test_observer.settings import Settings
    from test_observer.version import installed_version

    try:
        settings = Settings()
    except ValidationError as error:
        problems = [
            {
                "variable": str(item["loc"][0]).upper() if item["loc"] else "",
                "input": item["input"] if isinstance(item["input"], str | int | bool) else None,
                "message": item["msg"],
            }
            for item in error.errors()
        ]
        if json_report:
            typer.echo(json.dumps({"valid": False, "problems": problems, "version": None}))
        fail(
            "invalid configuration: "
            + "; ".join(f"{p['variable']}: {p['message']}" for p in problems)
        )
    if json_report:
        version = settings.version_override or installed_version()
        typer.echo(json.dumps({"valid": True, "problems": [], "version": version}))
    else:
        typer.echo("Settings are valid.")


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


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as error:
        fail(str(error))


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
        fail(f"Cannot reach the database (check DB_URL): {error.orig}")
    except ProgrammingError as error:
        fail(f"The database schema is not ready (run `test-observer db upgrade`): {error.orig}")
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
        fail("Give either --permission (one or more times) or --all-permissions")
    try:
        permissions = list(Permission) if all_permissions else parse_permissions(permission or [])
    except ValueError as error:
        fail(str(error))
    with _transaction() as session:
        # No principal: the operator at the command line, recorded as the system.
        created = service.create_application(
            session, None, load_settings(), name.strip(), permissions
        )
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
    launchpad: Annotated[
        bool,
        typer.Option(
            "--launchpad",
            help="Take the handle and display name from the Launchpad account with this email "
            "(LAUNCHPAD_API_URL); an email Launchpad does not know is refused.",
        ),
    ] = False,
) -> None:
    """Create a user unless one with this email exists."""
    from test_observer.sign_in.launchpad import Launchpad
    from test_observer.users import service

    if launchpad and name is not None:
        fail("--name and --launchpad exclude each other: Launchpad gives the name")
    with _transaction() as session:
        if launchpad:
            note(f"Looking {email.strip()} up on Launchpad")
            lookup = Launchpad(_settings().launchpad_api_url)
            user, created = service.add_launchpad_user(session, lookup, email)
        else:
            user, created = service.add_user(session, email, name)
    created_line = f"Created user {user.email} (id {user.id})"
    note(created_line if created else service.already_exists(user.email))


@admin_app.command("change-assignee")
def admin_change_assignee(
    artefact_id: Annotated[int, typer.Argument(metavar="ARTEFACT_ID", help="Id of the artefact.")],
    reviewers: Annotated[
        list[str], typer.Argument(metavar="REVIEWER...", help="User ids, or users' emails.")
    ],
) -> None:
    """Make these users the artefact's reviewers, in this order, replacing the current ones."""
    from test_observer.artefacts import patching

    with _transaction() as session:
        artefact = patching.replace_reviewers(session, _settings(), artefact_id, reviewers)
    listed = ", ".join(f"{r.email} (id {r.id})" for r in artefact.reviewers)
    note(f"Artefact {artefact.name} {artefact.version} (id {artefact.id}) is reviewed by {listed}")


@admin_app.command("promote-user-to-admin")
def admin_promote_user(
    email: Annotated[str, typer.Argument(help="Email address of an existing user.")],
) -> None:
    """Give a user administrator rights (they pass every permission check)."""
    from test_observer.users import service

    with _transaction() as session:
        user = service.promote_to_admin(session, email)
    note(f"User {user.email} (id {user.id}) is an administrator")


@admin_app.command("login-url")
def admin_login_url(
    email: Annotated[str, typer.Argument(help="Who signs in (created if new).")],
    name: Annotated[
        str | None, typer.Option(help="Display name of a new user (default: the part before @).")
    ] = None,
) -> None:
    """Print a one-time sign-in link (valid 15 minutes) for a development deployment.

    Only with USE_LOCAL_LOGIN=true and no SAML_IDP_METADATA_URL; the server must run with the
    same settings. The link points at SAML_SP_BASE_URL (the API's own URL).
    """
    from test_observer.sign_in import service

    try:
        settings = load_settings()
    except SettingsError as error:
        fail(str(error))
    if not service.local_sign_in_enabled(settings):
        fail("sign-in links need USE_LOCAL_LOGIN=true and no SAML_IDP_METADATA_URL")
    with _transaction() as session:
        link = service.create_sign_in_link(session, settings, email.strip(), name)
    note(f"Sign-in link for {email.strip()}, valid once within 15 minutes:")
    typer.echo(link)


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
    history_factor: Annotated[
        int,
        typer.Option(
            help="Multiply the history: the artefacts, the versions per line and the "
            "executions, so the dashboards keep their size.",
            min=1,
        ),
    ] = 1,
    bulk: Annotated[
        bool,
        typer.Option(
            help="Write the same data with COPY instead of the service code, with dates "
            "spread over weeks of history: minutes for ten times the default size.",
        ),
    ] = False,
    migrate: Annotated[bool, typer.Option(help="Apply pending migrations first.")] = True,
) -> None:
    """Fill an empty database with a realistic, deterministic dataset (for development and
    benchmarks), through the same code paths the API uses, or with COPY (`--bulk`)."""
    import time

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
    from sqlalchemy import text

    from test_observer.db.engine import make_engine, make_session_factory
    from test_observer.seed import SeedPlan, check_can_seed
    from test_observer.seed import seed as fill
    from test_observer.settings import Settings

    url = database_url()
    if migrate:
        _upgrade_if_pending(url)
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
    ).with_history(history_factor)
    engine = make_engine(url)
    began = time.monotonic()
    try:
        # Before the progress bar appears: a refusal is one line, not a bar and a line.
        check_can_seed(make_session_factory(engine), plan)
        with Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=None,
            transient=False,
        ) as progress:
            task = progress.add_task("Seeding executions", total=plan.executions)
            if bulk:
                from test_observer.bulk_seed import bulk_seed

                counts = bulk_seed(
                    engine, plan, progress=lambda done: progress.update(task, completed=done)
                )
            else:
                counts = fill(
                    make_session_factory(engine),
                    plan,
                    Settings(db_url=url),
                    progress=lambda done: progress.update(task, completed=done),
                )
                # As `--bulk` does: leave statistics and a visibility map, as autovacuum
                # would, so that benchmarks on a new seed measure index-only scans.
                with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                    connection.execute(text("VACUUM ANALYZE"))
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


@signatures_app.command("backfill")
def signatures_backfill(
    since: Annotated[
        datetime | None,
        typer.Option(help="Only results created from this date (ISO 8601)."),
    ] = None,
    batch: Annotated[int, typer.Option(help="Results per transaction.", min=1)] = 1000,
) -> None:
    """Sign failed results stored without a signature or with older rules.

    Each batch commits on its own and the service keeps running; stopped at any point, the
    backfill resumes where it stopped when run again. Progress and rate go to stderr.
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from sqlalchemy.exc import OperationalError, ProgrammingError

    from test_observer.db.engine import make_engine, make_session_factory
    from test_observer.signatures.backfill import backfill

    engine = make_engine(database_url())
    began = time.monotonic()
    try:
        with Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]:,.0f} results/s"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
        ) as bar:
            task = bar.add_task("Signing failed results", total=None, rate=0.0)

            def advance(done: Any) -> None:
                rate = done.signed / max(time.monotonic() - began, 1e-9)
                bar.update(task, total=done.pending, completed=done.signed, rate=rate)

            progress = backfill(
                make_session_factory(engine), since, batch_size=batch, on_batch=advance
            )
    except OperationalError as error:
        fail(f"Cannot reach the database (check DB_URL): {error.orig}")
    except ProgrammingError as error:
        fail(f"The database schema is not ready (run `test-observer db upgrade`): {error.orig}")
    finally:
        engine.dispose()
    elapsed = time.monotonic() - began
    note(
        f"Signed {progress.signed} failed results in {progress.batches} batches in {elapsed:.1f} s"
        f" ({progress.signed / max(elapsed, 1e-9):,.0f} results/s)"
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
    sslmode: Annotated[
        str | None,
        typer.Option(
            help="libpq's sslmode for the source (disable, allow, prefer, require, verify-ca, "
            "verify-full). Default: the URL's sslmode, else verify-full (against the system's "
            "certificate authorities unless the URL names sslrootcert) for a remote host and "
            "prefer for a local one.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Copy a database of the original Test Observer into this one, which must be empty and
    migrated. Ids are kept and API keys keep working; sessions are not imported (people sign
    in again); duplicates the original's races left are merged and reported. All or nothing:
    on failure nothing is written."""
    import time

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
    from rich.table import Table

    from test_observer.original_import.service import (
        SSL_MODES,
        ImportRefusedError,
        import_original,
    )

    if sslmode is not None and sslmode not in SSL_MODES:
        fail(f"--sslmode must be one of {', '.join(SSL_MODES)}, not {sslmode!r}")
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
                source,
                target,
                sslmode=sslmode,
                dry_run=dry_run,
                table_started=started,
                rows_copied=copied,
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


def _job_settings() -> Settings:
    """Settings with a database for the jobs, and log lines on stderr at LOG_LEVEL."""
    import logging

    url = database_url()
    os.environ["DB_URL"] = url
    try:
        settings = load_settings()
    except SettingsError as error:
        fail(str(error))
    # LOG_FORMAT as for the server: one JSON object per line for a log collector.
    configure_logging(settings.log_format, settings.log_level)
    # During an outage the pool would warn at every attempt; the worker reports the outage
    # itself, once per back-off step.
    logging.getLogger("psycopg.pool").setLevel(logging.ERROR)
    return settings


@app.command("worker")
def worker(
    name: Annotated[
        str | None, typer.Option(help="Worker name in logs and the queue (default: host name).")
    ] = None,
) -> None:
    """Run background jobs from the queue and schedule the periodic ones, until SIGTERM.

    Every unit may run one: each periodic job still runs once per period. On SIGTERM the worker
    finishes the job it is running and exits; a second signal stops it at once.
    """
    import socket

    from test_observer.jobs import queue

    settings = _job_settings()
    schedules = queue.scheduled(settings)
    if not schedules:
        note("No periodic job is scheduled (DISABLE_PERIODIC_TASKS or nothing enabled)")
    for job_name, schedule, interval in schedules:
        note(f"Scheduling {job_name} ({schedule}) every {interval} s")
    note("Worker started")
    try:
        queue.run_worker(settings, name=name or socket.gethostname())
    except Exception as error:
        fail(f"the worker stopped: {error}")
    note("Worker stopped")


@jobs_app.command("list")
def jobs_list() -> None:
    """List the jobs, their arguments and how often they run with the current settings."""
    from test_observer.jobs.queue import scheduled
    from test_observer.jobs.registry import JOBS

    try:
        settings = load_settings()
    except SettingsError as error:
        fail(str(error))
    every: dict[str, list[str]] = {}
    for job_name, schedule, interval in scheduled(settings):
        every.setdefault(job_name, []).append(
            f"every {interval} s" + ("" if schedule == "default" else f" ({schedule})")
        )
    for job in JOBS.values():
        when = ", ".join(every.get(job.name, [])) or "on demand"
        typer.echo(f"{job.usage():<28} {when:<40} {job.help}")


# `jobs run` and `jobs defer` take the same arguments.
JobName = Annotated[str, typer.Argument(help="The job (see `test-observer jobs list`).")]
JobArguments = Annotated[
    list[str] | None, typer.Argument(help="The job's arguments.", show_default=False)
]


@jobs_app.command("run")
def jobs_run(
    name: JobName,
    arguments: JobArguments = None,
) -> None:
    """Run one job now, in the foreground, and print its summary as JSON."""
    from sqlalchemy.exc import OperationalError, ProgrammingError

    from test_observer.errors import DomainError
    from test_observer.jobs.environment import JobEnvironment
    from test_observer.jobs.registry import execute, get_job

    try:
        job = get_job(name)
    except DomainError as error:
        fail(error.detail)
    env = JobEnvironment.from_settings(_job_settings())
    note(f"Running {name}")
    try:
        summary = execute(job, env, arguments or [])
    except DomainError as error:
        fail(f"Job {name} failed: {error.detail}")
    except OperationalError as error:
        fail(f"cannot reach the database: {error.orig}")
    except ProgrammingError as error:
        fail(f"the database schema is not ready (run `test-observer db upgrade`): {error.orig}")
    finally:
        env.close()
    typer.echo(json.dumps(summary, indent=2, default=str))


@jobs_app.command("defer")
def jobs_defer(
    name: JobName,
    arguments: JobArguments = None,
) -> None:
    """Queue one run of a job for the next free worker; print the queued job's id."""
    from test_observer.errors import DomainError
    from test_observer.jobs import queue
    from test_observer.jobs.registry import check_arguments, get_job

    try:
        job = get_job(name)
        check_arguments(job, arguments or [])
    except DomainError as error:
        fail(error.detail)
    try:
        job_id = queue.defer(_job_settings(), job, arguments or [])
    except Exception as error:
        fail(f"cannot queue {name}: {error}")
    note(f"Queued {name} as job {job_id}")
    typer.echo(job_id)


def main() -> None:
    app()
