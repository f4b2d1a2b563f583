"""Checks behind the root and readiness endpoints."""

from __future__ import annotations

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
