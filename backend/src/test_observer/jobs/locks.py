"""One run at a time of a job, across every worker, held by the database.

A periodic run that takes longer than its period, or a run that a frozen worker resumes after
another worker retried it, would otherwise overlap the next one. The lock is a PostgreSQL
session-level advisory lock on a connection of its own, held for the whole run: it is released
when the run ends, and by the server when the worker's connection dies, so a killed worker
never leaves it behind.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

# The first half of the lock's key: the namespace of job locks (the migration lock uses another).
_TAKE = text("SELECT pg_try_advisory_lock(hashtext('test-observer job'), hashtext(:job))")
_RELEASE = text("SELECT pg_advisory_unlock(hashtext('test-observer job'), hashtext(:job))")


@contextmanager
def single_run(engine: Engine, job: str) -> Iterator[bool]:
    """Yields whether this run holds the job's lock; a run that does not must not do the work."""
    with engine.connect() as connection:
        held = bool(connection.scalar(_TAKE, {"job": job}))
        # A session-level lock outlives the transaction: none is kept open during the run.
        connection.commit()
        try:
            yield held
        finally:
            if held:
                try:
                    connection.execute(_RELEASE, {"job": job})
                    connection.commit()
                except DBAPIError:
                    # The connection is gone, and the lock with it; it must not go back to
                    # the pool.
                    connection.invalidate()
