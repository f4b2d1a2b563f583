"""Units of the API as deployed: an app with its own pool and registry, and its metrics server."""

from __future__ import annotations

import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine
from starlette.testclient import TestClient

from test_observer.app import create_app
from test_observer.db.engine import make_engine
from test_observer.db.models import Permission
from test_observer.jobs import queue
from test_observer.jobs.environment import JobEnvironment
from test_observer.jobs.registry import get_job
from test_observer.observability.metrics import MetricsServer, start_metrics_server
from test_observer.settings import Settings
from tests.backend.conftest import LOCAL_CLIENT
from tests.backend.jobs.conftest import job_settings

EVERY_PERMISSION = ",".join(permission.value for permission in Permission)

Labels = dict[str, str]


@dataclass
class Unit:
    client: TestClient
    metrics: MetricsServer

    def scrape_text(self) -> str:
        url = f"http://127.0.0.1:{self.metrics.port}/metrics"
        with urllib.request.urlopen(url, timeout=30) as response:
            body: bytes = response.read()
        return body.decode()

    def scrape(self) -> dict[str, list[tuple[Labels, float]]]:
        """Sample name -> (labels, value) of every sample in a real scrape."""
        samples: dict[str, list[tuple[Labels, float]]] = {}
        for family in text_string_to_metric_families(self.scrape_text()):
            for sample in family.samples:
                samples.setdefault(sample.name, []).append((sample.labels, sample.value))
        return samples

    def value(self, name: str, **labels: str) -> float:
        """The value of the one sample with exactly these labels; 0 when absent."""
        matching = [value for found, value in self.scrape().get(name, []) if found == labels]
        assert len(matching) <= 1
        return matching[0] if matching else 0.0


@pytest.fixture
def make_unit(database_url: str, engine: Engine) -> Iterator[Callable[..., Unit]]:
    """Builds units on the test database (which `engine` empties after the test)."""
    started: list[Unit] = []

    def build(**settings: object) -> Unit:
        options: dict[str, object] = {
            "db_url": database_url,
            "ignore_permissions": EVERY_PERMISSION,
            "metrics_cache_seconds": 0,
            **settings,
        }
        unit_settings = Settings(**options)  # type: ignore[arg-type]
        registry = CollectorRegistry()
        engine = make_engine(database_url)
        app = create_app(unit_settings, engine=engine, registry=registry)
        # Waits for every refresh, so that each scrape shows the database as it is.
        server = start_metrics_server(
            unit_settings, registry=registry, host="127.0.0.1", port=0, refresh_wait_seconds=60
        )
        assert server is not None
        unit = Unit(TestClient(app, client=LOCAL_CLIENT), server)
        started.append(unit)
        return unit

    yield build
    for unit in started:
        unit.metrics.stop()
        unit.client.app.state.engine.dispose()  # type: ignore[attr-defined]


def defer_jobs(database_url: str, *jobs: tuple[str, ...]) -> list[int]:
    """Queue each (job, *arguments) as `test-observer jobs defer` does; the jobs' ids."""
    settings = job_settings(database_url, disable_periodic_tasks=True)
    return [queue.defer(settings, get_job(name), list(arguments)) for name, *arguments in jobs]


def run_queued_jobs(database_url: str, **settings: object) -> None:
    """Work through the queue until it is empty, as `test-observer worker` does, in this
    process. External services are unreachable unless `settings` point somewhere."""
    env = JobEnvironment.from_settings(
        job_settings(database_url, disable_periodic_tasks=True, **settings)
    )
    try:
        queue.build_app(env).run_worker(wait=False, install_signal_handlers=False)
    finally:
        env.close()
