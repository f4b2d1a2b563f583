"""A catalogue of bad requests: each is a 4xx with a JSON `detail`, never a 500."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from tests.backend.executions.conftest import c3_result, snap, start

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
        ("GET", f"{BASE}/abc", {}, 422),
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
