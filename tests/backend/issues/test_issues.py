"""Issues: create or update by URL, read, change, search (rules I1-I11)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from test_observer.db.models import Issue, Permission
from tests.backend.issues.conftest import ISSUES, execution_with_results, put_issue
from tests.backend.principals import application_headers

GITHUB = "https://github.com/Canonical/Test_Observer/issues/71"


def test_put_creates_a_github_issue_with_defaults(api: TestClient) -> None:  # I1
    issue = put_issue(api, GITHUB)
    assert issue == {
        "id": issue["id"],
        "source": "github",
        "project": "canonical/test_observer",
        "key": "71",
        "title": "",
        "status": "unknown",
        "url": "https://github.com/canonical/test_observer/issues/71",
        "labels": None,
        "auto_rerun_enabled": False,
        "attachment_rules": [],
    }


def test_put_is_idempotent_and_updates_given_fields(  # I2
    api: TestClient, db_session: Session
) -> None:
    first = put_issue(api, GITHUB, title="Flaky", status="open")
    again = put_issue(api, GITHUB)
    assert again == first
    renamed = put_issue(api, GITHUB + "?x=1", title="Camera flaky")
    assert (renamed["id"], renamed["title"], renamed["status"]) == (
        first["id"],
        "Camera flaky",
        "open",
    )
    assert db_session.scalar(select(func.count()).select_from(Issue)) == 1


@pytest.mark.parametrize(
    "body",
    [
        {"url": "https://gitlab.com/a/b/issues/1"},
        {"url": "https://www.github.com/a/b/issues/1"},
        {"url": "https://github.com/a/b/issues/1/"},
        {"url": "https://github.com/a/b/pulls/1"},
        {"url": "https://github.com/a/b/issues/abc"},
        {"url": "https://warthogs.atlassian.net/browse/TO2-1"},
        {"url": "https://warthogs.atlassian.net/browse/TO-x"},
        {"url": "https://example.atlassian.net/browse/TO-1"},
        {"url": "https://bugs.launchpad.net/ubuntu/+bug/"},
        {"url": "https://launchpad.net/ubuntu/+bug/1"},
        {"url": "ftp://github.com/a/b/issues/1"},
        {"url": "not a url"},
        {"url": GITHUB, "status": "fixed"},
        {"title": "no url"},
        {"url": f"https://github.com/{'o' * 200}/r/issues/1"},
    ],
)
def test_put_rejects_bad_input_with_422(api: TestClient, body: dict[str, Any]) -> None:  # I3
    response = api.put(ISSUES, json=body)
    assert response.status_code == 422, response.text
    assert response.json()["detail"]


def test_unsupported_url_lists_the_accepted_formats(api: TestClient) -> None:
    detail = api.put(ISSUES, json={"url": "https://gitlab.com/a/b/issues/1"}).json()["detail"]
    assert "github.com" in detail
    assert "atlassian.net" in detail
    assert "launchpad.net" in detail


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://warthogs.atlassian.net/browse/ts-142", ("jira", "TS", "142")),
        (
            "https://bugs.launchpad.net/Ubuntu/+source/linux/+bug/2137746",
            ("launchpad", "ubuntu", "2137746"),
        ),
        ("https://bugs.launchpad.net/Snapd/+bug/7", ("launchpad", "snapd", "7")),
        ("http://github.com/Acme/Widgets/issues/12?page=2", ("github", "acme/widgets", "12")),
    ],
)
def test_url_normalisation(  # I4
    api: TestClient, url: str, expected: tuple[str, str, str]
) -> None:
    issue = put_issue(api, url)
    assert (issue["source"], issue["project"], issue["key"]) == expected


def test_jira_and_launchpad_urls_are_rebuilt(api: TestClient) -> None:
    assert (
        put_issue(api, "https://warthogs.atlassian.net/browse/ts-142")["url"]
        == "https://warthogs.atlassian.net/browse/TS-142"
    )
    assert (
        put_issue(api, "https://bugs.launchpad.net/ubuntu/+source/linux/+bug/5")["url"]
        == "https://bugs.launchpad.net/ubuntu/+bug/5"
    )


def _arrange_issues(api: TestClient) -> dict[str, dict[str, Any]]:
    return {
        "lp": put_issue(api, "https://bugs.launchpad.net/ubuntu/+bug/3", title="Boot hangs"),
        "gh10": put_issue(api, "https://github.com/acme/widgets/issues/10", status="closed"),
        "gh9": put_issue(api, "https://github.com/acme/widgets/issues/9", title="Memory leak"),
        "gh_other": put_issue(api, "https://github.com/acme/apps/issues/1"),
        "jira_kernel": put_issue(
            api,
            "https://warthogs.atlassian.net/browse/KERNEL-5",
            title="Memory corruption on resume",
            status="open",
        ),
        "jira_to": put_issue(
            api, "https://warthogs.atlassian.net/browse/TO-7", title="Memory graph"
        ),
    }


def _keys(body: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(i["source"], i["project"], i["key"]) for i in body["issues"]]


def test_list_defaults_paging_and_count(api: TestClient) -> None:  # I5
    _arrange_issues(api)
    body = api.get(ISSUES).json()
    assert (body["limit"], body["offset"], body["count"]) == (50, 0, 6)
    page = api.get(ISSUES, params={"limit": 2, "offset": 1}).json()
    assert page["count"] == 6
    assert _keys(page) == _keys(body)[1:3]
    for params in ({"limit": 0}, {"limit": 1001}, {"offset": -1}, {"status": "fixed"}):
        response = api.get(ISSUES, params=params)
        assert response.status_code == 422, params
        assert response.json()["detail"]


def test_list_order_is_source_project_then_key(api: TestClient) -> None:  # I6
    _arrange_issues(api)
    assert _keys(api.get(ISSUES).json()) == [
        ("jira", "KERNEL", "5"),
        ("jira", "TO", "7"),
        ("github", "acme/apps", "1"),
        ("github", "acme/widgets", "9"),
        ("github", "acme/widgets", "10"),
        ("launchpad", "ubuntu", "3"),
    ]


def test_search_words_are_anded_over_fields(api: TestClient) -> None:  # I7
    issues = _arrange_issues(api)

    def found(q: str) -> list[int]:
        return [issue["id"] for issue in api.get(ISSUES, params={"q": q}).json()["issues"]]

    assert found("jira kernel memory") == [issues["jira_kernel"]["id"]]
    assert found("MEMORY") == [
        issues["jira_kernel"]["id"],
        issues["jira_to"]["id"],
        issues["gh9"]["id"],
    ]
    assert found("closed") == [issues["gh10"]["id"]]
    assert found("open") == [issues["jira_kernel"]["id"]]
    assert found("launchpad.net/ubuntu") == [issues["lp"]["id"]]
    assert found(str(issues["gh_other"]["id"])) == [issues["gh_other"]["id"]]
    assert found("100%_") == []
    assert len(found("  ")) == 6


def test_filters_by_source_project_and_status(api: TestClient) -> None:
    issues = _arrange_issues(api)
    github = api.get(ISSUES, params={"source": "github", "project": "acme/widgets"}).json()
    assert [i["key"] for i in github["issues"]] == ["9", "10"]
    assert api.get(ISSUES, params={"project": "ACME/widgets"}).json()["count"] == 0
    statuses = api.get(ISSUES, params=[("status", "open"), ("status", "closed")]).json()
    assert {i["id"] for i in statuses["issues"]} == {
        issues["jira_kernel"]["id"],
        issues["gh10"]["id"],
    }


def test_families_keep_issues_attached_to_that_family(api: TestClient) -> None:  # I8
    snap_issue = put_issue(api, "https://github.com/acme/widgets/issues/1")
    deb_issue = put_issue(api, "https://github.com/acme/widgets/issues/2")
    put_issue(api, "https://github.com/acme/widgets/issues/3")  # attached to nothing
    _, snap_results = execution_with_results(api, ("a", "FAILED"))
    _, deb_results = execution_with_results(
        api,
        ("b", "FAILED"),
        family="deb",
        series="noble",
        repo="main",
        execution_stage="proposed",
        revision=None,
        track=None,
        store=None,
    )
    api.post(f"{ISSUES}/{snap_issue['id']}/attach", json={"test_results": [snap_results["a"]]})
    api.post(f"{ISSUES}/{deb_issue['id']}/attach", json={"test_results": [deb_results["b"]]})

    def found(*families: str) -> list[int]:
        params = [("families", family) for family in families]
        return [issue["id"] for issue in api.get(ISSUES, params=params).json()["issues"]]

    assert found("snap") == [snap_issue["id"]]
    assert found("deb") == [deb_issue["id"]]
    assert found("snap", "deb") == [snap_issue["id"], deb_issue["id"]]
    assert found("charm") == []


def test_executions_count_counts_executions_not_results(api: TestClient) -> None:  # I9
    issue = put_issue(api, GITHUB)
    _, first = execution_with_results(api, ("a", "FAILED"), ("b", "FAILED"), ci_link="https://ci/1")
    _, second = execution_with_results(api, ("a", "FAILED"), ci_link="https://ci/2")
    api.post(
        f"{ISSUES}/{issue['id']}/attach",
        json={"test_results": [first["a"], first["b"]]},
    )
    listed = api.get(ISSUES).json()["issues"]
    assert listed[0]["test_executions_count"] == 1
    # What the issue list of the frontend reads.
    assert set(listed[0]) == {
        "id",
        "source",
        "project",
        "key",
        "title",
        "status",
        "url",
        "labels",
        "test_executions_count",
    }
    api.post(f"{ISSUES}/{issue['id']}/attach", json={"test_results": [second["a"]]})
    assert api.get(ISSUES).json()["issues"][0]["test_executions_count"] == 2
    # Elsewhere the count is not computed.
    assert "test_executions_count" not in api.get(f"{ISSUES}/{issue['id']}").json()


def test_patch_empty_is_a_no_op_and_unknown_is_404(api: TestClient) -> None:  # I10
    issue = put_issue(api, GITHUB, title="T", status="open")
    response = api.patch(f"{ISSUES}/{issue['id']}", json={})
    assert response.status_code == 200
    assert response.json() == issue
    missing = api.patch(f"{ISSUES}/424242", json={})
    assert (missing.status_code, missing.json()) == (404, {"detail": "Issue not found"})
    assert api.patch(f"{ISSUES}/{issue['id']}", json={"status": "fixed"}).status_code == 422


def test_patch_changes_only_given_fields(api: TestClient) -> None:
    issue = put_issue(api, GITHUB, title="T", status="open")
    changed = api.patch(
        f"{ISSUES}/{issue['id']}", json={"status": "closed", "auto_rerun_enabled": True}
    ).json()
    assert (changed["title"], changed["status"], changed["auto_rerun_enabled"]) == (
        "T",
        "closed",
        True,
    )
    # The query-string form of the upstream API still works.
    by_query = api.patch(f"{ISSUES}/{issue['id']}?title=Renamed", json={}).json()
    assert by_query["title"] == "Renamed"


def test_get_issue_has_exactly_the_documented_keys(api: TestClient) -> None:  # I11
    issue = put_issue(api, GITHUB)
    body = api.get(f"{ISSUES}/{issue['id']}").json()
    assert set(body) == {
        "id",
        "source",
        "project",
        "key",
        "title",
        "status",
        "url",
        "labels",
        "auto_rerun_enabled",
        "attachment_rules",
    }
    missing = api.get(f"{ISSUES}/424242")
    assert (missing.status_code, missing.json()) == (404, {"detail": "Issue not found"})


def test_issue_permissions(make_client: Any, db_session: Session) -> None:
    client = make_client()
    viewer = application_headers(db_session, Permission.view_issue, name="viewer")
    editor = application_headers(db_session, Permission.change_issue, name="editor")
    rerunner = application_headers(
        db_session, Permission.change_issue, Permission.change_auto_rerun, name="rerunner"
    )
    assert client.put(ISSUES, json={"url": GITHUB}, headers=viewer).status_code == 403
    created = client.put(ISSUES, json={"url": GITHUB}, headers=editor)
    assert created.status_code == 200
    issue_id = created.json()["id"]
    assert client.get(ISSUES, headers=viewer).status_code == 200
    assert client.get(ISSUES, headers=editor).status_code == 403
    assert client.get(f"{ISSUES}/{issue_id}", headers=viewer).status_code == 200

    # Automatic reruns need their own permission, in the body or the query, PUT or PATCH.
    for method, path, body in (
        ("PUT", ISSUES, {"url": GITHUB, "auto_rerun_enabled": True}),
        ("PATCH", f"{ISSUES}/{issue_id}", {"auto_rerun_enabled": True}),
        ("PATCH", f"{ISSUES}/{issue_id}?auto_rerun_enabled=true", {}),
    ):
        denied = client.request(method, path, json=body, headers=editor)
        assert denied.status_code == 403, (method, path)
        allowed = client.request(method, path, json=body, headers=rerunner)
        assert allowed.status_code == 200, (method, path)
        assert allowed.json()["auto_rerun_enabled"] is True
    assert (
        client.patch(f"{ISSUES}/{issue_id}", json={"title": "x"}, headers=editor).status_code == 200
    )


def test_openapi_lists_every_issue_operation(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    operations = {
        (method.upper(), path): operation["x-permissions"]
        for path, item in document["paths"].items()
        if path.startswith("/v1/issues")
        for method, operation in item.items()
    }
    rules = "/v1/issues/{issue_id}/attachment-rules"
    assert operations == {
        ("GET", "/v1/issues"): ["view_issue"],
        ("PUT", "/v1/issues"): ["change_issue"],
        ("GET", "/v1/issues/{issue_id}"): ["view_issue"],
        ("PATCH", "/v1/issues/{issue_id}"): ["change_issue"],
        ("POST", "/v1/issues/{issue_id}/attach"): ["change_issue_attachment"],
        ("POST", "/v1/issues/{issue_id}/detach"): ["change_issue_attachment"],
        ("POST", rules): ["change_attachment_rule"],
        ("PATCH", rules + "/{attachment_rule_id}"): ["change_attachment_rule"],
        ("DELETE", rules + "/{attachment_rule_id}"): ["change_attachment_rule"],
    }
    patch = document["paths"]["/v1/issues/{issue_id}"]["patch"]
    # The upstream document's query parameters stay, for clients generated from it.
    assert {p["name"] for p in patch["parameters"]} == {
        "issue_id",
        "title",
        "status",
        "auto_rerun_enabled",
    }
