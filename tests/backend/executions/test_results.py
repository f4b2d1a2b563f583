"""Posting results, ending a test, and what it costs in SQL statements."""

from __future__ import annotations

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from test_observer.db.models import (
    Issue,
    IssueSource,
    IssueTestResultAttachment,
    IssueTestResultAttachmentRule,
    IssueTestResultAttachmentRuleExecutionMetadata,
    TestCase,
    TestExecution,
    TestExecutionRerunRequest,
    TestExecutionStatus,
    TestResult,
)
from tests.backend.executions.conftest import c3_result, result, snap, start
from tests.backend.statements import count_statements

END = "/v1/test-executions/end-test"


def results_url(execution_id: int) -> str:
    return f"/v1/test-executions/{execution_id}/test-results"


def names_and_statuses(api: TestClient, execution_id: int) -> list[tuple[str, str]]:
    response = api.get(results_url(execution_id))
    assert response.status_code == 200
    return [(item["name"], item["status"]) for item in response.json()]


def test_posted_results_accumulate_and_replace_per_name(api: TestClient) -> None:
    execution_id = start(api, snap())
    assert api.post(results_url(execution_id), json=[result("a"), result("b")]).json() is None
    api.post(results_url(execution_id), json=[result("c", "FAILED"), result("a", "SKIPPED")])
    assert names_and_statuses(api, execution_id) == [
        ("a", "SKIPPED"),
        ("b", "PASSED"),
        ("c", "FAILED"),
    ]


def test_last_result_wins_within_one_payload(api: TestClient) -> None:
    execution_id = start(api, snap())
    api.post(results_url(execution_id), json=[result("a"), result("a", "FAILED")])
    assert names_and_statuses(api, execution_id) == [("a", "FAILED")]


def test_posted_result_defaults_and_case_fields_on_creation_only(
    api: TestClient, db_session: Session
) -> None:
    execution_id = start(api, snap())
    api.post(results_url(execution_id), json=[result("a")])
    item = api.get(results_url(execution_id)).json()[0]
    assert {k: item[k] for k in ("category", "template_id", "comment", "io_log")} == dict.fromkeys(
        ("category", "template_id", "comment", "io_log"), ""
    )
    api.post(results_url(execution_id), json=[result("a", category="Disk", template_id="t")])
    case = db_session.scalars(select(TestCase)).one()
    assert (case.category, case.template_id) == ("", "")


def test_posting_results_keeps_the_execution_status(api: TestClient, db_session: Session) -> None:
    execution_id = start(api, snap())
    api.post(results_url(execution_id), json=[result("a", "FAILED")])
    execution = db_session.get(TestExecution, execution_id)
    assert execution is not None
    assert execution.status == TestExecutionStatus.IN_PROGRESS


def test_posting_to_unknown_execution_is_404_even_when_empty(api: TestClient) -> None:
    response = api.post(results_url(999), json=[])
    assert response.status_code == 404
    assert response.json() == {"detail": "TestExecution not found"}


def test_result_needs_name_and_status(api: TestClient) -> None:
    execution_id = start(api, snap())
    response = api.post(results_url(execution_id), json=[{"status": "PASSED"}])
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "missing"
    assert response.json()["detail"][0]["loc"][-1] == "name"
    response = api.post(results_url(execution_id), json=[{"name": "x"}])
    assert response.json()["detail"][0]["loc"][-1] == "status"


def test_statement_count_does_not_grow_with_results(api: TestClient, engine: Engine) -> None:
    execution_id = start(api, snap())

    def statements(size: int, prefix: str) -> int:
        payload = [
            result(f"{prefix}{i}", "FAILED" if i % 7 == 0 else "PASSED") for i in range(size)
        ]
        with count_statements(engine) as counter:
            assert api.post(results_url(execution_id), json=payload).status_code == 200
        return counter.count

    assert statements(10, "small/") == statements(1000, "large/")
    assert len(api.get(results_url(execution_id)).json()) == 1010


def test_end_test_replaces_results_and_sets_status(api: TestClient, db_session: Session) -> None:
    execution_id = start(api, snap(ci_link="https://ci/1"))
    api.post(results_url(execution_id), json=[result("old")])
    body = {
        "ci_link": "https://ci/1",
        "c3_link": "https://c3/1",
        "checkbox_version": "4.1",
        "test_results": [c3_result("a", "pass"), c3_result("b", "fail"), c3_result("c", "skip")],
        "relevant_links": [{"label": "ignored", "url": "https://x"}],
    }
    for _ in range(2):
        response = api.put(END, json=body)
        assert response.status_code == 200
        assert response.json() is None
    assert names_and_statuses(api, execution_id) == [
        ("a", "PASSED"),
        ("b", "FAILED"),
        ("c", "SKIPPED"),
    ]
    execution = api.get(f"/v1/test-executions/{execution_id}").json()
    assert (execution["status"], execution["c3_link"]) == ("FAILED", "https://c3/1")
    assert execution["relevant_links"] == []
    stored = db_session.get(TestExecution, execution_id)
    assert stored is not None
    assert stored.checkbox_version == "4.1"


def test_end_test_status_and_optional_fields(api: TestClient, db_session: Session) -> None:
    execution_id = start(api, snap(ci_link="https://ci/1"))
    api.put(
        END,
        json={
            "ci_link": "https://ci/1",
            "c3_link": "c3",
            "checkbox_version": "4",
            "test_results": [c3_result("a")],
        },
    )
    api.put(END, json={"ci_link": "https://ci/1", "test_results": [c3_result("a")]})
    execution = db_session.get(TestExecution, execution_id)
    assert execution is not None
    # Omitted fields are kept rather than erased.
    assert (execution.status, execution.c3_link, execution.checkbox_version) == (
        TestExecutionStatus.PASSED,
        "c3",
        "4",
    )
    api.put(END, json={"ci_link": "https://ci/1", "c3_link": "", "test_results": []})
    db_session.expire_all()
    execution = db_session.get(TestExecution, execution_id)
    assert execution is not None
    assert (execution.status, execution.c3_link) == (TestExecutionStatus.ENDED_PREMATURELY, "")


def test_end_test_updates_template_but_not_category(api: TestClient, db_session: Session) -> None:
    start(api, snap(ci_link="https://ci/1"))
    first = c3_result("a", category="Disk", template_id="tpl/1")
    api.put(END, json={"ci_link": "https://ci/1", "test_results": [first]})
    second = c3_result("a", category="Other", template_id="tpl/2")
    api.put(END, json={"ci_link": "https://ci/1", "test_results": [second]})
    case = db_session.scalars(select(TestCase)).one()
    assert (case.category, case.template_id) == ("Disk", "tpl/2")


def test_end_test_unknown_ci_link_is_404(api: TestClient) -> None:
    response = api.put(END, json={"ci_link": "nope", "test_results": []})
    assert response.status_code == 404
    assert response.json() == {"detail": "Related TestExecution not found"}


def test_end_test_statements_constant(api: TestClient, engine: Engine) -> None:
    start(api, snap(ci_link="https://ci/1"))

    def statements(size: int) -> int:
        body = {
            "ci_link": "https://ci/1",
            "test_results": [c3_result(f"t{i}") for i in range(size)],
        }
        with count_statements(engine) as counter:
            assert api.put(END, json=body).status_code == 200
        return counter.count

    assert statements(10) == statements(1000)


def test_rules_attach_issues_and_request_reruns(api: TestClient, db_session: Session) -> None:
    issue = Issue(source=IssueSource.GITHUB, project="o/r", key="1", auto_rerun_enabled=True)
    quiet = Issue(source=IssueSource.JIRA, project="TO", key="2")
    db_session.add_all([issue, quiet])
    db_session.flush()
    failed_on_rpi = IssueTestResultAttachmentRule(
        issue_id=issue.id, environment_names=["rpi4b"], test_result_statuses=["FAILED"]
    )
    needs_metadata = IssueTestResultAttachmentRule(issue_id=quiet.id)
    disabled = IssueTestResultAttachmentRule(issue_id=quiet.id, enabled=False)
    db_session.add_all([failed_on_rpi, needs_metadata, disabled])
    db_session.flush()
    db_session.add(
        IssueTestResultAttachmentRuleExecutionMetadata(
            attachment_rule_id=needs_metadata.id, category="charm", value="mysql"
        )
    )
    db_session.commit()

    execution_id = start(api, snap())
    api.post(results_url(execution_id), json=[result("a", "FAILED"), result("b")])
    attached = db_session.execute(
        select(TestCase.name, IssueTestResultAttachment.issue_id)
        .join(TestResult, TestResult.id == IssueTestResultAttachment.test_result_id)
        .join(TestCase, TestCase.id == TestResult.test_case_id)
    ).all()
    assert [tuple(row) for row in attached] == [("a", issue.id)]
    assert db_session.scalars(select(TestExecutionRerunRequest)).one()

    # With the metadata the rule asks for, the second rule applies too.
    api.patch(
        f"/v1/test-executions/{execution_id}", json={"execution_metadata": {"charm": ["mysql"]}}
    )
    api.post(results_url(execution_id), json=[result("b")])
    item = next(i for i in api.get(results_url(execution_id)).json() if i["name"] == "b")
    assert [attachment["issue"]["key"] for attachment in item["issues"]] == ["2"]
    assert item["issues"][0]["attachment_rule"]["id"] == needs_metadata.id

    # A replaced result is judged again: the FAILED-only rule no longer applies.
    api.post(results_url(execution_id), json=[result("a", "PASSED")])
    item = next(i for i in api.get(results_url(execution_id)).json() if i["name"] == "a")
    assert [attachment["issue"]["key"] for attachment in item["issues"]] == ["2"]
