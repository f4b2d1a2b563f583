"""What a job runs with: the settings, a way to open database sessions and HTTP clients."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from test_observer.db.engine import make_engine, make_session_factory
from test_observer.settings import Settings


@dataclass
class JobEnvironment:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]

    @classmethod
    def from_settings(cls, settings: Settings) -> JobEnvironment:
        if not settings.db_url:
            raise ValueError("DB_URL is not set")
        engine = make_engine(
            settings.db_url,
            pool_size=settings.worker_db_pool_size,
            max_overflow=settings.worker_db_max_overflow,
        )
        return cls(settings=settings, engine=engine, sessions=make_session_factory(engine))

    def http(self) -> httpx.Client:
        """A client for one job run. Every request has a timeout, so no job waits forever."""
        return httpx.Client(
            timeout=httpx.Timeout(self.settings.http_timeout_s),
            follow_redirects=True,
            headers={"User-Agent": "test-observer"},
        )

    def close(self) -> None:
        self.engine.dispose()
