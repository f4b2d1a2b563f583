"""Each execution's results per status, and the results search's `count` built from them."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from test_observer.db.models import TestExecution, TestResult
from tests.backend.executions.conftest import c3_result, deb, result, snap, start
from tests.backend.statements import count_statements

END = "/v1/test-executions/end-test"
SEARCH = "/v1/test-results"


def results_url(execution_id: int) -> str:
    return f"/v1/test-executions/{execution_id}/test-results"


def kept(session: Session, execution_id: int) -> tuple[int, int, int]:
    session.expire_all()
    row = session.execute(
        select(
            TestExecution.passed_count, TestExecution.failed_count, TestExecution.skipped_count
        ).where(TestExecution.id == execution_id)
    ).one()
    return (row[0], row[1], row[2])


def counted(session: Session, execution_id: int) -> tuple[int, int, int]:
    per_status = dict(
        session.execute(
            select(TestResult.status, func.count())
            .where(TestResult.test_execution_id == execution_id)
            .group_by(TestResult.status)
        ).all()
    )
    return (
        per_status.get("PASSED", 0),
        per_status.get("FAILED", 0),
        per_status.get("SKIPPED", 0),
    )


def test_counts_follow_every_way_results_are_written(api: TestClient, db_session: Session) -> None:
    execution_id = start(api, snap(ci_link="https://ci/counts"))
    assert kept(db_session, execution_id) == (0, 0, 0)

    api.post(results_url(execution_id), json=[result("a"), result("b", "FAILED")])
    assert kept(db_session, execution_id) == (1, 1, 0)
    # A result posted again under its name replaces the first: its status moves.
    api.post(results_url(execution_id), json=[result("a", "SKIPPED"), result("c")])
    assert kept(db_session, execution_id) == (1, 1, 1) == counted(db_session, execution_id)

    end = {"ci_link": "https://ci/counts", "test_results": [c3_result("x", "fail")]}
    assert api.put(END, json=end).status_code == 200
    assert kept(db_session, execution_id) == (0, 1, 0) == counted(db_session, execution_id)
    assert api.put(END, json=end | {"test_results": []}).status_code == 200
    assert kept(db_session, execution_id) == (0, 0, 0)

    report = (
        b'<testsuite name="s"><testcase classname="k" name="ok"/>'
        b'<testcase classname="k" name="bad"><failure message="no"/></testcase>'
        b'<testcase classname="k" name="later"><skipped/></testcase></testsuite>'
    )
    response = api.post(
        f"/v1/test-executions/{execution_id}/junit",
        content=report,
        headers={"Content-Type": "application/xml"},
    )
    assert response.status_code == 200, response.text
    assert kept(db_session, execution_id) == (1, 1, 1) == counted(db_session, execution_id)


def metadata(category: str, value: str) -> str:
    def encode(text: str) -> str:
        return base64.b64encode(text.encode()).decode()

    return f"{encode(category)}:{encode(value)}"


@pytest.fixture
def history(api: TestClient) -> dict[str, int]:
    """Executions of two families on two environments, with results of every status."""
    ids = {}
    for index, (payload, statuses) in enumerate(
        [
            (snap(environment="rpi4b"), ["PASSED", "FAILED", "SKIPPED", "PASSED"]),
            (snap(environment="rpi5", version="2"), ["PASSED", "PASSED"]),
            (snap(environment="rpi4b", version="2"), ["FAILED"]),
            (deb(), ["SKIPPED", "PASSED", "FAILED"]),
            (deb(environment="nuc"), []),
        ]
    ):
        execution_id = start(api, payload)
        posted = [result(f"case{i}", status) for i, status in enumerate(statuses)]
        if posted:
            api.post(results_url(execution_id), json=posted)
        ids[f"execution{index}"] = execution_id
    lab = {"execution_metadata": {"lab": ["x"]}}
    api.patch(f"/v1/test-executions/{ids['execution0']}", json=lab)
    api.patch(f"/v1/test-executions/{ids['execution2']}", json={"status": "FAILED"})
    return ids


FILTERS: list[dict[str, Any]] = [
    {},
    {"families": "snap"},
    {"families": ["snap", "deb"], "test_result_statuses": "FAILED"},
    {"test_result_statuses": ["PASSED", "SKIPPED"]},
    {"environments": "rpi4b", "test_result_statuses": "PASSED"},
    {"artefact_versions": "2"},
    {"test_execution_statuses": "FAILED"},
    {"execution_metadata": metadata("lab", "x")},
    {"execution_is_latest": "true"},
    {"rerun_is_requested": "false", "families": "deb"},
    # Filters on the results themselves count the matching results.
    {"test_cases": ["case0", "case2"]},
    {"template_ids": ""},
    {"issues": "none", "families": "snap"},
]


@pytest.mark.parametrize("filters", FILTERS, ids=[repr(f) for f in FILTERS])
def test_search_count_is_the_number_of_matching_results(
    api: TestClient, history: dict[str, int], filters: dict[str, Any]
) -> None:
    everything = api.get(SEARCH, params={**filters, "limit": 1000})
    assert everything.status_code == 200, everything.text
    body = everything.json()
    assert body["count"] == len(body["test_results"])
    assert api.get(SEARCH, params={**filters, "limit": 0}).json()["count"] == body["count"]


def test_search_count_with_dates_counts_the_results(
    api: TestClient, history: dict[str, int], db_session: Session
) -> None:
    newest = db_session.scalar(select(func.max(TestResult.created_at)))
    assert newest is not None
    for params in (
        {"from_date": newest.isoformat()},
        {"until_date": (newest - timedelta(microseconds=1)).isoformat()},
    ):
        body = api.get(SEARCH, params={**params, "limit": 1000}).json()
        assert body["count"] == len(body["test_results"])


def test_search_count_reads_executions_not_results_without_result_filters(
    api: TestClient, engine: Engine
) -> None:
    def statements(environments: range) -> list[str]:
        for index in environments:
            execution_id = start(api, snap(environment=f"env{index}"))
            api.post(results_url(execution_id), json=[result("a"), result("b", "FAILED")])
        with count_statements(engine) as counter:
            response = api.get(SEARCH, params={"families": "snap", "limit": 0})
        assert response.json()["count"] == 2 * environments.stop
        return counter.statements

    few, many = statements(range(1)), statements(range(1, 10))
    assert len(few) == len(many)
    counts = [s for s in many if "count(" in s.lower() or "sum(" in s.lower()]
    assert counts
    assert not any("FROM test_result" in s for s in counts)
