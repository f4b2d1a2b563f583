"""Checks behind the root, readiness and serving endpoints."""

from __future__ import annotations

from functools import cache

from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session


def ping(session: Session) -> None:
    """One round trip on the request's session; fails if the database does not answer."""
    session.execute(text("SELECT 1"))


def database_reachable(engine: Engine) -> bool:
    """Whether a new connection can be opened and used, independently of any request."""
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError:
        return False
    return True


@cache
def _code_heads() -> frozenset[str]:
    from test_observer.db import migrate

    return frozenset(migrate.heads())


def schema_is_current(engine: Engine) -> bool:
    """Whether the database is reachable and at exactly this code's schema head."""
    try:
        with engine.connect() as connection:
            revisions = set(connection.scalars(text("SELECT version_num FROM alembic_version")))
    except SQLAlchemyError:
        return False
    return bool(revisions) and revisions == _code_heads()
