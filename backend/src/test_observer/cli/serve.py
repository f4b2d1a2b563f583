"""`test-observer serve`."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

from .database import database_url, embedded_server, upgrade_if_pending
from .output import fail, note

if TYPE_CHECKING:
    from test_observer.settings import Settings

# The choices of --log-level: those of LOG_LEVEL (`test_observer.settings.LogLevel`), written
# out here because Typer reads them when it builds the command line, and importing the
# settings for that would make every command's start, `--help` included, pay for SQLAlchemy
# and the models (a test checks that the two lists agree).
LogLevel = Literal["critical", "error", "warning", "info", "debug"]

# Pebble waits 5 s after SIGTERM before it kills a service (its default kill-delay).
GRACEFUL_SHUTDOWN_SECONDS = 4


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

    from test_observer.observability.logging import configure_logging, logging_config
    from test_observer.settings import load_settings

    _check_port_free(host, port)
    url = database_url()
    # Workers and the reloader are separate processes that read their settings from the
    # environment: hand them the database and one shared session secret.
    os.environ["DB_URL"] = url
    if not os.environ.get("SESSIONS_SECRET"):
        import secrets

        os.environ["SESSIONS_SECRET"] = secrets.token_urlsafe(32)
    if migrate:
        upgrade_if_pending(url)
    settings = load_settings()
    # Checked again: the database's start and the migrations take a while.
    _check_port_free(host, port)
    if reload:
        workers = 1
    elif workers == 0:
        from test_observer.serving.cpus import available_cpus

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
    from test_observer.serving import supervision

    options["http"] = supervision.DrainingHttpProtocol

    # Worker processes (and the reloader's) leave when this process is gone, however it went.
    os.environ[supervision.SUPERVISOR_ENV] = str(os.getpid())
    if embedded_server() is not None:
        supervision.start_database_watchdog(Path(embedded_server().pgdata))
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
