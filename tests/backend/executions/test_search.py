"""GET /v1/test-executions: filtering, counting and paging executions."""

from __future__ import annotations

import base64
from datetime import timedelta

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from test_observer.db.models import TestExecution
from tests.backend.executions.conftest import charm, result, snap, start
from tests.backend.statements import count_statements

URL = "/v1/test-executions"


def ids(api: TestClient, **params: object) -> list[int]:
    response = api.get(URL, params=params)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["test_executions"]]


def metadata(category: str, value: str) -> str:
    def encode(text: str) -> str:
        return base64.b64encode(text.encode()).decode()

    return f"{encode(category)}:{encode(value)}"


def post(api: TestClient, execution_id: int, *names: str) -> None:
    api.post(f"{URL}/{execution_id}/test-results", json=[result(name) for name in names])


def test_results_presence_and_item_shape(api: TestClient) -> None:
    with_results = start(api, snap())
    empty = start(api, snap())
    post(api, with_results, "a", "b", "c", "d", "e")
    assert ids(api) == [with_results]
    assert ids(api, test_result="none") == [empty]
    body = api.get(URL, params={"limit": 2}).json()
    assert (body["count"], body["limit"], body["offset"]) == (1, 2, 0)
    item = body["test_executions"][0]
    assert item["artefact"]["name"] == "core22"
    assert item["artefact_build"]["revision"] == 1800
    assert [r["name"] for r in item["test_results"]] == ["e", "d", "c", "b", "a"]
    result_id = item["test_results"][2]["id"]
    only = api.get(URL, params={"test_result": result_id}).json()["test_executions"][0]
    assert [r["id"] for r in only["test_results"]] == [result_id]
    none = api.get(URL, params={"test_result": "none"}).json()["test_executions"][0]
    assert none["test_results"] == []


def test_filters(api: TestClient) -> None:
    old = start(api, snap(environment="rpi3"))
    new = start(api, snap(environment="rpi3"))
    other = start(api, charm())
    for execution_id in (old, new, other):
        post(api, execution_id, "a")
    assert ids(api, execution_is_latest=True) == [other, new]
    assert ids(api, execution_is_latest=False) == [old]
    assert ids(api, families="charm") == [other]
    assert ids(api, environments=["rpi3"], artefacts=["core22"]) == [new, old]
    api.patch(f"{URL}/{old}", json={"execution_metadata": {"c1": ["v1"], "c2": ["x"]}})
    api.patch(f"{URL}/{new}", json={"execution_metadata": {"c1": ["v2"]}})
    assert ids(api, execution_metadata=[metadata("c1", "v1"), metadata("c1", "v2")]) == [new, old]
    assert ids(api, execution_metadata=[metadata("c1", "v2"), metadata("c2", "x")]) == []
    api.put(
        f"{URL}/{other}/status_update",
        json={
            "events": [
                {"event_name": "job_start", "timestamp": "2024-01-01T00:00:00", "detail": ""}
            ]
        },
    )
    assert ids(api, event_names="job_start") == [other]
    assert ids(api, event_names="none") == [new, old]
    api.post(f"{URL}/reruns", json={"test_execution_ids": [other]})
    assert ids(api, rerun_is_requested=True) == [other]
    assert ids(api, reviewer_ids="none") == [other, new, old]
    assert ids(api, reviewer_ids="any") == []
    assert ids(api, test_execution_statuses="IN_PROGRESS", limit=1, offset=1) == [new]


def test_bad_parameters(api: TestClient) -> None:
    for params in (
        {"families": "not_a_family"},
        {"limit": 1001},
        {"offset": -1},
        {"reviewer_ids": ["any", "1"]},
        {"execution_metadata": "no-colon"},
        {"execution_metadata": "%%%:abc"},
        {"event_names": ["any", "job_start"]},
    ):
        response = api.get(URL, params=params)
        assert response.status_code == 422, params
        assert response.json()["detail"]
    detail = api.get(URL, params={"event_names": ["none", "x"]}).json()["detail"]
    assert detail == "Cannot combine reserved values 'any'/'none' with specific filter values."


def test_search_statements_do_not_grow_with_page_size(api: TestClient, engine: Engine) -> None:
    for i in range(12):
        post(api, start(api, snap(environment=f"env{i}")), "a", "b")

    def statements(limit: int) -> int:
        with count_statements(engine) as counter:
            assert len(ids(api, limit=limit)) == limit
        return counter.count

    assert statements(2) == statements(12)


def test_dates_bound_the_last_update_inclusively(api: TestClient, db_session: Session) -> None:
    execution_id = start(api, snap())
    post(api, execution_id, "a")
    updated = db_session.scalars(
        select(TestExecution.updated_at).where(TestExecution.id == execution_id)
    ).one()
    moment = updated.isoformat()
    later = (updated + timedelta(microseconds=1)).isoformat()
    assert ids(api, from_date=moment, until_date=moment) == [execution_id]
    assert ids(api, from_date=later) == []
    assert ids(api, until_date=(updated - timedelta(microseconds=1)).isoformat()) == []
