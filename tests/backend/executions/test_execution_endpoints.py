"""Get and patch an execution, its events and links, and previous results."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from test_observer.db.models import TestExecution, TestExecutionStatus
from tests.backend.executions.conftest import c3_result, result, snap, start

BASE = "/v1/test-executions"


def test_get_execution_shape(api: TestClient) -> None:
    execution_id = start(
        api,
        snap(ci_link="https://ci/1", relevant_links=[{"label": "L", "url": "https://l.example"}]),
    )
    body = api.get(f"{BASE}/{execution_id}").json()
    assert body["id"] == execution_id
    assert body["ci_link"] == "https://ci/1"
    assert body["c3_link"] is None
    assert body["status"] == "IN_PROGRESS"
    assert body["test_plan"] == "iot-smoke"
    assert body["environment"]["name"] == "rpi4b"
    assert body["relevant_links"][0]["url"] == "https://l.example/"
    assert (body["is_triaged"], body["is_rerun_requested"], body["rerun_priority"]) == (
        True,
        False,
        None,
    )


def test_unknown_execution_is_404(api: TestClient) -> None:
    for method in ("get", "patch"):
        response = api.request(method.upper(), f"{BASE}/999999", json={})
        assert response.status_code == 404
        assert response.json() == {"detail": "TestExecution not found"}


def test_patch_completed_derives_status(api: TestClient) -> None:
    empty = start(api, snap())
    passed = start(api, snap())
    failed = start(api, snap())
    api.post(f"{BASE}/{passed}/test-results", json=[result("a")])
    api.post(f"{BASE}/{failed}/test-results", json=[result("a"), result("b", "FAILED")])
    statuses = [
        api.patch(f"{BASE}/{i}", json={"status": "COMPLETED"}).json()["status"]
        for i in (empty, passed, failed)
    ]
    assert statuses == ["ENDED_PREMATURELY", "PASSED", "FAILED"]
    assert api.patch(f"{BASE}/{empty}", json={"status": "NOT_TESTED"}).json()["status"] == (
        "NOT_TESTED"
    )


def test_patch_links_are_validated_and_normalised(api: TestClient) -> None:
    execution_id = start(api, snap())
    body = api.patch(
        f"{BASE}/{execution_id}", json={"ci_link": "https://CI.example", "c3_link": None}
    ).json()
    assert (body["ci_link"], body["c3_link"]) == ("https://ci.example/", None)
    response = api.patch(f"{BASE}/{execution_id}", json={"c3_link": "not a url"})
    assert response.status_code == 422


def test_patch_ci_link_collision_is_409(api: TestClient) -> None:
    start(api, snap(ci_link="https://ci.example/1"))
    other = start(api, snap())
    response = api.patch(f"{BASE}/{other}", json={"ci_link": "https://ci.example/1"})
    assert response.status_code == 409
    assert "already belongs" in response.json()["detail"]


def test_patch_metadata_merges(api: TestClient) -> None:
    execution_id = start(api, snap())
    url = f"{BASE}/{execution_id}"
    assert api.patch(url, json={"execution_metadata": {}}).json()["execution_metadata"] == {}
    api.patch(url, json={"execution_metadata": {"charm": ["mysql", "pg"]}})
    api.patch(url, json={"execution_metadata": {"charm": ["mysql"]}})
    body = api.patch(url, json={"execution_metadata": {"rev": ["1"]}}).json()
    assert body["execution_metadata"] == {"charm": ["mysql", "pg"], "rev": ["1"]}
    assert api.patch(url, json={"execution_metadata": {"c" * 200: ["v" * 200]}}).status_code == 200
    for bad in ({"c" * 201: ["v"]}, {"c": ["v" * 201]}, {"": ["v"]}, {"c": [""]}):
        assert api.patch(url, json={"execution_metadata": bad}).status_code == 422


def test_put_status_update_replaces_and_parses(api: TestClient, db_session: Session) -> None:
    execution_id = start(api, snap())
    url = f"{BASE}/{execution_id}/status_update"
    events = {
        "agent_id": "ignored",
        "events": [
            {
                "event_name": "job_start",
                "timestamp": "2015-03-21T11:08:15",
                "detail": "https://r/1",
            },
            {"event_name": "setup", "timestamp": "2015-03-21T11:08:14.859831", "detail": ""},
            {"event_name": "job_end", "timestamp": "2015-03-21T11:09:00", "detail": "normal_exit"},
        ],
    }
    for _ in range(3):
        assert api.put(url, json=events).status_code == 200
    listed = api.get(url).json()
    assert [e["event_name"] for e in listed] == ["setup", "job_start", "job_end"]
    assert listed[0]["timestamp"] == "2015-03-21T11:08:14.859831"
    execution = db_session.get(TestExecution, execution_id)
    assert execution is not None
    assert execution.resource_url == "https://r/1"
    assert execution.status == TestExecutionStatus.ENDED_PREMATURELY
    assert api.put(url, json={"events": []}).status_code == 200
    assert api.get(url).json() == []


def test_job_end_keeps_a_final_status(api: TestClient, db_session: Session) -> None:
    execution_id = start(api, snap(ci_link="https://ci/1"))
    api.put(f"{BASE}/end-test", json={"ci_link": "https://ci/1", "test_results": [c3_result("a")]})
    api.put(
        f"{BASE}/{execution_id}/status_update",
        json={
            "events": [{"event_name": "job_end", "timestamp": "2024-01-01T00:00:00", "detail": ""}]
        },
    )
    assert api.get(f"{BASE}/{execution_id}").json()["status"] == "PASSED"


def test_post_status_update_appends_without_parsing(api: TestClient) -> None:
    execution_id = start(api, snap())
    url = f"{BASE}/{execution_id}/status_update"
    event = {"event_name": "job_end", "timestamp": "2024-01-01T00:00:00", "detail": "x"}
    api.post(url, json={"events": [event]})
    api.post(url, json={"events": [event]})
    assert len(api.get(url).json()) == 2
    assert api.get(f"{BASE}/{execution_id}").json()["status"] == "IN_PROGRESS"


def test_status_update_errors(api: TestClient) -> None:
    execution_id = start(api, snap())
    url = f"{BASE}/{execution_id}/status_update"
    bad = {"events": [{"event_name": "x", "timestamp": "201-03-21T11:08:14", "detail": ""}]}
    assert api.put(url, json=bad).status_code == 422
    for method in ("GET", "POST", "PUT"):
        response = api.request(method, f"{BASE}/999/status_update", json={"events": []})
        assert response.status_code == 404


def test_links_add_and_delete(api: TestClient) -> None:
    execution_id = start(api, snap())
    url = f"{BASE}/{execution_id}/links"
    link = api.post(url, json={"label": "Jira", "url": "https://jira.example.com/T-1"}).json()
    assert link["label"] == "Jira"
    assert link["url"] == "https://jira.example.com/T-1"
    assert api.post(url, json={"label": "x"}).status_code == 422
    assert api.post(url, json={"url": "https://x"}).status_code == 422
    assert api.post(f"{BASE}/999/links", json={"label": "x", "url": "https://x"}).status_code == 404
    response = api.delete(f"{url}/{link['id']}")
    assert response.status_code == 204
    assert response.content == b""
    assert api.get(f"{BASE}/{execution_id}").json()["relevant_links"] == []
    assert api.delete(f"{url}/{link['id']}").status_code == 404
    assert api.delete(f"{BASE}/999/links/1").json() == {"detail": "TestExecution not found"}


def test_previous_results_follow_the_artefact_line(api: TestClient) -> None:
    old = start(api, snap(version="1"))
    api.post(f"{BASE}/{old}/test-results", json=[result("a", "FAILED"), result("b")])
    other_env = start(api, snap(version="1", environment="other"))
    api.post(f"{BASE}/{other_env}/test-results", json=[result("a")])
    other_name = start(api, snap(name="other", version="1"))
    api.post(f"{BASE}/{other_name}/test-results", json=[result("a")])
    new = start(api, snap(version="2"))
    api.post(f"{BASE}/{new}/test-results", json=[result("a"), result("c")])

    items = {item["name"]: item for item in api.get(f"{BASE}/{new}/test-results").json()}
    previous = items["a"]["previous_results"]
    assert [(p["status"], p["version"], p["test_execution_id"]) for p in previous] == [
        ("FAILED", "1", old)
    ]
    assert items["c"]["previous_results"] == []
    # The older execution sees nothing newer.
    older = api.get(f"{BASE}/{old}/test-results").json()
    assert all(item["previous_results"] == [] for item in older)
    assert api.get(f"{BASE}/999/test-results").status_code == 404


def test_read_endpoints_need_view_test(client: TestClient, db_session: Session) -> None:
    assert client.get(f"{BASE}/1").status_code == 403
    assert client.get(f"{BASE}/1/test-results").status_code == 403
    assert db_session.scalars(select(TestExecution)).all() == []
