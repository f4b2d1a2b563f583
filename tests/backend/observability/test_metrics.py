"""The metrics endpoint: HTTP metrics per process, domain series from the database."""

from __future__ import annotations

import gzip
import threading
import time
import urllib.request
from collections.abc import Callable
from datetime import datetime, timedelta

from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, text, update
from sqlalchemy.orm import Session

from test_observer.db.models import (
    Issue,
    IssueSource,
    IssueTestResultAttachment,
    TestResult,
)
from test_observer.db.models.base import Base
from test_observer.observability.collector import DomainCollector
from test_observer.observability.series import DOMAIN_SERIES
from tests.backend.executions.conftest import result, snap, start
from tests.backend.executions.live import serve
from tests.backend.observability.conftest import Unit

# The labels of the result posted below, as the original's dashboards query them.
FAILED_RESULT = {
    "family": "snap",
    "artefact_name": "core22",
    "artefact_stage": "beta",
    "track": "22",
    "series": "",
    "os": "",
    "environment_name": "rpi4b",
    "test_plan": "iot-smoke",
    "test_name": "wifi/connect",
    "status": "FAILED",
}


def post_results(unit: Unit, *results: dict[str, str]) -> int:
    execution_id = start(unit.client, snap())
    response = unit.client.post(f"/v1/test-executions/{execution_id}/test-results", json=results)
    assert response.status_code == 200, response.text
    return execution_id


def test_one_failed_result_adds_exactly_one_on_every_unit(make_unit: Callable[..., Unit]) -> None:
    first, second = make_unit(), make_unit()
    post_results(first, result("wifi/connect", "FAILED"), result("wifi/scan"))
    before = [unit.value("test_observer_test_results", **FAILED_RESULT) for unit in (first, second)]

    post_results(second, result("wifi/connect", "FAILED"))

    after = [unit.value("test_observer_test_results", **FAILED_RESULT) for unit in (first, second)]
    assert before == [1, 1]
    assert after == [2, 2]
    passed = {**FAILED_RESULT, "test_name": "wifi/scan", "status": "PASSED"}
    assert first.value("test_observer_test_results", **passed) == 1


def test_triaged_series_counts_results_attached_to_an_issue(
    make_unit: Callable[..., Unit], db_session: Session
) -> None:
    unit = make_unit()
    post_results(unit, result("wifi/connect", "FAILED"))
    issue = Issue(source=IssueSource.JIRA, project="IOT", key="IOT-42")
    db_session.add(issue)
    db_session.flush()
    result_id = db_session.query(TestResult.id).scalar()
    db_session.add(IssueTestResultAttachment(issue_id=issue.id, test_result_id=result_id))
    db_session.commit()

    labels = {
        **FAILED_RESULT,
        "issue_source": "jira",
        "issue_project": "IOT",
        "issue_key": "IOT-42",
    }
    assert unit.value("test_observer_test_results_triaged", **labels) == 1

    db_session.query(IssueTestResultAttachment).delete()
    db_session.commit()
    assert unit.value("test_observer_test_results_triaged", **labels) == 0


def test_metadata_series_counts_results_per_metadata_pair(make_unit: Callable[..., Unit]) -> None:
    unit = make_unit()
    execution_id = post_results(unit, result("wifi/connect", "FAILED"), result("wifi/scan"))
    patch = unit.client.patch(
        f"/v1/test-executions/{execution_id}",
        json={"execution_metadata": {"board": ["rev1", "rev2"]}},
    )
    assert patch.status_code == 200, patch.text

    for value in ("rev1", "rev2"):
        labels = {**FAILED_RESULT, "metadata_category": "board", "metadata_value": value}
        assert unit.value("test_observer_test_results_metadata", **labels) == 1


def test_the_series_carry_the_original_label_sets(make_unit: Callable[..., Unit]) -> None:
    unit = make_unit()
    post_results(unit, result("wifi/connect", "FAILED"))
    labels = {name: list(FAILED_RESULT) for name in ("test_observer_test_results",)}
    samples = unit.scrape()
    assert [sorted(found) for found, _ in samples["test_observer_test_results"]] == [
        sorted(labels["test_observer_test_results"])
    ]
    assert [series.labels for series in DOMAIN_SERIES] == [
        tuple(FAILED_RESULT),
        (*FAILED_RESULT, "issue_source", "issue_project", "issue_key"),
        (*FAILED_RESULT, "metadata_category", "metadata_value"),
        # Executions per version and revision (test_execution_metrics.py).
        (
            "family",
            "artefact_name",
            "artefact_version",
            "revision",
            "artefact_stage",
            "track",
            "environment_name",
            "status",
        ),
        # The background jobs' series (test_job_metrics.py).
        ("task", "status"),
        ("task", "status"),
        ("task",),
        ("queue", "task", "status"),
        # The webhooks' series (tests/backend/webhooks).
        ("webhook_id", "status"),
        ("webhook_id",),
        ("webhook_id",),
        ("webhook_id",),
    ]


def test_results_older_than_init_days_are_not_counted(
    make_unit: Callable[..., Unit], db_session: Session
) -> None:
    unit = make_unit(metrics_init_days=7)
    post_results(unit, result("wifi/connect", "FAILED"))
    assert unit.value("test_observer_test_results", **FAILED_RESULT) == 1

    db_session.execute(update(TestResult).values(created_at=datetime.now() - timedelta(days=8)))
    db_session.commit()
    assert unit.value("test_observer_test_results", **FAILED_RESULT) == 0
    everything = make_unit(metrics_init_days=0)
    assert everything.value("test_observer_test_results", **FAILED_RESULT) == 1


def domain_value(collector: DomainCollector, name: str, labels: dict[str, str]) -> float | None:
    for family in text_string_to_metric_families(collector.exposition().decode()):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return None


def test_counts_are_reused_until_the_cache_expires(
    make_unit: Callable[..., Unit], engine: Engine
) -> None:
    unit = make_unit()
    now = [1000.0]
    collector = DomainCollector(
        engine, cache_seconds=30, init_days=0, refresh_wait_seconds=60, clock=lambda: now[0]
    )

    def failed() -> float | None:
        return domain_value(collector, "test_observer_test_results", FAILED_RESULT)

    assert failed() is None
    post_results(unit, result("wifi/connect", "FAILED"))
    now[0] += 29
    assert failed() is None
    now[0] += 2
    assert failed() == 1


def test_a_slow_refresh_serves_the_previous_counts_meanwhile(
    make_unit: Callable[..., Unit], engine: Engine
) -> None:
    unit = make_unit()
    post_results(unit, result("wifi/connect", "FAILED"))
    collector = DomainCollector(engine, cache_seconds=0, init_days=0, refresh_wait_seconds=0.2)
    assert domain_value(collector, "test_observer_test_results", FAILED_RESULT) == 1
    post_results(unit, result("wifi/scan", "FAILED"))
    scan = {**FAILED_RESULT, "test_name": "wifi/scan"}

    with engine.connect() as locker:
        locker.execute(text("LOCK TABLE test_result IN ACCESS EXCLUSIVE MODE"))
        started = time.perf_counter()
        assert domain_value(collector, "test_observer_test_results", scan) is None
        assert time.perf_counter() - started < 5
        locker.rollback()

    deadline = time.monotonic() + 30
    while domain_value(collector, "test_observer_test_results", scan) is None:
        assert time.monotonic() < deadline
        time.sleep(0.1)


def test_gzip_scrapes_carry_the_same_series(make_unit: Callable[..., Unit]) -> None:
    unit = make_unit()
    post_results(unit, result("wifi/connect", "FAILED"))
    request = urllib.request.Request(
        f"http://127.0.0.1:{unit.metrics.port}/metrics", headers={"Accept-Encoding": "gzip"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.headers["Content-Encoding"] == "gzip"
        text_body = gzip.decompress(response.read()).decode()
    families = {family.name for family in text_string_to_metric_families(text_body)}
    assert {"test_observer_test_results", "test_observer_api_http_requests"} <= families


def test_database_down_is_reported_not_raised(make_unit: Callable[..., Unit]) -> None:
    from sqlalchemy import create_engine

    unreachable = create_engine(
        "postgresql+psycopg://nobody@127.0.0.1:1/none", connect_args={"connect_timeout": 1}
    )
    collector = DomainCollector(unreachable, cache_seconds=0, init_days=0)
    registry = CollectorRegistry()
    registry.register(collector)
    assert collector.exposition() == b""
    assert registry.get_sample_value("test_observer_database_up") == 0
    unit = make_unit()
    assert unit.value("test_observer_database_up") == 1


def test_http_metrics_use_the_original_names(make_unit: Callable[..., Unit]) -> None:
    unit = make_unit()
    assert unit.client.get("/v1/version").status_code == 200
    assert unit.client.get("/v1/artefacts/424242").status_code == 404

    requests = {"handler": "/v1/version", "method": "GET", "status": "2xx"}
    assert unit.value("test_observer_api_http_requests_total", **requests) == 1
    not_found = {"handler": "/v1/artefacts/{artefact_id}", "method": "GET", "status": "4xx"}
    assert unit.value("test_observer_api_http_requests_total", **not_found) == 1
    samples = unit.scrape()
    for name in (
        "test_observer_api_http_request_duration_seconds_bucket",
        "test_observer_api_http_request_duration_highr_seconds_bucket",
        "test_observer_api_http_request_size_bytes_count",
        "test_observer_api_http_response_size_bytes_count",
        "test_observer_api_http_requests_inprogress",
        "test_observer_db_pool_size",
        "test_observer_db_pool_checked_out",
    ):
        assert name in samples, name
    # Named by route template like the other HTTP series; no request is in progress now.
    assert ({"handler": "/v1/version", "method": "GET"}, 0.0) in samples[
        "test_observer_api_http_requests_inprogress"
    ]


def test_health_answers_while_a_scrape_waits(
    make_unit: Callable[..., Unit], engine: Engine
) -> None:
    unit = make_unit()
    finished = threading.Event()
    with engine.connect() as locker, serve(unit.client.app) as base_url:  # type: ignore[arg-type]
        # Hold every results table so that the scrape's queries wait.
        tables = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
        locker.execute(text(f"LOCK TABLE {tables} IN ACCESS EXCLUSIVE MODE"))

        def scrape_once() -> None:
            unit.scrape_text()
            finished.set()

        scrape = threading.Thread(target=scrape_once)
        scrape.start()
        time.sleep(0.3)
        assert not finished.is_set()

        # The scrape waits for as long as the lock is held, so an answer at all (before the
        # client gives up) shows health does not queue behind it; no time limit is asserted,
        # which a busy machine failed now and then.
        with urllib.request.urlopen(f"{base_url}/health/live", timeout=5) as response:
            assert response.status == 200
        assert not finished.is_set()
        locker.rollback()
    scrape.join(timeout=30)
    assert finished.is_set()
