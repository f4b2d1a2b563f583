"""Attachment rules and automatic attachment of new results (rules AR6-AR11, AR13, AR14)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from test_observer.db.models import (
    IssueTestResultAttachment,
    IssueTestResultAttachmentRuleExecutionMetadata,
    TestExecutionRerunRequest,
)
from tests.backend.executions.conftest import c3_result, result, snap, start
from tests.backend.issues.conftest import (
    ISSUES,
    execution_with_results,
    put_issue,
    results_url,
)
from tests.backend.statements import count_statements

GITHUB = "https://github.com/acme/widgets/issues/1"


def rules_url(issue: dict[str, Any]) -> str:
    return f"{ISSUES}/{issue['id']}/attachment-rules"


def add_rule(api: TestClient, issue: dict[str, Any], **criteria: Any) -> dict[str, Any]:
    response = api.post(rules_url(issue), json=criteria)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def attachments_by_name(api: TestClient, execution_id: int) -> dict[str, list[tuple[int, Any]]]:
    """Per result name: (issue id, rule id or None) of each attachment."""
    return {
        item["name"]: [
            (a["issue"]["id"], a["attachment_rule"] and a["attachment_rule"]["id"])
            for a in item["issues"]
        ]
        for item in api.get(results_url(execution_id)).json()
    }


def reruns(db_session: Session) -> int:
    return db_session.scalar(select(func.count()).select_from(TestExecutionRerunRequest)) or 0


def test_create_rule_defaults_and_shape(api: TestClient) -> None:
    issue = put_issue(api, GITHUB)
    rule = add_rule(api, issue)
    assert rule == {
        "id": rule["id"],
        "enabled": True,
        "families": [],
        "artefacts": [],
        "artefact_versions": [],
        "artefact_stages": [],
        "artefact_tracks": [],
        "environment_names": [],
        "test_plans": [],
        "test_case_names": [],
        "template_ids": [],
        "test_result_statuses": [],
        "execution_metadata": {},
        "failure_signatures": [],
    }
    full = add_rule(
        api,
        issue,
        enabled=False,
        families=["snap"],
        artefact_stages=["beta"],
        environment_names=["rpi4"],
        test_plans=["iot-smoke", "nightly", "iot-smoke"],
        template_ids=["camera/detect_{name}"],
        test_result_statuses=["FAILED"],
        execution_metadata={"hw": ["laptop", "desktop", "laptop"]},
    )
    assert full["execution_metadata"] == {"hw": ["laptop", "desktop"]}
    assert full["families"] == ["snap"]
    assert full["test_plans"] == ["iot-smoke", "nightly"]
    # Identical rules are two rules; the issue lists them in order.
    twin = add_rule(api, issue)
    assert twin["id"] != rule["id"]
    listed = api.get(f"{ISSUES}/{issue['id']}").json()["attachment_rules"]
    assert [r["id"] for r in listed] == [rule["id"], full["id"], twin["id"]]
    assert listed[1] == full
    missing = api.post(f"{ISSUES}/424242/attachment-rules", json={})
    assert (missing.status_code, missing.json()) == (404, {"detail": "Issue not found"})


def test_rules_do_not_attach_existing_results(api: TestClient) -> None:  # AR6
    issue = put_issue(api, GITHUB)
    execution_id, _ = execution_with_results(api, ("a", "FAILED"))
    rule = add_rule(api, issue)
    assert attachments_by_name(api, execution_id) == {"a": []}
    api.post(results_url(execution_id), json=[result("b", "FAILED")])
    assert attachments_by_name(api, execution_id) == {"a": [], "b": [(issue["id"], rule["id"])]}


def test_every_non_empty_criterion_must_hold(api: TestClient) -> None:  # AR7
    issue = put_issue(api, GITHUB)
    criteria: dict[str, Any] = {
        "families": ["snap"],
        "artefacts": ["core22"],
        "artefact_versions": ["20240601"],
        "artefact_stages": ["beta"],
        "artefact_tracks": ["22"],
        "environment_names": ["rpi4b"],
        "test_plans": ["iot-smoke"],
        "test_case_names": ["a", "b"],
        "template_ids": ["tpl"],
        "test_result_statuses": ["FAILED"],
    }
    matching = add_rule(api, issue, **criteria)
    # One rule per criterion, each with that criterion alone changed so it fails.
    misses = {
        "families": ["charm"],
        "artefacts": ["core24"],
        "artefact_versions": ["1"],
        "artefact_stages": ["edge"],
        "artefact_tracks": ["24"],
        "environment_names": ["rpi5"],
        "test_plans": ["nightly"],
        "test_case_names": ["z"],
        "template_ids": ["other"],
        "test_result_statuses": ["SKIPPED"],
    }
    for name, values in misses.items():
        add_rule(api, issue, **{**criteria, name: values})
    disabled = put_issue(api, "https://github.com/acme/widgets/issues/2")
    add_rule(api, disabled, enabled=False)

    execution_id = start(api, snap())
    api.post(
        results_url(execution_id),
        json=[
            result("a", "FAILED", template_id="tpl"),
            result("b", "PASSED", template_id="tpl"),
            result("c", "FAILED", template_id="tpl"),
        ],
    )
    assert attachments_by_name(api, execution_id) == {
        "a": [(issue["id"], matching["id"])],
        "b": [],
        "c": [],
    }


def test_metadata_or_within_and_across_categories(  # AR8
    api: TestClient,
) -> None:
    issue = put_issue(api, GITHUB)
    rule = add_rule(api, issue, execution_metadata={"hw": ["laptop", "desktop"], "os": ["noble"]})

    def attached_with(metadata: dict[str, list[str]], ci_link: str) -> bool:
        execution_id = start(api, snap(ci_link=ci_link))
        if metadata:
            api.patch(f"/v1/test-executions/{execution_id}", json={"execution_metadata": metadata})
        api.post(results_url(execution_id), json=[result("a", "FAILED")])
        return attachments_by_name(api, execution_id)["a"] == [(issue["id"], rule["id"])]

    assert attached_with({"hw": ["desktop"], "os": ["noble"]}, "https://ci/1")
    assert attached_with({"hw": ["laptop", "server"], "os": ["noble", "jammy"]}, "https://ci/2")
    assert not attached_with({"hw": ["server"], "os": ["noble"]}, "https://ci/3")
    assert not attached_with({"hw": ["laptop"]}, "https://ci/4")
    assert not attached_with({"os": ["noble"], "other": ["laptop"]}, "https://ci/5")
    assert not attached_with({}, "https://ci/6")


def test_lowest_matching_rule_of_an_issue_is_recorded(api: TestClient) -> None:  # AR9
    issue = put_issue(api, GITHUB)
    other = put_issue(api, "https://github.com/acme/widgets/issues/2")
    first = add_rule(api, issue, test_result_statuses=["FAILED"])
    add_rule(api, issue)
    other_rule = add_rule(api, other, test_case_names=["a"])
    add_rule(api, issue, test_case_names=["a"])
    execution_id = start(api, snap())
    api.post(results_url(execution_id), json=[result("a", "FAILED")])
    assert sorted(attachments_by_name(api, execution_id)["a"]) == [
        (issue["id"], first["id"]),
        (other["id"], other_rule["id"]),
    ]


def test_rule_without_criteria_attaches_every_new_result(  # AR10
    api: TestClient,
) -> None:
    issue = put_issue(api, GITHUB)
    rule = add_rule(api, issue)
    execution_id = start(api, snap(ci_link="https://ci/1"))
    api.put(
        "/v1/test-executions/end-test",
        json={
            "ci_link": "https://ci/1",
            "test_results": [
                c3_result("a", "pass"),
                c3_result("b", "skip"),
                c3_result("c", "fail"),
            ],
        },
    )
    assert attachments_by_name(api, execution_id) == {
        name: [(issue["id"], rule["id"])] for name in ("a", "b", "c")
    }


def test_auto_rerun_issue_requests_one_rerun_per_group(  # AR11
    api: TestClient, db_session: Session
) -> None:
    quiet = put_issue(api, "https://github.com/acme/widgets/issues/2")
    add_rule(api, quiet, test_result_statuses=["FAILED"])
    first = start(api, snap(ci_link="https://ci/1"))
    api.post(results_url(first), json=[result("a", "FAILED"), result("b", "FAILED")])
    assert reruns(db_session) == 0

    rerun = put_issue(api, GITHUB, auto_rerun_enabled=True)
    add_rule(api, rerun, test_result_statuses=["FAILED"])
    api.post(results_url(first), json=[result("c", "FAILED"), result("d", "FAILED")])
    assert reruns(db_session) == 1
    # Another execution of the same group, and more results: still one request.
    second = start(api, snap(ci_link="https://ci/2"))
    api.post(results_url(second), json=[result("a", "FAILED")])
    api.post(results_url(first), json=[result("e", "FAILED")])
    assert reruns(db_session) == 1
    # A passing result in an execution with an attached failure still keeps the group queued,
    # and a new group gets its own request.
    other = start(api, snap(ci_link="https://ci/3", environment="rpi5"))
    api.post(results_url(other), json=[result("a", "PASSED")])
    assert reruns(db_session) == 1
    api.post(results_url(other), json=[result("b", "FAILED")])
    assert reruns(db_session) == 2


def test_previously_attached_auto_rerun_issue_requests_a_rerun(
    api: TestClient, db_session: Session
) -> None:
    issue = put_issue(api, GITHUB, auto_rerun_enabled=True)
    execution_id, results = execution_with_results(api, ("a", "FAILED"))
    api.post(f"{ISSUES}/{issue['id']}/attach", json={"test_results": [results["a"]]})
    assert reruns(db_session) == 0
    api.post(results_url(execution_id), json=[result("b", "PASSED")])
    assert reruns(db_session) == 1


def test_rule_patch_only_enabled(api: TestClient) -> None:  # AR13
    issue = put_issue(api, GITHUB)
    other = put_issue(api, "https://github.com/acme/widgets/issues/2")
    rule = add_rule(api, issue, test_case_names=["a"])
    url = f"{rules_url(issue)}/{rule['id']}"
    changed = api.patch(url, json={"enabled": False, "test_case_names": ["b"]})
    assert changed.status_code == 200
    assert changed.json() == {**rule, "enabled": False}
    assert api.patch(url, json={}).json() == {**rule, "enabled": False}
    execution_id = start(api, snap())
    api.post(results_url(execution_id), json=[result("a", "FAILED")])
    assert attachments_by_name(api, execution_id) == {"a": []}

    foreign = api.patch(f"{rules_url(other)}/{rule['id']}", json={"enabled": True})
    assert (foreign.status_code, foreign.json()) == (
        400,
        {"detail": "Attachment rule not attached to given issue"},
    )
    missing = api.patch(f"{rules_url(issue)}/424242", json={"enabled": True})
    assert (missing.status_code, missing.json()) == (404, {"detail": "Attachment rule not found"})
    assert api.patch(url, json={"enabled": "maybe"}).status_code == 422


def test_rule_delete(api: TestClient, db_session: Session) -> None:  # AR14
    issue = put_issue(api, GITHUB)
    other = put_issue(api, "https://github.com/acme/widgets/issues/2")
    rule = add_rule(api, issue, execution_metadata={"hw": ["laptop"]})
    execution_id = start(api, snap())
    api.patch(
        f"/v1/test-executions/{execution_id}", json={"execution_metadata": {"hw": ["laptop"]}}
    )
    api.post(results_url(execution_id), json=[result("a", "FAILED")])
    assert attachments_by_name(api, execution_id) == {"a": [(issue["id"], rule["id"])]}

    foreign = api.delete(f"{rules_url(other)}/{rule['id']}")
    assert (foreign.status_code, foreign.json()) == (
        400,
        {"detail": "Attachment rule not attached to given issue"},
    )
    deleted = api.delete(f"{rules_url(issue)}/{rule['id']}")
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert attachments_by_name(api, execution_id) == {"a": [(issue["id"], None)]}
    assert (
        db_session.scalar(
            select(func.count()).select_from(IssueTestResultAttachmentRuleExecutionMetadata)
        )
        == 0
    )
    assert api.delete(f"{rules_url(issue)}/{rule['id']}").status_code == 204
    assert api.get(f"{ISSUES}/{issue['id']}").json()["attachment_rules"] == []


def test_replaced_result_keeps_manual_attachments(api: TestClient) -> None:
    issue = put_issue(api, GITHUB)
    add_rule(api, issue, test_result_statuses=["FAILED"])
    manual = put_issue(api, "https://github.com/acme/widgets/issues/2")
    execution_id, results = execution_with_results(api, ("a", "FAILED"))
    api.post(f"{ISSUES}/{manual['id']}/attach", json={"test_results": [results["a"]]})
    api.post(results_url(execution_id), json=[result("a", "PASSED")])
    assert attachments_by_name(api, execution_id) == {"a": [(manual["id"], None)]}


def test_a_replaced_result_loses_what_a_rule_attached_when_the_rule_no_longer_holds(
    api: TestClient,
) -> None:
    issue = put_issue(api, GITHUB)
    add_rule(api, issue, test_result_statuses=["FAILED"])
    rule_id = api.get(f"{ISSUES}/{issue['id']}").json()["attachment_rules"][0]["id"]
    execution_id, _ = execution_with_results(api, ("a", "FAILED"), ("b", "FAILED"))
    assert attachments_by_name(api, execution_id) == {
        "a": [(issue["id"], rule_id)],
        "b": [(issue["id"], rule_id)],
    }
    # One upload replacing a result and adding a new one: the rule decides again for both.
    api.post(results_url(execution_id), json=[result("a", "PASSED"), result("c", "FAILED")])
    assert attachments_by_name(api, execution_id) == {
        "a": [],
        "b": [(issue["id"], rule_id)],
        "c": [(issue["id"], rule_id)],
    }


def test_hook_statements_do_not_grow_with_results_or_rules(
    api: TestClient, engine: Engine, db_session: Session
) -> None:
    """Storing results sends the same statements for 2 results (one failed, so signed) and 1
    rule as for 500 results and 40 rules (some with metadata), and attaches what it must."""
    first = put_issue(api, GITHUB, auto_rerun_enabled=True)
    second = put_issue(api, "https://github.com/acme/widgets/issues/2")

    def upload(ci_link: str, size: int) -> int:
        execution_id = start(api, snap(ci_link=ci_link))
        api.patch(f"/v1/test-executions/{execution_id}", json={"execution_metadata": {"hw": ["x"]}})
        body = [result(f"t{i}", "FAILED" if i % 2 else "PASSED") for i in range(size)]
        with count_statements(engine) as counter:
            assert api.post(results_url(execution_id), json=body).status_code == 200
        return counter.count

    add_rule(api, first, test_result_statuses=["FAILED"])
    small = upload("https://ci/1", 2)
    for index in range(39):
        add_rule(
            api,
            second if index % 2 else first,
            test_case_names=[f"t{index}"],
            execution_metadata={"hw": ["x", "y"]} if index % 3 else {},
        )
    large = upload("https://ci/2", 500)
    assert small == large
    attachments = db_session.scalar(select(func.count()).select_from(IssueTestResultAttachment))
    # The first upload's failure and the 250 failures (odd names) go to the first issue. The
    # rules naming t0..t38 add the second issue to the odd names and the first issue to the
    # even, passing ones.
    names_second = {f"t{i}" for i in range(39) if i % 2}
    names_first_passing = {f"t{i}" for i in range(39) if not i % 2}
    assert attachments == 1 + 250 + len(names_second) + len(names_first_passing)
    assert reruns(db_session) == 1
