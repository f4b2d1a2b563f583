"""Results' durations: from JUnit's `time`, on POST results and end-test, returned with results."""

from __future__ import annotations

from starlette.testclient import TestClient

from tests.backend.executions.conftest import c3_result, result, snap, start
from tests.backend.executions.test_junit import XML, junit_url, stored

END = "/v1/test-executions/end-test"


def durations(api: TestClient, execution_id: int) -> dict[str, float | None]:
    response = api.get(f"/v1/test-executions/{execution_id}/test-results")
    assert response.status_code == 200
    return {item["name"]: item["duration"] for item in response.json()}


def test_posted_durations_are_stored_replaced_and_optional(api: TestClient) -> None:
    execution_id = start(api, snap())
    url = f"/v1/test-executions/{execution_id}/test-results"
    response = api.post(url, json=[result("a", duration=1.5), result("b"), result("c", duration=0)])
    assert response.status_code == 200, response.text
    assert durations(api, execution_id) == {"a": 1.5, "b": None, "c": 0.0}
    # A result sent again replaces its duration, an unknown one included.
    api.post(url, json=[result("a"), result("b", duration=12.25)])
    assert durations(api, execution_id) == {"a": None, "b": 12.25, "c": 0.0}


def test_end_test_takes_durations_from_c3_results(api: TestClient) -> None:
    execution_id = start(api, snap(ci_link="https://ci/d"))
    body = {
        "ci_link": "https://ci/d",
        "test_results": [c3_result("a", duration=3.0), c3_result("b", "fail")],
    }
    assert api.put(END, json=body).status_code == 200
    assert durations(api, execution_id) == {"a": 3.0, "b": None}


def test_bad_durations_are_422_naming_the_field(api: TestClient) -> None:
    execution_id = start(api, snap())
    url = f"/v1/test-executions/{execution_id}/test-results"
    for bad in (-1, "soon", 1e12):
        response = api.post(url, json=[result("a", duration=bad)])
        assert response.status_code == 422, bad
        assert response.json()["detail"][0]["loc"][-1] == "duration"
    assert durations(api, execution_id) == {}


def test_junit_time_becomes_the_duration(api: TestClient) -> None:
    document = b"""<testsuite name="s">
      <testcase name="timed" time="2.5"/>
      <testcase name="untimed"/>
      <testcase name="grouped" time="1,234.5"/>
      <testcase name="garbage" time="n/a"><failure/></testcase>
      <testcase name="negative" time="-3"/>
      <testcase name="infinite" time="inf"/>
    </testsuite>"""
    execution_id = start(api, snap())
    response = api.post(junit_url(execution_id), content=document, headers=XML)
    assert response.status_code == 200, response.text
    assert {name: r["duration"] for name, r in stored(api, execution_id).items()} == {
        "timed": 2.5,
        "untimed": None,
        "grouped": 1234.5,
        "garbage": None,
        "negative": None,
        "infinite": None,
    }


def test_the_results_search_returns_durations(api: TestClient) -> None:
    execution_id = start(api, snap())
    api.post(f"/v1/test-executions/{execution_id}/test-results", json=[result("a", duration=4.0)])
    response = api.get("/v1/test-results", params={"test_cases": "a"})
    assert response.status_code == 200, response.text
    items = response.json()["test_results"]
    assert [item["test_result"]["duration"] for item in items] == [4.0]
