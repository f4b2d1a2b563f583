"""How many database connections each process of a unit may open, from the application's budget.

PostgreSQL refuses connections past its `max_connections`, and every process of every unit
keeps its own pool, so the pools are sized here from one number, the `db-connection-budget`
option, shared equally by the units the peer relation shows:

    share per unit     = floor(budget / units)
    fixed per unit     = METRICS + WORKER + COMMANDS                  (= 10)
    per API process    = min(MAX_PER_PROCESS, floor((share - fixed) / workers))
    DB_POOL_SIZE       = ceil(per API process / 2), DB_MAX_OVERFLOW = the rest

A unit whose share leaves an API process fewer than MIN_PER_PROCESS connections cannot run
within the budget and is blocked naming the option. Each unit can therefore open at most
`workers x per API process + fixed` connections, and the application at most the budget.
"""

from __future__ import annotations

from dataclasses import dataclass

from .config import InvalidConfigError

# `test-observer serve`'s metrics server keeps a pool of 1 with an overflow of 1.
METRICS = 2
# The job worker: its jobs' engine (pool 1, overflow 1), the queue's pool and the queue's
# LISTEN connection.
WORKER_DB_POOL_SIZE = 1
WORKER_DB_MAX_OVERFLOW = 1
WORKER_QUEUE_POOL_SIZE = 3
WORKER = WORKER_DB_POOL_SIZE + WORKER_DB_MAX_OVERFLOW + WORKER_QUEUE_POOL_SIZE + 1
# The charm's own commands in the container (schema reads, settings checks, actions): one at a
# time per hook, and an action may run during a hook.
COMMANDS = 2
FIXED = METRICS + WORKER + COMMANDS
# An API process never needs more than this (the backend's own default, 5 + 5)...
MAX_PER_PROCESS = 10
# ...and never works well with fewer: one request plus a readiness probe.
MIN_PER_PROCESS = 2


@dataclass(frozen=True)
class Pools:
    """The pool settings a unit renders into its services' environments."""

    api_pool_size: int
    api_max_overflow: int
    workers: int

    @property
    def per_process(self) -> int:
        return self.api_pool_size + self.api_max_overflow

    @property
    def per_unit(self) -> int:
        """The most connections one unit opens."""
        return self.workers * self.per_process + FIXED

    def api_environment(self) -> dict[str, str]:
        return {
            "DB_POOL_SIZE": str(self.api_pool_size),
            "DB_MAX_OVERFLOW": str(self.api_max_overflow),
        }

    @staticmethod
    def worker_environment() -> dict[str, str]:
        return {
            "WORKER_DB_POOL_SIZE": str(WORKER_DB_POOL_SIZE),
            "WORKER_DB_MAX_OVERFLOW": str(WORKER_DB_MAX_OVERFLOW),
            "WORKER_QUEUE_POOL_SIZE": str(WORKER_QUEUE_POOL_SIZE),
        }


def minimum_budget(units: int, workers: int) -> int:
    return units * (workers * MIN_PER_PROCESS + FIXED)


def pools(budget: int, units: int, workers: int) -> Pools:
    """Each unit's pools; InvalidConfigError naming the option when a unit cannot fit."""
    units = max(units, 1)
    share = budget // units
    per_process = min(MAX_PER_PROCESS, (share - FIXED) // workers)
    if per_process < MIN_PER_PROCESS:
        raise InvalidConfigError(
            "db-connection-budget",
            f"{budget} connections for {units} unit(s) with {workers} worker(s) each is too "
            f"few: raise it to at least {minimum_budget(units, workers)} (or lower workers)",
        )
    pool_size = (per_process + 1) // 2
    return Pools(api_pool_size=pool_size, api_max_overflow=per_process - pool_size, workers=workers)
