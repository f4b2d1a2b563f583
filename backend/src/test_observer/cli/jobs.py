"""`test-observer jobs`: list, run and queue background jobs."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Annotated

import typer

from .database import database_url
from .output import fail, note

if TYPE_CHECKING:
    from test_observer.settings import Settings

app = typer.Typer(help="List, run and queue background jobs.", no_args_is_help=True)


def job_settings() -> Settings:
    """Settings with a database for the jobs, and log lines on stderr at LOG_LEVEL."""
    import logging

    from test_observer.observability.logging import configure_logging
    from test_observer.settings import SettingsError, load_settings

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


@app.command("list")
def jobs_list() -> None:
    """List the jobs, their arguments and how often they run with the current settings."""
    from test_observer.jobs.queue import scheduled
    from test_observer.jobs.registry import JOBS
    from test_observer.settings import SettingsError, load_settings

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


@app.command("run")
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
    env = JobEnvironment.from_settings(job_settings())
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


@app.command("defer")
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
        job_id = queue.defer(job_settings(), job, arguments or [])
    except Exception as error:
        fail(f"cannot queue {name}: {error}")
    note(f"Queued {name} as job {job_id}")
    typer.echo(job_id)
