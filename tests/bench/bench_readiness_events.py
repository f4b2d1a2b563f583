"""What announcing readiness changes adds to the writes that can cause them:
`uv run --frozen pytest tests/bench/bench_readiness_events.py -s -p no:cacheprovider`.

Against a migrated database of its own, planted with bench_readiness' large release (a snap
whose version 2 and previous version 1 each ran 60 environments x 2,000 results), three writes
to version 2, each timed alternately with no webhook wanting `artefact.readiness_changed` (one
wants another event) and with one wanting it, in the same run:

* `POST /v1/test-executions/{id}/test-results` of 1,000 results to one of its executions;
* `PUT /v1/test-executions/end-test` of 1,000 results to an execution of its own;
* `PATCH /v1/artefacts/{id}/environment-reviews/{review id}` deciding a review and undoing it.

None of them flips the verdict. Three states of the release:

* under test, as planted: reviews undecided and failures untriaged. The cheap rules hold it
  back, and readiness is not computed;
* decided: every review approved and every failure triaged, only the regressions hold it back;
  the cheap rules find a regression among the failures;
* ready: every failure quarantined besides. Each subscribed write computes the whole readiness
  (the comparison of 240,000 results) to know it is still ready.

The difference of the medians is what the announcement costs. It prints the figures with the
load average; nothing is asserted about them.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import Engine, text
from starlette.testclient import TestClient

from test_observer.app import create_app
from test_observer.db import migrate
from test_observer.db.engine import make_engine
from test_observer.db.models import Permission
from test_observer.settings import Settings
from tests.bench.bench_readiness import _plant
from tests.database import scratch_database

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "15"))
RESULTS = 1000


@pytest.fixture(scope="module")
def database(database_server: str) -> Iterator[tuple[Engine, str]]:
    with scratch_database(database_server, "bench_readiness_events") as url:
        migrate.upgrade(url)
        _plant(url, versions=2)
        engine = make_engine(url)
        yield engine, url
        engine.dispose()


def _load() -> str:
    return ", ".join(f"{figure:.2f}" for figure in os.getloadavg())


def test_announcing_readiness_cost_per_write(database: tuple[Engine, str]) -> None:
    engine, url = database
    every = ",".join(permission.value for permission in Permission)
    settings = Settings(db_url=url, ignore_permissions=every)  # type: ignore[arg-type]
    client = TestClient(create_app(settings, engine=engine), client=("127.0.0.1", 50000))
    with engine.begin() as connection:
        current = connection.scalar(
            text("SELECT max(id) FROM artefact WHERE name = 'bench-release'")
        )
        posted, review = connection.execute(
            text(
                "SELECT x.id, r.id FROM test_execution x "
                "JOIN artefact_build b ON b.id = x.artefact_build_id "
                "JOIN artefact_build_environment_review r "
                "  ON r.artefact_build_id = b.id AND r.environment_id = x.environment_id "
                "WHERE b.artefact_id = :id ORDER BY x.id LIMIT 1"
            ),
            {"id": current},
        ).one()
        # An execution of its own for end-test, on an environment of its own.
        connection.execute(
            text("INSERT INTO environment (name, architecture) VALUES ('bench-extra', 'amd64')")
        )
        connection.execute(
            text(
                "INSERT INTO test_execution (artefact_build_id, environment_id, test_plan_id, "
                "status, resource_url, ci_link) SELECT artefact_build_id, "
                "(SELECT id FROM environment WHERE name = 'bench-extra'), "
                "test_plan_id, 'IN_PROGRESS', '', 'https://ci.example.com/bench/1' "
                "FROM test_execution WHERE id = :id"
            ),
            {"id": posted},
        )
    webhook = client.post(
        "/v1/webhooks",
        json={
            "url": "https://hooks.example.com/in",
            "event_types": ["artefact.readiness_changed"],
            "active": False,
        },
    ).json()["id"]
    client.post(
        "/v1/webhooks",
        json={"url": "https://hooks.example.com/x", "event_types": ["issue.attached"]},
    )

    names = [f"bench-release/test_{n}" for n in range(51, 51 + RESULTS)]
    json_results = [
        {"name": name, "status": "FAILED" if n % 100 == 7 else "PASSED"}
        for n, name in enumerate(names, start=51)
    ]
    c3_results = [
        {
            "name": name,
            "status": "pass",
            "category": "Bench",
            "comment": "",
            "io_log": "",
        }
        for n, name in enumerate(names, start=51)
    ]
    flip = [False]
    # The decision the review alternates with: none while under test, another approval after.
    otherwise: list[str] = []

    def post() -> None:
        response = client.post(f"/v1/test-executions/{posted}/test-results", json=json_results)
        assert response.status_code == 200, response.text

    def end_test() -> None:
        response = client.put(
            "/v1/test-executions/end-test",
            json={"ci_link": "https://ci.example.com/bench/1", "test_results": c3_results},
        )
        assert response.status_code == 200, response.text

    def decide() -> None:
        flip[0] = not flip[0]
        body = {"review_decision": ["APPROVED_ALL_TESTS_PASS"] if flip[0] else otherwise}
        response = client.patch(f"/v1/artefacts/{current}/environment-reviews/{review}", json=body)
        assert response.status_code == 200, response.text

    writes: dict[str, Callable[[], None]] = {
        "POST 1,000 results": post,
        "end-test with 1,000 results": end_test,
        "PATCH a review decision": decide,
    }

    def subscribed(on: bool) -> None:
        with engine.begin() as connection:
            connection.execute(
                text("UPDATE webhook SET active = :on WHERE id = :id"), {"on": on, "id": webhook}
            )

    print(f"\nrounds: {ROUNDS}")
    _regressions_server_ms(engine, posted, current - 1)
    _measure(engine, writes, subscribed, "under test (reviews undecided, failures untriaged)")
    _held_back_server_ms(engine, current)
    with engine.begin() as connection:
        connection.execute(
            text(
                "UPDATE artefact_build_environment_review r SET review_decision = "
                "'{APPROVED_ALL_TESTS_PASS}' FROM artefact_build b "
                "WHERE b.id = r.artefact_build_id AND b.artefact_id = :id"
            ),
            {"id": current},
        )
        connection.execute(
            text(
                "INSERT INTO issue (source, project, key, title, status) VALUES "
                "('GITHUB', 'bench/release', '1', 'Known', 'OPEN')"
            )
        )
        connection.execute(
            text(
                "INSERT INTO issue_test_result_attachment (issue_id, test_result_id) "
                "SELECT (SELECT max(id) FROM issue), t.id FROM test_result t "
                "JOIN test_execution x ON x.id = t.test_execution_id "
                "JOIN artefact_build b ON b.id = x.artefact_build_id "
                "WHERE b.artefact_id = :id AND t.status = 'FAILED'"
            ),
            {"id": current},
        )
    otherwise.append("APPROVED_INCONSISTENT_TEST")
    _measure(engine, writes, subscribed, "decided (only the regressions hold it back)")
    _held_back_server_ms(engine, current)
    # Every failing test case quarantined: ready, and each write computes readiness in full.
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO quarantine (test_case_id, reason) SELECT DISTINCT t.test_case_id, "
                "'bench' FROM test_result t JOIN test_execution x ON x.id = t.test_execution_id "
                "JOIN artefact_build b ON b.id = x.artefact_build_id "
                "WHERE b.artefact_id = :id AND t.status = 'FAILED'"
            ),
            {"id": current},
        )
    subscribed(True)
    post()  # records the verdict: ready
    _measure(engine, writes, subscribed, "ready (every failure triaged or quarantined)")
    _held_back_server_ms(engine, current)


def _regressions_server_ms(engine: Engine, execution_id: int, base_id: int) -> None:
    """`test_execution.ended`'s regression count of one execution's cell (2,000 results
    against the previous version's 2,000), as PostgreSQL times it."""
    from test_observer.artefacts.cell_regressions import _COUNT

    times = []
    with engine.connect() as connection:
        for _ in range(10):
            plan = connection.execute(
                text(f"EXPLAIN (ANALYZE, FORMAT JSON) {_COUNT.text}"),
                {"execution_ids": [execution_id], "base_ids": [base_id]},
            ).scalar_one()
            times.append(float(plan[0]["Planning Time"] + plan[0]["Execution Time"]))
    print(f"regressions of one cell, server time, median of 10: {statistics.median(times):.1f} ms")


def _held_back_server_ms(engine: Engine, artefact_id: int) -> None:
    """The cheap rules' statement as PostgreSQL times it (planning and execution)."""
    from test_observer.artefacts.readiness_events import _HELD_BACK

    times = []
    with engine.connect() as connection:
        for _ in range(10):
            plan = connection.execute(
                text(f"EXPLAIN (ANALYZE, FORMAT JSON) {_HELD_BACK.text}"),
                {"ids": [artefact_id], "base_ids": [artefact_id - 1]},
            ).scalar_one()
            times.append(float(plan[0]["Planning Time"] + plan[0]["Execution Time"]))
    print(f"cheap rules' statement, server time, median of 10: {statistics.median(times):.1f} ms")


def _measure(
    engine: Engine,
    writes: dict[str, Callable[[], None]],
    subscribed: Callable[[bool], None],
    state: str,
) -> None:
    def timed(write: Callable[[], None]) -> float:
        start = time.perf_counter()
        write()
        return (time.perf_counter() - start) * 1000

    for write in writes.values():  # warm-up, both ways
        for on in (False, True):
            subscribed(on)
            write()
    times: dict[tuple[str, bool], list[float]] = {
        (name, on): [] for name in writes for on in (False, True)
    }
    load_before = _load()
    announced = _announced(engine)
    for round_ in range(ROUNDS):
        for on in (False, True) if round_ % 2 else (True, False):
            subscribed(on)
            for name, write in writes.items():
                times[(name, on)].append(timed(write))
    # No write changed the verdict: no event was written.
    assert _announced(engine) == announced

    print(f"\n{state}; load average before: {load_before}; after: {_load()}")
    print("| write | not subscribed, median ms | subscribed, median ms | added, ms |")
    print("| --- | --- | --- | --- |")
    for name in writes:
        without = statistics.median(times[(name, False)])
        with_ = statistics.median(times[(name, True)])
        print(f"| {name} | {without:.0f} | {with_:.0f} | {with_ - without:+.0f} |")


def _announced(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(
            connection.scalar(
                text(
                    "SELECT count(*) FROM webhook_event "
                    "WHERE event_type = 'artefact.readiness_changed'"
                )
            )
            or 0
        )
