"""Attaching issues to results by hand: by id, by filters, with a rule (rules AR1-AR5, AR12,
AR15)."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from test_observer.db.models import (
    Issue,
    IssueTestResultAttachment,
    IssueTestResultAttachmentRule,
    Permission,
    TestExecutionRerunRequest,
    TestResult,
)
from tests.backend.issues.conftest import ISSUES, execution_with_results, put_issue
from tests.backend.principals import application_headers

GITHUB = "https://github.com/acme/widgets/issues/1"


def attached(db_session: Session) -> set[tuple[int, int, int | None]]:
    return {
        (row.issue_id, row.test_result_id, row.attachment_rule_id)
        for row in db_session.scalars(select(IssueTestResultAttachment))
    }


def test_attach_and_detach_by_ids_are_idempotent(  # AR2
    api: TestClient, db_session: Session
) -> None:
    issue = put_issue(api, GITHUB)
    _, results = execution_with_results(api, ("a", "FAILED"), ("b", "FAILED"))
    url = f"{ISSUES}/{issue['id']}"
    response = api.post(f"{url}/attach", json={"test_results": [results["a"], results["a"]]})
    assert response.status_code == 200
    assert response.json()["id"] == issue["id"]
    assert api.post(f"{url}/attach", json={"test_results": [results["a"]]}).status_code == 200
    assert attached(db_session) == {(issue["id"], results["a"], None)}

    assert api.post(f"{url}/detach", json={"test_results": [results["b"]]}).status_code == 200
    assert attached(db_session) == {(issue["id"], results["a"], None)}
    assert api.post(f"{url}/detach", json={"test_results": [results["a"]]}).status_code == 200
    assert attached(db_session) == set()
    assert api.post(f"{url}/detach", json={"test_results": []}).status_code == 200
    assert api.post(f"{url}/attach", json={}).status_code == 200


def test_result_responses_show_attachments(api: TestClient) -> None:
    issue = put_issue(api, GITHUB, title="Camera", status="open")
    execution_id, results = execution_with_results(api, ("a", "FAILED"))
    api.post(f"{ISSUES}/{issue['id']}/attach", json={"test_results": [results["a"]]})
    item = api.get(f"/v1/test-executions/{execution_id}/test-results").json()[0]
    assert item["issues"] == [
        {
            "issue": {
                "id": issue["id"],
                "source": "github",
                "project": "acme/widgets",
                "key": "1",
                "title": "Camera",
                "status": "open",
                "url": GITHUB,
                "labels": None,
                "test_executions_count": 0,
            },
            "attachment_rule": None,
        }
    ]


@pytest.mark.parametrize(
    "filters",
    [
        {},
        {"from_date": "2020-01-01T00:00:00", "until_date": "2030-01-01T00:00:00"},
        {"offset": 0, "limit": 10},
        {"assignee_ids": [1]},
        {
            "families": [],
            "test_result_statuses": [],
            "artefact_is_archived": None,
            "execution_metadata": {},
            "issues": [],
            "reviewer_ids": [],
        },
    ],
)
def test_filters_without_a_filter_are_422(  # AR3
    api: TestClient, db_session: Session, filters: dict[str, Any]
) -> None:
    issue = put_issue(api, GITHUB)
    execution_with_results(api, ("a", "FAILED"))
    for action in ("attach", "detach"):
        response = api.post(
            f"{ISSUES}/{issue['id']}/{action}", json={"test_results_filters": filters}
        )
        assert response.status_code == 422
        assert response.json() == {
            "detail": "At least one filter must be provided in test_results_filters"
        }
    assert attached(db_session) == set()


def _metadata(category: str, value: str) -> str:
    def encoded(text: str) -> str:
        return base64.b64encode(text.encode()).decode()

    return f"{encoded(category)}:{encoded(value)}"


@pytest.mark.parametrize(
    ("filters", "query"),
    [
        ({"test_result_statuses": ["FAILED"]}, {"test_result_statuses": "FAILED"}),
        ({"environments": ["rpi4b"]}, {"environments": "rpi4b"}),
        ({"families": ["charm"]}, {"families": "charm"}),
        ({"template_ids": ["tpl/a"]}, {"template_ids": "tpl/a"}),
        (
            {"execution_metadata": {"lab": ["north"]}, "test_result_statuses": ["FAILED"]},
            {"execution_metadata": _metadata("lab", "north"), "test_result_statuses": "FAILED"},
        ),
        ({"test_cases": ["b"], "offset": 0, "limit": 1}, {"test_cases": "b"}),
    ],
)
def test_filter_attach_matches_the_results_search(  # AR4
    api: TestClient, db_session: Session, filters: dict[str, Any], query: dict[str, str]
) -> None:
    issue = put_issue(api, GITHUB)
    first, _ = execution_with_results(api, ("a", "FAILED"), ("b", "PASSED"), ci_link="https://ci/1")
    api.patch(f"/v1/test-executions/{first}", json={"execution_metadata": {"lab": ["north"]}})
    execution_with_results(
        api, ("a", "FAILED"), ("b", "FAILED"), environment="x", ci_link="https://ci/2"
    )
    execution_with_results(
        api,
        ("a", "FAILED"),
        ("c", "SKIPPED"),
        family="charm",
        name="pg",
        track="14",
        store=None,
        environment="rpi4b",
        ci_link="https://ci/3",
    )
    api.post(
        "/v1/test-executions/" + str(first) + "/test-results",
        json=[{"name": "d", "status": "FAILED", "template_id": "tpl/a"}],
    )
    expected = {
        item["test_result"]["id"]
        for item in api.get("/v1/test-results", params={**query, "limit": 1000}).json()[
            "test_results"
        ]
    }
    assert expected  # the case selects something
    total = db_session.scalar(select(func.count()).select_from(TestResult))
    assert len(expected) < (total or 0)  # ... but not everything

    url = f"{ISSUES}/{issue['id']}"
    assert api.post(f"{url}/attach", json={"test_results_filters": filters}).status_code == 200
    assert {result for _, result, _ in attached(db_session)} == expected
    assert api.get("/v1/test-results", params={"issues": issue["id"], "limit": 1000}).json()[
        "count"
    ] == len(expected)
    assert api.post(f"{url}/detach", json={"test_results_filters": filters}).status_code == 200
    assert attached(db_session) == set()


def test_attach_and_detach_by_ids_and_filters_together(
    api: TestClient, db_session: Session
) -> None:
    issue = put_issue(api, GITHUB)
    _, results = execution_with_results(api, ("a", "PASSED"), ("b", "FAILED"), ("c", "PASSED"))
    url = f"{ISSUES}/{issue['id']}"
    # The id names a passed result, the filter the failed one: both are attached, once each.
    body = {
        "test_results": [results["a"], results["b"]],
        "test_results_filters": {"test_result_statuses": ["FAILED"]},
    }
    assert api.post(f"{url}/attach", json=body).status_code == 200
    assert attached(db_session) == {
        (issue["id"], results["a"], None),
        (issue["id"], results["b"], None),
    }
    assert api.post(f"{url}/attach", json=body).status_code == 200
    assert len(attached(db_session)) == 2
    api.post(f"{url}/attach", json={"test_results": [results["c"]]})
    assert api.post(f"{url}/detach", json=body).status_code == 200
    assert attached(db_session) == {(issue["id"], results["c"], None)}


def test_detach_by_filter_touches_only_this_issue(api: TestClient, db_session: Session) -> None:
    issue = put_issue(api, GITHUB)
    other = put_issue(api, "https://github.com/acme/widgets/issues/2")
    _, results = execution_with_results(api, ("a", "FAILED"))
    for attached_issue in (issue, other):
        api.post(f"{ISSUES}/{attached_issue['id']}/attach", json={"test_results": [results["a"]]})
    api.post(
        f"{ISSUES}/{issue['id']}/detach",
        json={"test_results_filters": {"test_result_statuses": ["FAILED"]}},
    )
    assert attached(db_session) == {(other["id"], results["a"], None)}


def test_attach_with_a_rule_records_it(api: TestClient, db_session: Session) -> None:  # AR5
    issue = put_issue(api, GITHUB)
    other = put_issue(api, "https://github.com/acme/widgets/issues/2")
    rule = api.post(f"{ISSUES}/{issue['id']}/attachment-rules", json={}).json()
    foreign = api.post(f"{ISSUES}/{other['id']}/attachment-rules", json={}).json()
    _, results = execution_with_results(api, ("a", "FAILED"))
    db_session.execute(delete(IssueTestResultAttachment))  # made by the catch-all rules
    db_session.commit()

    url = f"{ISSUES}/{issue['id']}"
    missing = api.post(
        f"{url}/attach", json={"test_results": [results["a"]], "attachment_rule": 999}
    )
    assert (missing.status_code, missing.json()) == (404, {"detail": "Attachment rule not found"})
    mismatched = api.post(
        f"{url}/attach", json={"test_results": [results["a"]], "attachment_rule": foreign["id"]}
    )
    assert (mismatched.status_code, mismatched.json()) == (
        400,
        {"detail": "Attachment rule not attached to given issue"},
    )
    assert attached(db_session) == set()
    ok = api.post(
        f"{url}/attach", json={"test_results": [results["a"]], "attachment_rule": rule["id"]}
    )
    assert ok.status_code == 200
    assert attached(db_session) == {(issue["id"], results["a"], rule["id"])}


def test_unknown_issue_and_results_are_404(api: TestClient, db_session: Session) -> None:
    issue = put_issue(api, GITHUB)
    _, results = execution_with_results(api, ("a", "FAILED"))
    missing = api.post(f"{ISSUES}/424242/attach", json={"test_results": [results["a"]]})
    assert (missing.status_code, missing.json()) == (404, {"detail": "Issue not found"})
    unknown = api.post(
        f"{ISSUES}/{issue['id']}/attach", json={"test_results": [results["a"], 999999]}
    )
    assert (unknown.status_code, unknown.json()) == (
        404,
        {"detail": "Test results not found: 999999"},
    )
    assert attached(db_session) == set()


def test_manual_attach_never_requests_reruns(api: TestClient, db_session: Session) -> None:  # AR12
    issue = put_issue(api, GITHUB, auto_rerun_enabled=True)
    _, results = execution_with_results(api, ("a", "FAILED"), ("b", "FAILED"))
    api.post(f"{ISSUES}/{issue['id']}/attach", json={"test_results": [results["a"]]})
    api.post(
        f"{ISSUES}/{issue['id']}/attach",
        json={"test_results_filters": {"test_result_statuses": ["FAILED"]}},
    )
    assert len(attached(db_session)) == 2
    assert db_session.scalar(select(func.count()).select_from(TestExecutionRerunRequest)) == 0


def test_deleting_issues_and_results_deletes_attachments(  # AR15
    api: TestClient, db_session: Session
) -> None:
    issue = put_issue(api, GITHUB)
    kept = put_issue(api, "https://github.com/acme/widgets/issues/2")
    api.post(f"{ISSUES}/{issue['id']}/attachment-rules", json={"test_case_names": ["zzz"]})
    _, results = execution_with_results(api, ("a", "FAILED"), ("b", "FAILED"))
    both = {"test_results": [results["a"], results["b"]]}
    api.post(f"{ISSUES}/{issue['id']}/attach", json=both)
    api.post(f"{ISSUES}/{kept['id']}/attach", json=both)

    db_session.execute(delete(TestResult).where(TestResult.id == results["b"]))
    db_session.commit()
    assert attached(db_session) == {
        (issue["id"], results["a"], None),
        (kept["id"], results["a"], None),
    }
    db_session.execute(delete(Issue).where(Issue.id == issue["id"]))
    db_session.commit()
    assert attached(db_session) == {(kept["id"], results["a"], None)}
    assert db_session.scalar(select(func.count()).select_from(IssueTestResultAttachmentRule)) == 0


def test_bulk_needs_the_bulk_permission(  # AR1
    make_client: Callable[..., TestClient], api: TestClient, db_session: Session
) -> None:
    issue = put_issue(api, GITHUB)
    rule = api.post(f"{ISSUES}/{issue['id']}/attachment-rules", json={"test_case_names": ["z"]})
    _, results = execution_with_results(api, ("a", "FAILED"), ("b", "FAILED"))
    client = make_client()
    single = application_headers(db_session, Permission.change_issue_attachment, name="single")
    bulk = application_headers(
        db_session,
        Permission.change_issue_attachment,
        Permission.change_issue_attachment_bulk,
        name="bulk",
    )
    only_bulk = application_headers(
        db_session, Permission.change_issue_attachment_bulk, name="only-bulk"
    )
    one = {"test_results": [results["a"]]}
    bulk_bodies = [
        {"test_results": [results["a"], results["b"]]},
        {"test_results_filters": {"test_result_statuses": ["FAILED"]}},
        {"test_results_filters": {}},
        {"test_results": [results["a"]], "attachment_rule": rule.json()["id"]},
    ]
    for action in ("attach", "detach"):
        url = f"{ISSUES}/{issue['id']}/{action}"
        assert client.post(url, json=one, headers=single).status_code == 200
        assert client.post(url, json=one, headers=only_bulk).status_code == 403
        for body in bulk_bodies:
            assert client.post(url, json=body, headers=single).status_code == 403, body
            assert client.post(url, json=body, headers=bulk).status_code != 403, body


def test_frontend_filter_body_is_accepted(api: TestClient, db_session: Session) -> None:
    """The frontend sends every filter key, empty ones included (nulls and empty lists)."""
    issue = put_issue(api, GITHUB)
    _, results = execution_with_results(api, ("a", "FAILED"), ("b", "PASSED"))
    filters = {
        "families": ["snap"],
        "test_result_statuses": ["FAILED"],
        "artefacts": [],
        "artefact_is_archived": None,
        "rerun_is_requested": None,
        "execution_is_latest": None,
        "environments": [],
        "test_cases": [],
        "template_ids": [],
        "execution_metadata": {},
        "issues": [],
        "reviewer_ids": [],
        "from_date": None,
        "until_date": None,
        "offset": None,
        "limit": None,
    }
    response = api.post(f"{ISSUES}/{issue['id']}/attach", json={"test_results_filters": filters})
    assert response.status_code == 200, response.text
    assert attached(db_session) == {(issue["id"], results["a"], None)}
