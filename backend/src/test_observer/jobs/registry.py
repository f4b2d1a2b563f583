"""The jobs by name: what each does, its arguments, and how often the queue runs it."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from test_observer.errors import UnprocessableError
from test_observer.settings import Settings
from test_observer.webhooks.events import DELIVER_TASK

from . import (
    backfill_signatures,
    clean_sessions,
    deliver_webhooks,
    kernel_swm,
    promote_artefacts,
    prune_audit_events,
    prune_webhook_events,
    sync_issues,
)
from .environment import JobEnvironment

logger = logging.getLogger("test_observer.jobs")


@dataclass(frozen=True)
class Schedule:
    """A periodic run: the setting holding the interval, the arguments, and when it applies."""

    interval_setting: str
    arguments: tuple[str, ...] = ()
    id: str = "default"
    enabled: Callable[[Settings], bool] = lambda settings: True

    def interval(self, settings: Settings) -> int:
        return int(getattr(settings, self.interval_setting))


@dataclass(frozen=True)
class Job:
    name: str
    help: str
    run: Callable[..., dict[str, Any]]
    # Positional arguments: (name, required).
    arguments: tuple[tuple[str, bool], ...] = ()
    schedules: tuple[Schedule, ...] = field(default=())
    # Retries after a failure (with back-off), on top of the first attempt.
    retries: int = 0
    # At most one run at a time across all workers (see `locks`); every periodic job is.
    exclusive: bool = False

    def usage(self) -> str:
        return " ".join(
            [
                self.name,
                *(
                    arg.upper() if required else f"[{arg.upper()}]"
                    for arg, required in self.arguments
                ),
            ]
        )


def _issue_sync_enabled(settings: Settings) -> bool:
    return settings.enable_issue_sync


JOBS: dict[str, Job] = {
    job.name: job
    for job in (
        Job(
            "promote-artefacts",
            "Move snaps and debs to the channel or pocket they are in; archive those gone.",
            promote_artefacts.run,
            schedules=(Schedule("promote_interval_s"),),
            exclusive=True,
        ),
        Job(
            "sync-issues",
            "Synchronise issues with GitHub, Jira and Launchpad (PRIORITY: high, medium, low "
            "or all).",
            sync_issues.run,
            arguments=(("priority", False),),
            schedules=(
                Schedule("sync_open_interval_s", ("high",), "high", _issue_sync_enabled),
                Schedule(
                    "sync_recent_closed_interval_s", ("medium",), "medium", _issue_sync_enabled
                ),
                Schedule("sync_old_closed_interval_s", ("low",), "low", _issue_sync_enabled),
            ),
            exclusive=True,
        ),
        Job(
            "sync-issue",
            "Synchronise one issue (by id) with its tracker now.",
            sync_issues.run_one,
            arguments=(("id", True),),
            retries=2,
        ),
        Job(
            "kernel-swm",
            "Set kernel artefacts' due dates and bug links from the SRU workflow status.",
            kernel_swm.run,
            schedules=(Schedule("kernel_swm_interval_s"),),
            exclusive=True,
        ),
        Job(
            DELIVER_TASK,
            "Send one webhook's pending deliveries (by webhook id), oldest first.",
            deliver_webhooks.run,
            arguments=(("id", True),),
        ),
        Job(
            "backfill-signatures",
            "Sign failed results stored without a failure signature or with older rules, in "
            "committed batches (SINCE: only results created from that ISO date).",
            backfill_signatures.run,
            arguments=(("since", False),),
        ),
        Job(
            "clean-sessions",
            "Delete expired browser sessions.",
            clean_sessions.run,
            schedules=(Schedule("clean_sessions_interval_s"),),
            exclusive=True,
        ),
        Job(
            "prune-audit-events",
            "Delete audit events older than AUDIT_RETENTION_DAYS.",
            prune_audit_events.run,
            schedules=(Schedule("audit_prune_interval_s"),),
        ),
        Job(
            "prune-webhook-events",
            "Delete webhook events and deliveries older than WEBHOOK_RETENTION_DAYS, in "
            "batches; never one still waiting to be sent.",
            prune_webhook_events.run,
            schedules=(Schedule("webhook_prune_interval_s"),),
            exclusive=True,
        ),
    )
}


def get_job(name: str) -> Job:
    job = JOBS.get(name)
    if job is None:
        raise UnprocessableError(f"no job named {name!r}; jobs: {', '.join(JOBS)}")
    return job


def check_arguments(job: Job, arguments: list[str]) -> None:
    required = sum(1 for _, needed in job.arguments if needed)
    if not required <= len(arguments) <= len(job.arguments):
        raise UnprocessableError(f"usage: {job.usage()}")


def execute(job: Job, env: JobEnvironment, arguments: list[str]) -> dict[str, Any]:
    """Run a job once, logging one structured line with its outcome and duration."""
    check_arguments(job, arguments)
    began = time.monotonic()
    try:
        summary = job.run(env, *arguments)
    except Exception as error:
        logger.error(
            json.dumps(
                {
                    "job": job.name,
                    "arguments": arguments,
                    "outcome": "failed",
                    "duration_s": round(time.monotonic() - began, 3),
                    "error": str(error) or type(error).__name__,
                }
            )
        )
        raise
    logger.info(
        json.dumps(
            {
                "job": job.name,
                "arguments": arguments,
                "outcome": "succeeded",
                "duration_s": round(time.monotonic() - began, 3),
                "summary": summary,
            }
        )
    )
    return summary
