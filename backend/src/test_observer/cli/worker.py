"""`test-observer worker`."""

from __future__ import annotations

from typing import Annotated

import typer

from .jobs import job_settings
from .output import fail, note


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

    settings = job_settings()
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
