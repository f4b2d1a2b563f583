"""Database errors, classified by what the client can do about them.

psycopg files some errors caused by the request's own data under `OperationalError` (an index row
too large is `ProgramLimitExceeded`, SQLSTATE 54000), so the exception class alone cannot tell a
bad value from a database that is down. The SQLSTATE class can:

- connection failures (class 08, 53 "insufficient resources", 57P01-57P03 shutdown, a connection
  SQLAlchemy invalidated, a pool timeout) are 503: retrying later can succeed;
- data errors (class 22) and program limits (class 54) are 422: the same request always fails;
- integrity violations (class 23) and transaction conflicts (class 40, e.g. a deadlock) are 409;
- a statement cancelled by `statement_timeout` (57014) is 504.
"""

from __future__ import annotations

import psycopg
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from test_observer.errors import (
    ConflictError,
    DomainError,
    UnavailableError,
    UnprocessableError,
)

RETRY_AFTER = {"Retry-After": "5"}

_DATA_DETAILS = {
    "22001": "A text value is too long for its field",
    "22003": "A number is out of range for its field (ids are 32-bit integers)",
    "22021": "A text value holds a character the database cannot store",
    "22P05": "A text value holds a character the database cannot store",
    "54000": "A value is too large to be stored or indexed",
}


class DatabaseTimeoutError(DomainError):
    """The database did not finish the request's statement within the statement timeout."""

    status_code = 504


def _sqlstate(error: DBAPIError) -> str:
    return getattr(error.orig, "sqlstate", None) or ""


def _connection_broken(error: DBAPIError) -> bool:
    if error.connection_invalidated:
        return True
    # Errors raised before the server answered (refused, reset, timed out) carry the failed
    # connection and no SQLSTATE.
    connection = getattr(error.orig, "pgconn", None)
    return connection is not None and connection.status != psycopg.pq.ConnStatus.OK


def classify(error: Exception) -> DomainError | None:
    """The domain error to answer for a database error, or None if it is a server bug (500)."""
    if isinstance(error, PoolTimeoutError):
        return UnavailableError("The database is unavailable", headers=RETRY_AFTER)
    if not isinstance(error, DBAPIError):
        return None
    state = _sqlstate(error)
    if (
        state[:2] in ("08", "53")
        or state in ("57P01", "57P02", "57P03")
        or (not state and _connection_broken(error))
    ):
        return UnavailableError("The database is unavailable", headers=RETRY_AFTER)
    if state == "57014":
        return DatabaseTimeoutError("The database did not answer within the statement timeout")
    if state[:2] in ("22", "54") or isinstance(error, DataError):
        detail = _DATA_DETAILS.get(state, "A value is invalid for its field")
        return UnprocessableError(detail)
    if state[:2] == "23" or isinstance(error, IntegrityError):
        return ConflictError("The request conflicts with existing data")
    if not state and "number of parameters must be" in str(error.orig):
        # libpq refuses a statement with more than 65535 parameters before sending it.
        return UnprocessableError("The request holds too many values for one database query")
    if state[:2] == "40":
        return ConflictError(
            "The request conflicted with a concurrent one and was rolled back; retry it"
        )
    return None
