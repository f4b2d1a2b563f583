"""Rerun requests: create, list, delete, and who may do it."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from test_observer.db.models import (
    ArtefactMatchingRule,
    FamilyName,
    Permission,
    Team,
    TestExecutionRerunRequest,
)
from tests.backend.executions.conftest import charm, result, snap, start
from tests.backend.principals import (
    SESSIONS_SECRET,
    application_headers,
    login,
    make_user,
    session_headers,
)
from tests.backend.statements import count_statements

URL = "/v1/test-executions/reruns"


def test_create_list_and_delete(api: TestClient, db_session: Session) -> None:
    first = start(api, snap(ci_link="https://ci/1"))
    same_group = start(api, snap())
    other = start(api, charm())
    assert api.get(URL).json() == []

    response = api.post(URL, json={"test_execution_ids": [first, same_group, first]})
    assert response.status_code == 200
    pending = response.json()
    assert len(pending) == 1
    # The group's newest execution is shown.
    assert pending[0]["test_execution_id"] == same_group
    assert pending[0]["priority"] == 0
    assert pending[0]["family"] == "snap"
    assert pending[0]["test_execution"]["is_rerun_requested"] is True
    assert pending[0]["artefact"]["name"] == "core22"
    assert pending[0]["artefact_build"]["architecture"] == "arm64"

    api.post(URL, json={"test_execution_ids": [other], "priority": 5})
    listed = api.get(URL).json()
    assert [item["family"] for item in listed] == ["charm", "snap"]
    assert [item["family"] for item in api.get(URL, params={"limit": 1}).json()] == ["charm"]
    assert len(api.get(URL, params={"family": "snap"}).json()) == 1
    assert len(api.get(URL, params={"environment": "microk8s"}).json()) == 1
    assert len(api.get(URL, params={"build_architecture": "arm64"}).json()) == 1
    assert len(api.get(URL, params={"environment_architecture": "s390x"}).json()) == 0

    # Without a priority the existing one is kept; with one it changes.
    api.post(URL, json={"test_execution_ids": [other]})
    assert api.get(URL).json()[0]["priority"] == 5
    api.post(URL, params={"silent": True}, json={"test_execution_ids": [other], "priority": -3})
    assert api.get(URL).json()[-1]["priority"] == -3

    assert api.request("DELETE", URL, json={"test_execution_ids": [first]}).json() is None
    assert [item["family"] for item in api.get(URL).json()] == ["charm"]
    assert api.request("DELETE", URL, json={"test_execution_ids": []}).status_code == 200
    # A new run of the group clears its request.
    start(api, charm())
    assert api.get(URL).json() == []
    assert db_session.scalars(select(TestExecutionRerunRequest)).all() == []


def test_create_errors(api: TestClient) -> None:
    execution_id = start(api, snap())
    assert api.post(URL).status_code == 422
    response = api.post(URL, json={"test_execution_ids": [99999]})
    assert response.status_code == 404
    assert response.json() == {"detail": "Didn't find test executions with provided ids"}
    assert api.post(URL, json={"test_execution_ids": []}).status_code == 404
    silent = api.post(URL, params={"silent": True}, json={"test_execution_ids": []})
    assert (silent.status_code, silent.json()) == (200, None)
    partial = api.post(URL, json={"test_execution_ids": [execution_id, 99999]})
    assert partial.status_code == 207
    assert [item["test_execution_id"] for item in partial.json()] == [execution_id]
    for priority in (1_000_001, -1_000_001):
        body = {"test_execution_ids": [execution_id], "priority": priority}
        assert api.post(URL, json=body).status_code == 422
    for priority in (1_000_000, -1_000_000):
        body = {"test_execution_ids": [execution_id], "priority": priority}
        assert api.post(URL, json=body).status_code == 200
    assert api.get(URL, params={"limit": -1}).status_code == 422


def test_filters(api: TestClient) -> None:
    with_results = start(api, snap())
    api.post(f"/v1/test-executions/{with_results}/test-results", json=[result("a", "FAILED")])
    not_started = start(api, charm(initial_status="NOT_STARTED"))

    body = {"test_results_filters": {"test_result_statuses": ["FAILED"]}}
    loud = api.post(URL, json=body)
    assert loud.status_code == 422
    assert "must be done silently" in loud.json()["detail"]
    empty = api.post(URL, params={"silent": True}, json={"test_results_filters": {"limit": 10}})
    assert empty.status_code == 422
    assert "At least one filter must be provided in test_results_filters" in empty.text
    empty = api.post(URL, params={"silent": True}, json={"test_executions_filters": {}})
    assert "in test_executions_filters" in empty.json()["detail"]

    assert api.post(URL, params={"silent": True}, json=body).json() is None
    assert [item["test_execution_id"] for item in api.get(URL).json()] == [with_results]

    by_status = {"test_executions_filters": {"test_execution_statuses": ["NOT_STARTED"]}}
    api.post(URL, params={"silent": True}, json=by_status)
    assert {item["test_execution_id"] for item in api.get(URL).json()} == {
        with_results,
        not_started,
    }
    api.request("DELETE", URL, json={"test_executions_filters": {"families": ["charm"]}})
    assert [item["test_execution_id"] for item in api.get(URL).json()] == [with_results]
    frontend_style = {
        "test_results_filters": {
            "families": [],
            "test_result_statuses": [],
            "artefacts": [],
            "artefact_is_archived": None,
            "rerun_is_requested": None,
            "execution_is_latest": None,
            "environments": [],
            "test_cases": ["a"],
            "template_ids": [],
            "execution_metadata": {},
            "issues": [],
            "reviewer_ids": [],
            "from_date": None,
            "until_date": None,
            "offset": 0,
            "limit": 50,
        }
    }
    assert api.request("DELETE", URL, json=frontend_style).status_code == 200
    assert api.get(URL).json() == []


def test_permissions(make_client: Callable[..., TestClient], db_session: Session) -> None:
    client = make_client(sessions_secret=SESSIONS_SECRET)
    api = make_client(ignore_permissions="change_test")
    first = start(api, snap())
    second = start(api, charm())

    single_only = application_headers(db_session, Permission.change_rerun)
    body = {"test_execution_ids": [first]}
    assert client.post(URL, json=body, headers=single_only).status_code == 200
    both = {"test_execution_ids": [first, second]}
    assert client.post(URL, json=both, headers=single_only).status_code == 403
    bulk = application_headers(
        db_session, Permission.change_rerun, Permission.change_rerun_bulk, name="bulk"
    )
    assert client.post(URL, json=both, headers=bulk).status_code == 200

    # A user without the permission gets it per artefact from matching rules.
    user = make_user(db_session, email="r@example.com")
    team = Team(name="snaps", permissions=[Permission.change_rerun_bulk])
    rule = ArtefactMatchingRule(family=FamilyName.snap, grant_permissions=[Permission.change_rerun])
    rule.teams = [team]
    team.members = [user]
    db_session.add_all([team, rule])
    db_session.commit()
    headers = session_headers(login(db_session, user))
    assert client.post(URL, json=body, headers=headers).status_code == 200
    assert client.post(URL, json=both, headers=headers).status_code == 403
    assert client.request("DELETE", URL, json=both, headers=headers).status_code == 403
    assert client.request("DELETE", URL, json=body, headers=headers).status_code == 200
    assert client.get(URL).status_code == 403


def test_listing_sends_the_same_statements_for_a_few_or_many_reruns(
    api: TestClient, engine: Engine
) -> None:
    for i in range(2):
        execution_id = start(api, snap(environment=f"env-{i}", version=f"v{i}"))
        api.post(URL, json={"test_execution_ids": [execution_id]})

    def statements() -> list[str]:
        with count_statements(engine) as counter:
            assert api.get(URL).status_code == 200
        return counter.statements

    few = statements()
    for i in range(2, 8):
        execution_id = start(api, snap(environment=f"env-{i}", version=f"v{i}"))
        api.post(URL, json={"test_execution_ids": [execution_id]})
    many = statements()
    assert len(api.get(URL).json()) == 8
    # Not only as many statements: the same text, so each is prepared once per connection
    # whatever the number of listed executions (ids travel as one array; a single id as a
    # scalar, see `db.ids.one_of`).
    assert many == few


def test_listing_a_page_of_a_long_queue_shows_each_groups_newest_execution(
    api: TestClient, engine: Engine
) -> None:
    newest = {}
    for i in range(6):
        group = snap(environment=f"env-{i}")
        start(api, group)
        newest[i] = start(api, group)
        api.post(URL, json={"test_execution_ids": [newest[i]], "priority": i % 3})

    def page(limit: int) -> tuple[list[int], int]:
        with count_statements(engine) as counter:
            listed = api.get(URL, params={"limit": limit}).json()
        return [item["test_execution_id"] for item in listed], counter.count

    # Highest priority first, then the oldest request.
    queue = [newest[i] for i in (2, 5, 1, 4, 0, 3)]
    two, two_statements = page(2)
    everything, all_statements = page(100)
    assert (two, everything) == (queue[:2], queue)
    assert two_statements == all_statements
