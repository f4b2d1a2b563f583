"""The job queue: procrastinate on the service's own PostgreSQL database.

Every unit may run a worker. Periodic runs are deferred by every worker for the same clock
instants; the database accepts one job per (job, schedule, instant), so however many workers
run, each period runs a job once. A job whose worker stopped sending heartbeats (killed, lost)
is put back in the queue by another worker.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import procrastinate
from procrastinate import exceptions as queue_errors
from sqlalchemy.engine import make_url

from test_observer.settings import Settings, interval_cron

from .environment import JobEnvironment
from .registry import JOBS, Job, execute

logger = logging.getLogger("test_observer.jobs")


def libpq_url(db_url: str) -> str:
    """The database URL in libpq's spelling (psycopg's own connection string).

    SQLAlchemy spells several hosts as repeated `host=HOST:PORT` query parameters; libpq
    keeps only the last of a repeated parameter and reads no port in `host`, so they become
    libpq's own lists, `host=H1,H2&port=P1,P2`, tried in order.
    """
    url = make_url(db_url).set(drivername="postgresql")
    hosts = url.query.get("host")
    entries = [hosts] if isinstance(hosts, str) else list(hosts or ())
    if len(entries) > 1 or any(":" in entry for entry in entries):
        names, ports = [], []
        for entry in entries:
            name, _, port = _split_host(entry)
            names.append(name)
            ports.append(port or str(url.port or 5432))
        query = {key: value for key, value in url.query.items() if key not in ("host", "port")}
        query.update(host=",".join(names), port=",".join(ports))
        url = url.set(host=None, port=None, query=query)
    return url.render_as_string(hide_password=False)


def _split_host(entry: str) -> tuple[str, str, str]:
    """HOST[:PORT] with HOST possibly a bracketed IPv6 address."""
    if entry.startswith("["):
        name, _, rest = entry[1:].partition("]")
        return name, ":", rest.removeprefix(":")
    return entry.rpartition(":") if ":" in entry else (entry, "", "")


def _retry(job: Job) -> procrastinate.RetryStrategy | bool:
    if not job.retries:
        return False
    # Waits of 60 s, then 120 s, ...
    return procrastinate.RetryStrategy(max_attempts=job.retries, wait=60, linear_wait=60)


def _register(app: procrastinate.App, job: Job, env: JobEnvironment) -> None:
    def run(arguments: list[str] | None = None, timestamp: int | None = None) -> dict[str, Any]:
        # `timestamp` is the instant a periodic run was scheduled for; it only identifies it.
        return execute(job, env, list(arguments or []))

    task = app.task(name=job.name, retry=_retry(job), pass_context=False)(run)
    if env.settings.disable_periodic_tasks:
        return
    for schedule in job.schedules:
        if not schedule.enabled(env.settings):
            continue
        app.periodic(
            cron=interval_cron(schedule.interval(env.settings)),
            periodic_id=schedule.id,
            # A run still waiting in the queue is not queued twice.
            queueing_lock=f"{job.name}:{schedule.id}",
            task_kwargs={"arguments": list(schedule.arguments)},
        )(task)  # type: ignore[arg-type]


def build_app(env: JobEnvironment) -> procrastinate.App:
    assert env.settings.db_url
    app = procrastinate.App(
        connector=procrastinate.PsycopgConnector(
            conninfo=libpq_url(env.settings.db_url),
            min_size=1,
            max_size=env.settings.worker_queue_pool_size,
        )
    )
    for job in JOBS.values():
        _register(app, job, env)
    return app


def scheduled(settings: Settings) -> list[tuple[str, str, int]]:
    """(job, schedule id, interval in seconds) of every periodic run these settings enable."""
    if settings.disable_periodic_tasks:
        return []
    return [
        (job.name, schedule.id, schedule.interval(settings))
        for job in JOBS.values()
        for schedule in job.schedules
        if schedule.enabled(settings)
    ]


async def _requeue_stalled_jobs(app: procrastinate.App, settings: Settings) -> None:
    """Put back the jobs of workers that stopped sending heartbeats."""
    while True:
        stalled = await app.job_manager.get_stalled_jobs(
            seconds_since_heartbeat=settings.job_stalled_after_s
        )
        for job in stalled:
            try:
                await app.job_manager.retry_job(job)
            except queue_errors.ConnectorException:
                assert job.id is not None
                status = await app.job_manager.get_job_status_async(job.id)
                if status is not procrastinate.jobs.Status.DOING:
                    continue  # another worker put it back first
                # A run of the same job with the same queueing lock is already waiting and
                # will do this one's work; left running, this one would hold the job's lock
                # (a webhook's, say) and keep the waiting run from ever starting.
                await app.job_manager.finish_job_by_id_async(
                    job.id, procrastinate.jobs.Status.FAILED, delete_job=False
                )
                logger.warning(
                    "job %s (id %s) was left by a stopped worker; a run already waiting "
                    "replaces it",
                    job.task_name,
                    job.id,
                )
                continue
            logger.warning(
                "job %s (id %s) was left by a stopped worker: retrying it", job.task_name, job.id
            )
        await asyncio.sleep(max(1.0, settings.job_stalled_after_s / 3))


def run_worker(settings: Settings, *, name: str = "worker", concurrency: int = 1) -> None:
    """Run jobs and defer periodic ones until SIGTERM or SIGINT.

    On the first signal the worker takes no new job and finishes the running one; a second
    signal stops it at once (the job is then retried by another worker as stalled).
    """
    env = JobEnvironment.from_settings(settings)
    app = build_app(env)

    async def main() -> None:
        async with app.open_async():
            requeue = asyncio.create_task(_requeue_stalled_jobs(app, settings))
            try:
                await app.run_worker_async(
                    name=name,
                    concurrency=concurrency,
                    install_signal_handlers=True,
                    update_heartbeat_interval=max(1.0, settings.job_stalled_after_s / 4),
                    stalled_worker_timeout=settings.job_stalled_after_s,
                )
            finally:
                requeue.cancel()

    try:
        asyncio.run(main())
    finally:
        env.close()


def defer(settings: Settings, job: Job, arguments: list[str]) -> int:
    """Queue one run of a job for any worker; the job's id."""
    env = JobEnvironment.from_settings(settings)
    app = build_app(env)
    try:
        with app.open():
            return int(app.tasks[job.name].defer(arguments=arguments))
    finally:
        env.close()
