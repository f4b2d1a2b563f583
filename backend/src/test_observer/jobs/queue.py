"""The job queue: procrastinate on the service's own PostgreSQL database.

Every unit may run a worker. Periodic runs are deferred by every worker for the same clock
instants; the database accepts one job per (job, schedule, instant), so however many workers
run, each period runs a job once. A job whose worker stopped sending heartbeats (killed, lost)
is put back in the queue by another worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
from collections.abc import Iterator
from typing import Any

import procrastinate
import procrastinate.manager
import psycopg
from procrastinate import exceptions as queue_errors
from sqlalchemy.engine import make_url

from test_observer.settings import Settings, interval_cron

from .environment import JobEnvironment
from .health import WorkerHealth
from .locks import single_run
from .registry import JOBS, Job, execute

logger = logging.getLogger("test_observer.jobs")

# How long a queue operation waits for a database connection before the worker calls the
# database lost.
POOL_WAIT_S = 5.0


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


def _register(
    app: procrastinate.App, job: Job, env: JobEnvironment, health: WorkerHealth | None
) -> None:
    def run(arguments: list[str] | None = None, timestamp: int | None = None) -> dict[str, Any]:
        # `timestamp` is the instant a periodic run was scheduled for; it only identifies it.
        if not job.exclusive:
            return execute(job, env, list(arguments or []))
        with single_run(env.engine, job.name) as held:
            if held:
                return execute(job, env, list(arguments or []))
        logger.warning(
            json.dumps(
                {
                    "job": job.name,
                    "arguments": arguments or [],
                    "outcome": "skipped",
                    "reason": "another run of the job is still running",
                    "instant": timestamp,
                }
            )
        )
        if health is not None:
            health.skipped.labels(job=job.name).inc()
        return {"skipped": "another run of the job is still running"}

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


def build_app(env: JobEnvironment, health: WorkerHealth | None = None) -> procrastinate.App:
    assert env.settings.db_url
    app = procrastinate.App(
        connector=procrastinate.PsycopgConnector(
            conninfo=libpq_url(env.settings.db_url),
            min_size=1,
            max_size=env.settings.worker_queue_pool_size,
            # A lost database is noticed within seconds (the pool's default wait is 30 s), and
            # the worker's own reconnection takes over from the pool's.
            timeout=POOL_WAIT_S,
            kwargs={"connect_timeout": 5},
        )
    )
    app.job_manager = _JobManager(app.connector)
    for job in JOBS.values():
        _register(app, job, env, health)
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


class _JobManager(procrastinate.manager.JobManager):
    """Procrastinate's job manager, calm about a job another worker already finished.

    A worker that was frozen (stopped, swapped out, cut off) stops sending heartbeats; its job
    is then put back in the queue and finished elsewhere. When the frozen worker resumes and
    reports the job's end, the queue refuses: the job is no longer in progress. That is the
    expected outcome of the rescue, not an error, so it is logged and the worker goes on.
    """

    async def finish_job(self, job: Any, *args: Any, **kwargs: Any) -> None:
        try:
            await super().finish_job(job, *args, **kwargs)
        except queue_errors.ConnectorException as error:
            # The connector's own message is generic; the database's is the cause.
            if "not found or not in" not in str(error.__cause__ or error):
                raise
            logger.warning(
                "job %s (id %s) was finished by another worker while this one was stalled: "
                "keeping that outcome",
                job.task_name,
                job.id,
            )


def _stop_signals(stop: asyncio.Event) -> None:
    """The first SIGTERM or SIGINT asks for a graceful stop; a second one ends the process at
    once (the job it ran is then retried elsewhere as stalled)."""
    loop = asyncio.get_running_loop()

    def on_signal(signum: int) -> None:
        if stop.is_set():
            logger.warning("second stop signal: stopping now")
            os._exit(128 + signum)
        logger.info("stop requested: finishing the running job")
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


def backoff_delays(first: float, longest: float) -> Iterator[float]:
    """Waits between reconnection attempts: doubling from `first`, at most `longest`."""
    delay = first
    while True:
        yield delay
        delay = min(delay * 2, longest)


async def _serve_until_lost(
    app: procrastinate.App,
    settings: Settings,
    name: str,
    concurrency: int,
    stop: asyncio.Event,
    health: WorkerHealth,
) -> None:
    """Run the queue on one database connection until asked to stop or the database is lost.

    Procrastinate's worker stops by itself when its connection breaks; a stop request cancels
    it, which lets the running job finish.
    """
    async with app.open_async():
        if not await app.check_connection_async():
            raise RuntimeError("the job queue's tables are missing: run `test-observer db upgrade`")
        health.connected()
        requeue = asyncio.create_task(_requeue_stalled_jobs(app, settings))
        work = asyncio.create_task(
            app.run_worker_async(
                name=name,
                concurrency=concurrency,
                install_signal_handlers=False,
                update_heartbeat_interval=max(1.0, settings.job_stalled_after_s / 4),
                stalled_worker_timeout=settings.job_stalled_after_s,
            )
        )
        stopping = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({work, requeue, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if not work.done():
                # Asked to stop, or the stalled-job sweeper lost the database: cancelling lets
                # the running job finish.
                work.cancel()
            (outcome,) = await asyncio.gather(work, return_exceptions=True)
            if isinstance(outcome, Exception):
                raise outcome
            if requeue.done() and not requeue.cancelled() and requeue.exception():
                raise requeue.exception()  # type: ignore[misc]
        finally:
            for task in (requeue, stopping):
                task.cancel()


def run_worker(settings: Settings, *, name: str = "worker", concurrency: int = 1) -> None:
    """Run jobs and defer periodic ones until SIGTERM or SIGINT, whatever the database does.

    When the database goes away the worker says so, waits with a bounded exponential back-off
    and reconnects, for as long as it is not asked to stop. Periodic scheduling resumes from
    the clock: each instant is still queued at most once (the database refuses a second).
    On the first signal the worker takes no new job and finishes the running one; a second
    signal stops it at once (the job is then retried by another worker as stalled). It returns
    only when asked to stop.
    """
    env = JobEnvironment.from_settings(settings)
    health = WorkerHealth(settings.worker_outage_threshold_s)
    app = build_app(env, health)
    if settings.worker_metrics_port:
        health.serve(settings.worker_metrics_host, settings.worker_metrics_port)

    async def main() -> None:
        stop = asyncio.Event()
        _stop_signals(stop)
        while not stop.is_set():
            error: BaseException | None = None
            try:
                await _serve_until_lost(app, settings, name, concurrency, stop, health)
            except (OSError, queue_errors.ConnectorException, psycopg.Error) as lost:
                error = lost
            if stop.is_set():
                break
            health.lost(error)
            delays = backoff_delays(
                settings.worker_reconnect_min_s, settings.worker_reconnect_max_s
            )
            while not stop.is_set():
                delay = next(delays)
                logger.warning(
                    "the database is unreachable (%s): trying again in %.1f s",
                    _reason(error),
                    delay,
                )
                await _wait(stop, delay)
                if await _reachable(settings):
                    logger.info("the database is reachable again: resuming")
                    break

    try:
        asyncio.run(main())
    finally:
        env.close()


def _reason(error: BaseException | None) -> str:
    if error is None:
        return "the connection was lost"
    # Procrastinate wraps the driver's error in a generic "Database error."
    error = error.__cause__ or error
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


async def _reachable(settings: Settings) -> bool:
    """Whether a new connection to the database opens now (a short timeout)."""
    assert settings.db_url
    try:
        connection = await psycopg.AsyncConnection.connect(
            libpq_url(settings.db_url), connect_timeout=5
        )
    except (OSError, psycopg.Error):
        return False
    await connection.close()
    return True


def defer(settings: Settings, job: Job, arguments: list[str]) -> int:
    """Queue one run of a job for any worker; the job's id."""
    env = JobEnvironment.from_settings(settings)
    app = build_app(env)
    try:
        with app.open():
            return int(app.tasks[job.name].defer(arguments=arguments))
    finally:
        env.close()
