"""A catalogue of bad requests: each is a 4xx with a JSON `detail`, never a 500."""

from __future__ import annotations

import http.client
import json
import math
from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from test_observer.db.models import Base
from tests.backend.executions.conftest import (
    EVERY_PERMISSION,
    c3_result,
    charm,
    deb,
    image,
    snap,
    solution,
    start,
)
from tests.backend.executions.live import serve
from tests.backend.principals import make_user

BASE = "/v1/test-executions"
TOO_LONG = "x" * 201


def catalogue(execution_id: int, link_id: int) -> list[tuple[str, str, dict[str, Any], int]]:
    """(method, path, request options, expected status)."""
    start_url = f"{BASE}/start-test"
    return [
        (
            "PUT",
            start_url,
            {"content": b"{not json", "headers": {"content-type": "application/json"}},
            422,
        ),
        ("PUT", start_url, {"json": snap(family="flatpak")}, 422),
        ("PUT", start_url, {"json": {"name": "x"}}, 422),
        ("PUT", start_url, {"json": snap(name=TOO_LONG)}, 422),
        ("PUT", start_url, {"json": snap(arch="a" * 101)}, 422),
        ("PUT", start_url, {"json": snap(environment=TOO_LONG)}, 422),
        ("PUT", start_url, {"json": snap(test_plan=TOO_LONG)}, 422),
        ("PUT", start_url, {"json": snap(ci_link="https://ci/" + TOO_LONG)}, 422),
        ("PUT", start_url, {"json": snap(branch=TOO_LONG)}, 422),
        ("PUT", start_url, {"json": snap(revision="abc")}, 422),
        ("PUT", start_url, {"json": snap(initial_status="DONE")}, 422),
        ("PUT", start_url, {"json": [snap()]}, 422),
        ("PUT", f"{BASE}/end-test", {"json": {"ci_link": "https://ci/1"}}, 422),
        (
            "PUT",
            f"{BASE}/end-test",
            {"json": {"ci_link": "https://ci/none", "test_results": []}},
            404,
        ),
        (
            "PUT",
            f"{BASE}/end-test",
            {"json": {"ci_link": "https://ci/1", "c3_link": TOO_LONG, "test_results": []}},
            422,
        ),
        (
            "PUT",
            f"{BASE}/end-test",
            {"json": {"ci_link": "https://ci/1", "test_results": [c3_result("a", "maybe")]}},
            422,
        ),
        ("GET", f"{BASE}/abc", {}, 404),
        ("GET", f"{BASE}/424242", {}, 404),
        ("GET", f"{BASE}/424242/test-results", {}, 404),
        ("POST", f"{BASE}/424242/test-results", {"json": []}, 404),
        ("POST", f"{BASE}/{execution_id}/test-results", {"json": {"name": "a"}}, 422),
        (
            "POST",
            f"{BASE}/{execution_id}/test-results",
            {"json": [{"name": "a", "status": "OK"}]},
            422,
        ),
        ("PATCH", f"{BASE}/424242", {"json": {}}, 404),
        ("PATCH", f"{BASE}/{execution_id}", {"json": {"ci_link": "https://ci/2"}}, 409),
        ("PATCH", f"{BASE}/{execution_id}", {"json": {"status": "DONE"}}, 422),
        (
            "PATCH",
            f"{BASE}/{execution_id}",
            {"json": {"ci_link": "https://ci.example/" + TOO_LONG}},
            422,
        ),
        (
            "PUT",
            f"{BASE}/{execution_id}/status_update",
            {"json": {"events": [{"event_name": "x"}]}},
            422,
        ),
        ("PUT", f"{BASE}/424242/status_update", {"json": {"events": []}}, 404),
        ("POST", f"{BASE}/{execution_id}/links", {"json": {"label": "x", "url": "ftp//x"}}, 422),
        ("DELETE", f"{BASE}/{execution_id}/links/{link_id + 1000}", {}, 404),
        ("DELETE", f"{BASE}/424242/links/{link_id}", {}, 404),
        ("GET", f"{BASE}/reruns", {"params": {"limit": -1}}, 422),
        ("GET", f"{BASE}/reruns", {"params": {"family": "flatpak"}}, 422),
        ("POST", f"{BASE}/reruns", {"json": {"test_execution_ids": [424242]}}, 404),
        ("POST", f"{BASE}/reruns", {"json": {"test_execution_ids": "all"}}, 422),
        ("DELETE", f"{BASE}/reruns", {}, 422),
        ("GET", BASE, {"params": {"limit": 1001}}, 422),
        ("GET", BASE, {"params": {"test_result": "some"}}, 422),
    ]


ISSUES = "/v1/issues"


def issue_catalogue(
    issue_id: int, foreign_rule_id: int
) -> list[tuple[str, str, dict[str, Any], int]]:
    """Bad requests to the issue endpoints; `foreign_rule_id` belongs to another issue."""
    rules = f"{ISSUES}/{issue_id}/attachment-rules"
    attach = f"{ISSUES}/{issue_id}/attach"
    return [
        ("PUT", ISSUES, {"json": {"url": "https://gitlab.com/a/b/issues/1"}}, 422),
        ("PUT", ISSUES, {"json": {"url": "https://github.com/a/b/issues/1/"}}, 422),
        ("PUT", ISSUES, {"json": {"url": "https://warthogs.atlassian.net/browse/T0-1"}}, 422),
        ("PUT", ISSUES, {"json": {"url": "https://bugs.launchpad.net/u/+bug/x"}}, 422),
        ("PUT", ISSUES, {"json": {"url": "github.com/a/b/issues/1"}}, 422),
        ("PUT", ISSUES, {"json": {"title": "no url"}}, 422),
        ("PUT", ISSUES, {"json": {"url": "https://github.com/a/b/issues/1", "status": "x"}}, 422),
        ("GET", ISSUES, {"params": {"limit": 0}}, 422),
        ("GET", ISSUES, {"params": {"offset": -1}}, 422),
        ("GET", ISSUES, {"params": {"source": "gitlab"}}, 422),
        ("GET", ISSUES, {"params": {"families": "flatpak"}}, 422),
        ("GET", f"{ISSUES}/424242", {}, 404),
        ("GET", f"{ISSUES}/abc", {}, 422),
        ("PATCH", f"{ISSUES}/424242", {"json": {}}, 404),
        ("PATCH", f"{ISSUES}/{issue_id}", {"json": {"status": "fixed"}}, 422),
        ("POST", f"{ISSUES}/424242/attach", {"json": {"test_results": [1]}}, 404),
        ("POST", attach, {"json": {"test_results": [424242]}}, 404),
        ("POST", attach, {"json": {"test_results": "all"}}, 422),
        ("POST", attach, {"json": {"test_results_filters": {}}}, 422),
        ("POST", attach, {"json": {"test_results_filters": {"families": ["flatpak"]}}}, 422),
        ("POST", attach, {"json": {"test_results_filters": {"issues": "some"}}}, 422),
        ("POST", attach, {"json": {"attachment_rule": 424242}}, 404),
        ("POST", attach, {"json": {"attachment_rule": foreign_rule_id}}, 400),
        ("POST", f"{ISSUES}/{issue_id}/detach", {"json": {"test_results_filters": {}}}, 422),
        ("POST", f"{ISSUES}/424242/attachment-rules", {"json": {}}, 404),
        ("POST", rules, {"json": {"families": ["flatpak"]}}, 422),
        ("POST", rules, {"json": {"execution_metadata": {"": ["x"]}}}, 422),
        ("POST", rules, {"json": {"execution_metadata": {"hw": ["x" * 201]}}}, 422),
        ("PATCH", f"{rules}/424242", {"json": {"enabled": False}}, 404),
        ("PATCH", f"{rules}/{foreign_rule_id}", {"json": {"enabled": False}}, 400),
        ("DELETE", f"{rules}/{foreign_rule_id}", {}, 400),
    ]


def test_bad_requests_are_4xx_with_detail(api: TestClient) -> None:
    execution_id = start(api, snap(ci_link="https://ci/1"))
    start(api, snap(ci_link="https://ci/2"))
    link_id = api.post(
        f"{BASE}/{execution_id}/links", json={"label": "L", "url": "https://l.example"}
    ).json()["id"]
    issue_id = api.put(ISSUES, json={"url": "https://github.com/a/b/issues/1"}).json()["id"]
    other_id = api.put(ISSUES, json={"url": "https://github.com/a/b/issues/2"}).json()["id"]
    foreign_rule_id = api.post(f"{ISSUES}/{other_id}/attachment-rules", json={}).json()["id"]
    cases = catalogue(execution_id, link_id) + issue_catalogue(issue_id, foreign_rule_id)
    assert len(cases) >= 60
    for method, path, options, expected in cases:
        response = api.request(method, path, **options)
        assert response.status_code == expected, (method, path, options, response.text)
        assert response.json()["detail"], (method, path)


# Hostile input: values Python's JSON parser accepts but JSON and PostgreSQL do not, values too
# large to index, huge values that an error body must not echo in full. Sent through a real
# server on one keep-alive connection, which must keep serving after every answer.

LONE_SURROGATE = "x\ud800y"
# Not compressible, and 4 bytes per character in UTF-8: far past what an index entry can hold.
UNINDEXABLE = "".join(chr(0x20000 + (i * 7919) % 0xA000) for i in range(8000))
HUGE = "h" * 5_000_000
MAX_ERROR_BODY = 4096
INT32_OVERFLOW = 2**31


def _with(body: Any, path: tuple[str | int, ...], value: object) -> Any:
    copy = json.loads(json.dumps(body))
    target = copy
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return copy


def write_operations(
    ids: dict[str, int],
) -> list[tuple[str, str, Any, list[tuple[str | int, ...]]]]:
    """(method, path, a valid body, the paths of its fields stored in indexed text columns)."""
    execution = f"{BASE}/{ids['execution']}"
    artefact = f"/v1/artefacts/{ids['artefact']}"
    issue_url = "https://github.com/canonical/test_observer/issues/1"
    event = {"event_name": "started", "timestamp": "2024-06-01T00:00:00", "detail": "ok"}
    return [
        (
            "PUT",
            f"{BASE}/start-test",
            snap(ci_link="https://ci/new"),
            [("name",), ("version",), ("track",), ("store",), ("environment",), ("test_plan",)],
        ),
        ("PUT", f"{BASE}/start-test", deb(), [("repo",), ("series",), ("version",)]),
        ("PUT", f"{BASE}/start-test", charm(), [("track",)]),
        ("PUT", f"{BASE}/start-test", image(), [("version",)]),
        ("PUT", f"{BASE}/start-test", solution(), [("track",)]),
        (
            "PUT",
            f"{BASE}/end-test",
            {"ci_link": "https://ci/1", "test_results": [c3_result("a")]},
            [
                ("test_results", 0, "name"),
                ("test_results", 0, "template_id"),
                ("test_results", 0, "category"),
            ],
        ),
        (
            "POST",
            f"{execution}/test-results",
            [{"name": "a", "status": "PASSED", "io_log": "log"}],
            [(0, "name"), (0, "template_id"), (0, "category")],
        ),
        ("PATCH", execution, {"execution_metadata": {"k": ["v"]}}, []),
        ("PUT", f"{execution}/status_update", {"events": [event]}, []),
        ("POST", f"{execution}/status_update", {"events": [event]}, []),
        ("POST", f"{execution}/links", {"label": "L", "url": "https://l.example"}, []),
        ("POST", f"{BASE}/reruns", {"test_execution_ids": [ids["execution"]]}, []),
        ("DELETE", f"{BASE}/reruns", {"test_execution_ids": [ids["execution"]]}, []),
        ("PATCH", artefact, {"comment": "c"}, []),
        (
            "PATCH",
            f"{artefact}/environment-reviews",
            [{"id": ids["review"], "review_comment": "c"}],
            [],
        ),
        ("PATCH", f"{artefact}/environment-reviews/{ids['review']}", {"review_comment": "c"}, []),
        (
            "POST",
            "/v1/environments/reported-issues",
            {"environment_name": "e", "description": "d", "is_confirmed": False},
            [("environment_name",)],
        ),
        (
            "PUT",
            f"/v1/environments/reported-issues/{ids['environment_issue']}",
            {"environment_name": "e", "description": "d", "is_confirmed": False},
            [("environment_name",)],
        ),
        (
            "POST",
            "/v1/test-cases/reported-issues",
            {"template_id": "t", "case_name": "c", "description": "d", "url": issue_url},
            [("template_id",), ("case_name",)],
        ),
        (
            "PUT",
            f"/v1/test-cases/reported-issues/{ids['test_case_issue']}",
            {"template_id": "t", "case_name": "c", "description": "d", "url": issue_url},
            [("template_id",), ("case_name",)],
        ),
        ("PATCH", f"/v1/users/{ids['user']}", {"is_admin": False}, []),
        ("POST", "/v1/teams", {"name": "team", "permissions": []}, [("name",)]),
        ("PATCH", f"/v1/teams/{ids['team']}", {"permissions": ["view_test"]}, []),
        (
            "POST",
            "/v1/artefact-matching-rules",
            {"family": "snap", "name": "n", "team_ids": [ids["team"]]},
            [("name",), ("track",)],
        ),
        ("PATCH", f"/v1/artefact-matching-rules/{ids['rule']}", {"name": "n"}, [("name",)]),
        ("POST", "/v1/applications", {"name": "app", "permissions": []}, [("name",)]),
        ("PATCH", f"/v1/applications/{ids['application']}", {"permissions": ["view_test"]}, []),
    ]


def _first_leaf(body: Any, path: tuple[str | int, ...] = ()) -> tuple[str | int, ...]:
    items = enumerate(body) if isinstance(body, list) else body.items()
    for key, value in items:
        if isinstance(value, dict | list):
            if value:
                return _first_leaf(value, (*path, key))
        else:
            return (*path, key)
    raise AssertionError("no field to replace")


def hostile_requests(ids: dict[str, int]) -> list[tuple[str, str, bytes, str]]:
    """(method, path, raw JSON body, what is wrong with it); every one must be a 422."""
    requests: list[tuple[str, str, bytes, str]] = []
    for method, path, body, indexed in write_operations(ids):
        field = indexed[0] if indexed else _first_leaf(body)
        # json.dumps writes NaN literally and lone surrogates as \ud800 escapes, as a client's
        # non-conforming encoder would.
        requests.append(
            (
                method,
                path,
                json.dumps(_with(body, field, LONE_SURROGATE)).encode(),
                f"lone surrogate in {field}",
            )
        )
        requests.append(
            (method, path, json.dumps(_with(body, field, math.nan)).encode(), f"NaN in {field}")
        )
        requests.append(
            (
                method,
                path,
                json.dumps(_with(body, field, math.inf)).encode(),
                f"Infinity in {field}",
            )
        )
        for field in indexed:
            requests.append(
                (
                    method,
                    path,
                    json.dumps(_with(body, field, UNINDEXABLE)).encode(),
                    f"8000 characters in {field}",
                )
            )
        if indexed:
            requests.append(
                (
                    method,
                    path,
                    json.dumps(_with(body, indexed[0], HUGE)).encode(),
                    f"5 MB in {indexed[0]}",
                )
            )
    return requests


def _seed(api: TestClient, db_session: Session) -> dict[str, int]:
    execution = start(api, snap(ci_link="https://ci/1"))
    artefact = api.get("/v1/artefacts", params={"family": "snap"}).json()[0]["id"]
    review = api.get(f"/v1/artefacts/{artefact}/environment-reviews").json()[0]["id"]
    environment_issue = api.post(
        "/v1/environments/reported-issues",
        json={"environment_name": "rpi4b", "description": "d", "is_confirmed": False},
    ).json()["id"]
    test_case_issue = api.post(
        "/v1/test-cases/reported-issues",
        json={
            "template_id": "t",
            "description": "d",
            "url": "https://github.com/canonical/test_observer/issues/2",
        },
    ).json()["id"]
    user = make_user(db_session, "grace@example.com")
    team = api.post("/v1/teams", json={"name": "seed-team"}).json()["id"]
    rule = api.post(
        "/v1/artefact-matching-rules",
        json={"family": "charm", "name": "seed", "team_ids": [team]},
    ).json()["id"]
    application = api.post("/v1/applications", json={"name": "seed", "permissions": []}).json()[
        "id"
    ]
    return {
        "execution": execution,
        "artefact": artefact,
        "review": review,
        "environment_issue": environment_issue,
        "test_case_issue": test_case_issue,
        "user": user.id,
        "team": team,
        "rule": rule,
        "application": application,
    }


def _row_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as connection:
        return {
            table.name: connection.execute(select(func.count()).select_from(table)).scalar_one()
            for table in Base.metadata.sorted_tables
        }


def _send(
    connection: http.client.HTTPConnection, method: str, path: str, body: bytes | None = None
) -> tuple[int, bytes, http.client.HTTPResponse]:
    headers = {"content-type": "application/json"} if body is not None else {}
    connection.request(method, path, body=body, headers=headers)
    response = connection.getresponse()
    return response.status, response.read(), response


def test_hostile_input_is_a_bounded_4xx_on_a_connection_that_keeps_serving(
    api: TestClient, db_session: Session, engine: Engine
) -> None:
    ids = _seed(api, db_session)
    requests = hostile_requests(ids)
    before = _row_counts(engine)
    with serve(api.app) as base_url:  # type: ignore[arg-type]
        host, port = base_url.removeprefix("http://").split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=60)
        _send(connection, "GET", "/v1/version")
        socket_in_use = connection.sock
        for method, path, body, what in requests:
            status, content, response = _send(connection, method, path, body)
            assert status == 422, (method, path, what, content[:300])
            assert len(content) <= MAX_ERROR_BODY, (method, path, what, len(content))
            assert json.loads(content)["detail"], (method, path, what)
            assert not response.will_close, (method, path, what)
            # The same socket answers the next request: the server did not drop the connection.
            assert connection.sock is socket_in_use, (method, path, what)
            assert _send(connection, "GET", "/v1/version")[0] == 200, (method, path, what)
        connection.close()
    assert _row_counts(engine) == before
    assert len(requests) >= 100


def hostile_queries(ids: dict[str, int]) -> list[tuple[str, str, int]]:
    """(method, path, expected status) for hostile query strings, path ids and methods."""
    non_ascii_base64 = "execution_metadata=%C3%A9:YQ=="
    return [
        ("GET", f"/v1/test-results?{non_ascii_base64}", 422),
        ("GET", f"{BASE}?{non_ascii_base64}", 422),
        ("GET", f"{BASE}?execution_metadata=YQ==:%C3%A9", 422),
        ("GET", f"{BASE}/{INT32_OVERFLOW}", 422),
        ("GET", f"/v1/artefacts/{INT32_OVERFLOW}", 422),
        ("PATCH", f"/v1/artefacts/{2**70}", 422),
        ("DELETE", f"/v1/teams/{ids['team']}/members/{INT32_OVERFLOW}", 422),
        ("GET", f"/v1/users/{-(2**63)}", 404),
        # Paths that exist with other methods: 405, not a 422 about a non-numeric id.
        ("PATCH", "/v1/users/me", 405),
        ("DELETE", "/v1/applications/me", 405),
        ("PATCH", f"{BASE}/reruns", 405),
        ("PATCH", "/v1/artefacts/search", 405),
        ("DELETE", "/v1/version", 405),
        ("PUT", f"{BASE}/{ids['execution']}/links/1", 405),
        ("POST", "/v1/artefacts", 405),
    ]


def test_hostile_queries_and_ids_are_4xx(api: TestClient, db_session: Session) -> None:
    ids = _seed(api, db_session)
    for method, path, expected in hostile_queries(ids):
        response = api.request(method, path)
        assert response.status_code == expected, (method, path, response.text)
        assert response.json()["detail"], (method, path)


def test_too_many_ids_in_a_rerun_request_is_not_a_server_error(api: TestClient) -> None:
    execution_id = start(api, snap(ci_link="https://ci/1"))
    # More ids than PostgreSQL takes parameters in one statement.
    ids = [execution_id, *range(10**6, 10**6 + 70_000)]
    response = api.post(f"{BASE}/reruns", json={"test_execution_ids": ids})
    assert response.status_code == 207, response.text[:300]
    assert [item["test_execution_id"] for item in response.json()] == [execution_id]


def test_a_huge_invalid_field_is_not_echoed_in_full(api: TestClient) -> None:
    response = api.put(f"{BASE}/start-test", json=snap(name=HUGE, arch=HUGE))
    assert response.status_code == 422
    assert len(response.content) <= MAX_ERROR_BODY
    echoed = {item["loc"][-1]: item["input"] for item in response.json()["detail"]}
    assert echoed["name"].startswith("hhh")
    assert echoed["name"].endswith("…")


def test_a_request_body_over_the_limit_is_a_413(make_client: Callable[..., TestClient]) -> None:
    client = make_client(max_request_body_size=1000, ignore_permissions=EVERY_PERMISSION)
    big = client.put("/v1/test-executions/start-test", json=snap(name="x" * 2000))
    assert big.status_code == 413
    assert big.json()["detail"] == "The request body is larger than the limit of 1000 bytes"

    def chunks() -> Iterator[bytes]:
        # No Content-Length: the body is counted as it arrives.
        yield b'{"family": "snap", "name": "'
        for _ in range(20):
            yield b"x" * 100
        yield b'"}'

    streamed = client.put(
        "/v1/test-executions/start-test",
        content=chunks(),
        headers={"content-type": "application/json"},
    )
    assert streamed.status_code == 413
    assert streamed.json()["detail"] == big.json()["detail"]
    small = client.put("/v1/test-executions/start-test", json=snap(ci_link="https://ci/1"))
    assert small.status_code == 200
