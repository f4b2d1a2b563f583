"""Bulk attachment of an issue by filter on a seeded dataset: `uv run tox -e bench`.

Not part of the default test run. It seeds a database of its own through the service code
(`test-observer seed` with about 110,000 results; BENCH_ATTACH_EXECUTIONS changes the size),
then times, through the API, attaching one issue to every result a filter matches, attaching
again when every match is attached already, detaching them, and attaching them again straight
after the detach, before vacuum has cleared the detached rows (each new row must then step
over a dead one with the same key). Each run starts from a vacuumed table, as autovacuum
leaves it between a day's triage sessions; each figure is the median of a few runs. A last
attach runs with statistics taken while everything was attached, which once made PostgreSQL
plan the selection by nested loops (seconds instead of a fraction of one). When the database
server runs on this machine, it also reports the CPU time the server spent on one attach,
which does not depend on how busy the machine is.

It prints a table and fails when an attach takes a second or more.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from test_observer.app import create_app
from test_observer.db import migrate
from test_observer.db.engine import make_engine, make_session_factory
from test_observer.db.models import FamilyName, IssueTestResultAttachment, Permission
from test_observer.issues.attachments import attach
from test_observer.issues.schemas import IssueAttachmentRequest
from test_observer.result_filters.model import TestResultSearchFilters
from test_observer.seeding.seed import SeedPlan, seed
from test_observer.settings import Settings
from tests.database import scratch_database

RUNS = 5
TARGET_S = 1.0
# Every family: the filter selects every result of the dataset.
FILTERS = {"families": [family.value for family in FamilyName]}
TABLE = IssueTestResultAttachment.__tablename__


@pytest.fixture(scope="module")
def seeded(database_server: str) -> Iterator[str]:
    with scratch_database(database_server, "attach") as url:
        migrate.upgrade(url)
        engine = make_engine(url)
        plan = SeedPlan(
            artefacts=60,
            architectures=2,
            environments=4,
            executions=int(os.environ.get("BENCH_ATTACH_EXECUTIONS", "620")),
            results=200,
            issues=0,
        )
        began = time.monotonic()
        counts = seed(make_session_factory(engine), plan, Settings(db_url=url))
        print(f"\nseeded {counts['results']:,} results in {time.monotonic() - began:.0f} s")
        engine.dispose()
        yield url


def _timed(client: TestClient, path: str, body: dict[str, Any]) -> float:
    began = time.perf_counter()
    response = client.post(path, json=body)
    elapsed = time.perf_counter() - began
    assert response.status_code == 200, response.text
    return elapsed


def _run(engine: Any, *statements: str) -> None:
    """Statements outside a transaction (VACUUM cannot run in one)."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        for statement in statements:
            connection.execute(text(statement))


def _cpu_seconds(pid: int) -> float | None:
    """User and system CPU time of a local process, or None when it cannot be read."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _server_cpu_of_one_attach(engine: Any, issue_id: int) -> float | None:
    request = IssueAttachmentRequest(test_results_filters=TestResultSearchFilters(**FILTERS))
    _run(engine, f"DELETE FROM {TABLE}", f"VACUUM {TABLE}")
    with Session(engine) as session:
        pid = session.scalar(select(func.pg_backend_pid()))
        before = _cpu_seconds(pid) if pid else None
        attach(session, issue_id, request)
        session.commit()
        after = _cpu_seconds(pid) if pid else None
    return None if before is None or after is None else after - before


def _attach_with_stale_statistics(
    client: TestClient, engine: Any, path: str, body: dict[str, Any]
) -> float:
    """One attach into an empty table whose statistics say that everything is attached."""
    _run(engine, f"ALTER TABLE {TABLE} SET (autovacuum_enabled = false)")
    try:
        _timed(client, path, body)
        _run(engine, f"ANALYZE {TABLE}", f"DELETE FROM {TABLE}")
        return _timed(client, path, body)
    finally:
        _run(engine, f"ALTER TABLE {TABLE} RESET (autovacuum_enabled)")


def test_bulk_attach_by_filter(seeded: str) -> None:
    engine = make_engine(seeded)
    settings = Settings(db_url=seeded, ignore_permissions=frozenset(Permission))
    client = TestClient(create_app(settings, engine=engine))
    issue = client.put("/v1/issues", json={"url": "https://github.com/acme/bench/issues/1"})
    issue_id = issue.json()["id"]
    url = f"/v1/issues/{issue_id}"
    body = {"test_results_filters": FILTERS}

    timings: dict[str, list[float]] = {}
    attached = 0
    for _ in range(RUNS):
        _run(engine, f"VACUUM {TABLE}")
        for step, action in (
            ("attach", "attach"),
            ("again", "attach"),
            ("detach", "detach"),
            ("reattach", "attach"),
            ("detach again", "detach"),
        ):
            timings.setdefault(step, []).append(_timed(client, f"{url}/{action}", body))
            if step == "attach":
                with Session(engine) as session:
                    counted = select(func.count()).select_from(IssueTestResultAttachment)
                    attached = session.scalar(counted) or 0
    cpu = _server_cpu_of_one_attach(engine, issue_id)
    stale_s = _attach_with_stale_statistics(client, engine, f"{url}/attach", body)
    engine.dispose()

    figures = {
        f"attach {attached:,} results": statistics.median(timings["attach"]),
        "attach again (all present)": statistics.median(timings["again"]),
        f"detach {attached:,} results": statistics.median(timings["detach"]),
        "attach again right after detaching": statistics.median(timings["reattach"]),
        "attach, statistics of all attached": stale_s,
    }
    print(f"\nmedians of {RUNS} runs, but for the attach with stale statistics: one run")
    for name, seconds in figures.items():
        print(f"{name:<36} {seconds * 1000:8.0f} ms")
    if cpu is not None:
        print(f"{'server CPU for one attach':<36} {cpu * 1000:8.0f} ms")
    print(f"load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    assert attached >= 100_000, "the dataset is too small for the benchmark"
    slow = [
        name
        for name, seconds in figures.items()
        if not name.startswith("detach") and seconds >= TARGET_S
    ]
    assert not slow, f"a second or more: {slow}"
