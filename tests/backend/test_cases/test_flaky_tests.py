"""The flaky-test list: status flips between consecutive runs per (test case, environment)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import Engine, event, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from test_observer.db.models import TestExecution, TestResult
from test_observer.result_filters.model import TestResultSearchFilters
from test_observer.test_cases.flaky import flaky_test_cases
from tests.backend.executions.conftest import (
    EVERY_PERMISSION,
    c3_result,
    charm,
    result,
    snap,
    start,
)
from tests.backend.statements import count_statements

FLAKY = "/v1/test-cases/flaky"


@pytest.fixture
def api(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client(ignore_permissions=EVERY_PERMISSION)


def run(api: TestClient, statuses: dict[str, str], **start_fields: Any) -> int:
    """One execution in an environment, with one result per test name."""
    payload = charm() if start_fields.pop("family", None) == "charm" else snap(**start_fields)
    execution_id = start(api, payload)
    response = api.post(
        f"/v1/test-executions/{execution_id}/test-results",
        json=[result(name, status) for name, status in statuses.items()],
    )
    assert response.status_code == 200
    return execution_id


def flaky(api: TestClient, **params: Any) -> dict[str, Any]:
    response = api.get(FLAKY, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def listed(body: dict[str, Any]) -> list[tuple[str, str, int, int, int, float]]:
    return [
        (c["test_case"], c["environment"], c["runs"], c["failures"], c["flips"], c["score"])
        for c in body["test_cases"]
    ]


P, F, S = "PASSED", "FAILED", "SKIPPED"


def test_an_alternating_test_ranks_first_and_a_regression_is_not_flaky(api: TestClient) -> None:
    history = {
        "alternating": [P, F, P, F, P, F],
        "regressed": [P, P, P, F, F, F],
        "failed_once": [P, P, F, P, P, P],
        "stable": [P, P, P, P, P, P],
    }
    for i in range(6):
        run(api, {name: statuses[i] for name, statuses in history.items()})

    assert listed(flaky(api)) == [
        ("alternating", "rpi4b", 6, 3, 5, 1.0),
        ("failed_once", "rpi4b", 6, 1, 2, 0.4),
    ]
    # With every pair shown, the regression and the stable test score lowest.
    everything = listed(flaky(api, min_flips=0))
    assert [(row[0], row[4], row[5]) for row in everything] == [
        ("alternating", 5, 1.0),
        ("failed_once", 2, 0.4),
        ("regressed", 1, 0.2),
        ("stable", 0, 0.0),
    ]


def test_runs_are_compared_within_one_environment(api: TestClient) -> None:
    # Interleaved in time, the test always passes on one device and always fails on another.
    for _ in range(5):
        run(api, {"t": P}, environment="good")
        run(api, {"t": F}, environment="broken")
    assert listed(flaky(api)) == []
    rows = listed(flaky(api, min_flips=0))
    assert sorted(rows) == [("t", "broken", 5, 5, 0, 0.0), ("t", "good", 5, 0, 0, 0.0)]


def test_skipped_results_are_not_runs(api: TestClient) -> None:
    for status in [P, S, F, S, P, S, F, S, P]:
        run(api, {"t": status})
    # Five runs (P F P F P): skips neither count nor break the alternation.
    assert listed(flaky(api)) == [("t", "rpi4b", 5, 2, 4, 1.0)]
    assert listed(flaky(api, min_runs=6)) == []


def test_min_runs(api: TestClient) -> None:
    for status in [P, F, P, F]:
        run(api, {"t": status})
    assert flaky(api)["count"] == 0
    assert listed(flaky(api, min_runs=4)) == [("t", "rpi4b", 4, 2, 3, 1.0)]


@pytest.mark.parametrize(
    "params",
    [{"min_runs": 1}, {"min_flips": -1}, {"limit": 1001}, {"offset": -1}, {"families": "x"}],
)
def test_bad_parameters_are_422(api: TestClient, params: dict[str, Any]) -> None:
    assert api.get(FLAKY, params=params).status_code == 422


def test_needs_view_test(client: TestClient) -> None:
    assert client.get(FLAKY).status_code == 403


def test_the_default_window_is_the_last_30_days(api: TestClient, db_session: Session) -> None:
    old = [run(api, {"t": status}) for status in [F, P, F, P]]
    for status in [F, P, F, P, F]:
        run(api, {"t": status})
    db_session.execute(
        update(TestResult)
        .where(TestResult.test_execution_id.in_(old))
        .values(created_at=TestResult.created_at - timedelta(days=40))
    )
    db_session.commit()
    assert listed(flaky(api)) == [("t", "rpi4b", 5, 3, 4, 1.0)]
    since = (datetime.now() - timedelta(days=60)).isoformat()
    assert listed(flaky(api, from_date=since)) == [("t", "rpi4b", 9, 5, 8, 1.0)]
    # An until_date alone ends a 30-day window.
    until = (datetime.now() - timedelta(days=35)).isoformat()
    assert flaky(api, until_date=until, min_runs=4)["test_cases"][0]["runs"] == 4


def test_zoned_dates_are_compared_in_utc(api: TestClient) -> None:
    for status in [P, F, P, F, P]:
        run(api, {"t": status})
    now = datetime.now(UTC)
    # Read without their offsets, these bounds would leave every result out of the window.
    since = (now - timedelta(minutes=10)).astimezone(timezone(timedelta(hours=2)))
    until = (now + timedelta(minutes=1)).astimezone(timezone(timedelta(hours=-5)))
    body = flaky(api, from_date=since.isoformat(), until_date=until.isoformat())
    assert listed(body) == [("t", "rpi4b", 5, 2, 4, 1.0)]


def test_results_search_filters_and_test_plans(api: TestClient) -> None:
    for i in range(5):
        status = P if i % 2 else F
        run(api, {"snap_test": status})
        run(api, {"other_plan": status}, test_plan="nightly")
        run(api, {"elsewhere": status}, environment="lab-9")
        run(api, {"charm_test": status}, family="charm")
    everything = {row[0] for row in listed(flaky(api))}
    assert everything == {"snap_test", "other_plan", "elsewhere", "charm_test"}
    assert {row[0] for row in listed(flaky(api, families="charm"))} == {"charm_test"}
    assert {row[0] for row in listed(flaky(api, environments="lab-9"))} == {"elsewhere"}
    assert {row[0] for row in listed(flaky(api, test_plans="nightly"))} == {"other_plan"}
    assert {row[0] for row in listed(flaky(api, test_cases=["snap_test", "charm_test"]))} == {
        "snap_test",
        "charm_test",
    }


def test_pages_and_count(api: TestClient) -> None:
    names = [f"t{i}" for i in range(5)]
    for i in range(6):
        # t0 flips every run, t1 every run but the first, and so on: distinct scores.
        run(api, {name: (F if (i >= n and (i - n) % 2) else P) for n, name in enumerate(names)})
    first = flaky(api, limit=2)
    assert (first["count"], first["limit"], first["offset"]) == (4, 2, 0)
    second = flaky(api, limit=2, offset=2)
    ranked = [c["test_case"] for c in first["test_cases"] + second["test_cases"]]
    assert ranked == ["t0", "t1", "t2", "t3"]
    scores = [c["score"] for c in first["test_cases"] + second["test_cases"]]
    assert scores == sorted(scores, reverse=True)
    past_the_end = flaky(api, offset=10)
    assert (past_the_end["count"], past_the_end["test_cases"]) == (4, [])
    assert flaky(api, limit=0) | {"test_cases": None} == {
        "count": 4,
        "limit": 0,
        "offset": 0,
        "test_cases": None,
    }


def test_one_statement(api: TestClient, engine: Engine) -> None:
    for status in [P, F, P, F, P]:
        run(api, {"a": status, "b": status})
    for filters in (TestResultSearchFilters(), TestResultSearchFilters(environments=["rpi4b"])):
        with Session(engine) as session, count_statements(engine) as counter:
            response = flaky_test_cases(session, filters)
        assert response.count == 2
        assert counter.count == 1


def test_the_unfiltered_list_reads_its_runs_and_the_failed_pairs_from_indexes(
    api: TestClient, engine: Engine
) -> None:
    for status in [P, F, P, F, P]:
        run(api, {"a": status, "b": P})
    sent: list[tuple[str, Any]] = []

    def capture(*args: Any) -> None:
        sent.append((args[2], args[3]))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        with Session(engine) as session:
            response = flaky_test_cases(session, TestResultSearchFilters())
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    assert [case.test_case for case in response.test_cases] == ["a"]
    statement, parameters = sent[-1]
    # Sizes and statistics of these rows alone: earlier tests in this database leave the
    # tables' pages behind (emptied, not shrunk) and PostgreSQL costs the scans by pages, so
    # without this the chosen index depended on which tests ran before.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("VACUUM FULL ANALYZE test_result, test_execution, test_case")
    with engine.connect() as connection:
        # The tables are tiny here, so PostgreSQL would scan them whatever the indexes: ask
        # whether the indexes can serve the statement at all, as on a large database.
        connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
        plan = json.dumps(
            connection.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {statement}", parameters).scalar()
        )
    assert '"Seq Scan"' not in plan
    assert "test_result_run_history_ix" in plan
    # Only the pairs that failed in the window reach the window function.
    assert "test_result_failed_run_ix" in plan


def test_a_replaced_result_counts_with_its_new_status(api: TestClient) -> None:
    executions = [run(api, {"t": status}) for status in [P, F, P, F, P]]
    assert listed(flaky(api)) == [("t", "rpi4b", 5, 2, 4, 1.0)]
    # Uploaded again into the same executions, the failures become passes: no flips remain.
    for execution_id in executions[1::2]:
        response = api.post(
            f"/v1/test-executions/{execution_id}/test-results", json=[result("t", P)]
        )
        assert response.status_code == 200
    assert listed(flaky(api, min_flips=0)) == [("t", "rpi4b", 5, 0, 0, 0.0)]


# Each result carries a copy of its execution's environment, which the list reads instead of
# the execution's: every way results are written must keep the two equal.


def mismatched_results(db_session: Session) -> tuple[int, int]:
    """(results, results whose environment differs from their execution's)."""
    row = db_session.execute(
        text(
            "SELECT count(*), count(*) FILTER (WHERE r.environment_id <> e.environment_id) "
            "FROM test_result r JOIN test_execution e ON e.id = r.test_execution_id"
        )
    ).one()
    return row[0], row[1]


def test_every_way_of_writing_results_copies_the_execution_environment(
    api: TestClient, db_session: Session
) -> None:
    posted = run(api, {"a": P, "b": F}, environment="lab-1")
    # Replaced by a later upload of the same names.
    api.post(f"/v1/test-executions/{posted}/test-results", json=[result("a", F)])
    start(api, snap(environment="lab-2", ci_link="https://ci/ended"))
    ended = api.put(
        "/v1/test-executions/end-test",
        json={"ci_link": "https://ci/ended", "test_results": [c3_result("a", "fail")]},
    )
    assert ended.status_code == 200
    junit = start(api, snap(environment="lab-3"))
    report = b'<testsuite><testcase classname="c" name="j"><failure/></testcase></testsuite>'
    uploaded = api.post(
        f"/v1/test-executions/{junit}/junit",
        content=report,
        headers={"Content-Type": "application/xml"},
    )
    assert uploaded.status_code == 200
    assert mismatched_results(db_session) == (4, 0)


def test_a_result_cannot_name_another_environment(api: TestClient, db_session: Session) -> None:
    execution_id = run(api, {"t": P}, environment="lab-1")
    other = run(api, {"u": P}, environment="lab-2")
    other_environment = db_session.get(TestExecution, other)
    assert other_environment is not None
    with pytest.raises(IntegrityError):
        db_session.execute(
            update(TestResult)
            .where(TestResult.test_execution_id == execution_id)
            .values(environment_id=other_environment.environment_id)
        )
    db_session.rollback()
    assert mismatched_results(db_session) == (2, 0)


def test_results_follow_their_execution_to_another_environment(
    api: TestClient, db_session: Session
) -> None:
    # No endpoint moves an execution today; should one ever, its results go with it.
    moved = run(api, {"t": P}, environment="lab-1")
    for status in [F, P, F, P]:
        run(api, {"t": status}, environment="lab-2")
    target = db_session.scalar(
        select(TestExecution.environment_id).where(TestExecution.id != moved).limit(1)
    )
    db_session.execute(
        update(TestExecution).where(TestExecution.id == moved).values(environment_id=target)
    )
    db_session.commit()
    assert mismatched_results(db_session) == (5, 0)
    assert listed(flaky(api)) == [("t", "lab-2", 5, 2, 4, 1.0)]
