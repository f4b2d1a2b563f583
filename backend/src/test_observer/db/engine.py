"""Engine and session factory."""

from collections.abc import AsyncIterator, Callable
from typing import Annotated

import anyio.to_thread
from fastapi import Depends, Request
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker


def make_engine(
    url: str,
    *,
    pool_size: int = 5,
    max_overflow: int = 5,
    statement_timeout: float | None = None,
    **options: object,
) -> Engine:
    """With `statement_timeout` (seconds), every connection of the pool limits how long each
    statement may run: set when the connection opens, it costs no round trip per transaction
    (compare `make_session_factory`). Only for an engine whose every user wants that limit."""
    server_options = "-c timezone=UTC"
    if statement_timeout is not None:
        server_options += f" -c statement_timeout={_milliseconds(statement_timeout)}"
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=max_overflow,
        # A round trip per checkout, but it turns a connection PostgreSQL closed (restart,
        # failover, idle timeout of a pooler) into a reconnect instead of a failed request;
        # the profile puts it under 1 % of a request's CPU time.
        pool_pre_ping=True,
        pool_recycle=1800,
        connect_args={
            # Timestamps are stored as UTC without a zone.
            "options": server_options,
            # A database that stopped answering must not hang readiness checks and requests.
            "connect_timeout": 5,
        },
        **options,
    )


def make_session_factory(
    engine: Engine, *, statement_timeout: float | None = None
) -> sessionmaker[Session]:
    """Sessions for requests. With `statement_timeout` (seconds), every transaction limits how
    long each of its statements may run, so one pathological query cannot hold a connection:
    for an engine shared with users that want another limit, at the cost of a round trip per
    transaction. An engine of the API's own carries the limit on its connections instead
    (`make_engine`)."""
    factory = sessionmaker(engine, expire_on_commit=False)
    if statement_timeout is not None:
        milliseconds = str(_milliseconds(statement_timeout))

        @event.listens_for(factory, "after_begin")
        def _limit_statements(_: Session, __: SessionTransaction, connection: Connection) -> None:
            # Local to the transaction: the pooled connection goes back without the limit.
            connection.execute(
                text("SELECT set_config('statement_timeout', :value, true)"),
                {"value": milliseconds},
            )

    return factory


def _milliseconds(seconds: float) -> int:
    return max(1, round(seconds * 1000))


# Where a request's session keeps the request it serves, for what depends on the request
# without being handed it (the generation the request read: `auth.principal`).
REQUEST = "request"


async def get_session(request: Request) -> AsyncIterator[Session]:
    """One transaction per request: committed when the endpoint returns, rolled back if it raises.

    Used with `Depends(get_session, scope="function")` so the commit happens before the response
    is sent: a client never sees success for a write that failed to commit.

    Async, because opening a session does no I/O (the connection is taken at the first
    statement): only ending a transaction that used the database goes to the thread pool, and
    a request that never touches the database (a remembered caller, a constant answer) makes
    no trip there at all.
    """
    factory: sessionmaker[Session] = request.app.state.session_factory
    session = factory()
    session.info[REQUEST] = request
    session.begin()
    try:
        yield session
    except BaseException:
        await _end(session, session.rollback)
        raise
    await _end(session, session.commit)


async def _end(session: Session, finish: Callable[[], None]) -> None:
    def end() -> None:
        try:
            finish()
        finally:
            session.close()

    # Ending a transaction that never took a connection sends nothing: done here. Either way
    # it is ended, so a wrong answer could only cost time, never a commit.
    if _used(session):
        await anyio.to_thread.run_sync(end)
    else:
        end()


def _used(session: Session) -> bool:
    """Whether the session's transaction holds a connection (a statement was sent)."""
    transaction = session.get_transaction()
    return transaction is not None and bool(getattr(transaction, "_connections", True))


# What a route declares to get its request's session (see get_session).
DbSession = Annotated[Session, Depends(get_session, scope="function")]
