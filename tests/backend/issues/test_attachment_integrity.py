"""Attachments never point at an issue, a result or a rule that does not exist.

The references are checked once per statement by triggers (migrations 0011 and 0014) instead
of per row by foreign keys, and bulk attachment and result deletion are ordered by locks on the
results' executions. These tests hold one side of each race open in a transaction of their own
and let the other side run through the API.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine, delete, func, insert, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from test_observer.db.models import (
    Issue,
    IssueTestResultAttachment,
    IssueTestResultAttachmentRule,
    TestExecution,
    TestResult,
)
from test_observer.issues.attachments import attach
from test_observer.issues.schemas import IssueAttachmentRequest
from tests.backend.executions.conftest import c3_result
from tests.backend.issues.conftest import ISSUES, execution_with_results, put_issue

GITHUB = "https://github.com/acme/widgets/issues/1"
END = "/v1/test-executions/end-test"
# How long a call must stay blocked to count as waiting for the other transaction.
BLOCKED_FOR_S = 0.5
# A rule that ingestion never applies to these tests' snap results, so that they write its
# attachments themselves.
NO_MATCH = {"families": ["charm"]}


def orphans(db_session: Session) -> int:
    """Attachments whose result is gone."""
    db_session.rollback()
    return (
        db_session.scalar(
            select(func.count())
            .select_from(IssueTestResultAttachment)
            .where(
                ~select(TestResult.id)
                .where(TestResult.id == IssueTestResultAttachment.test_result_id)
                .exists()
            )
        )
        or 0
    )


def waits_for(holder: Session, call: Callable[[], Any], waiting: str) -> Any:
    """What `call` returns, run while `holder`'s transaction is open: it must still be running
    after a while (`waiting` says what it should wait for), and end once `holder` commits."""
    outcome: list[Any] = []
    thread = threading.Thread(target=lambda: outcome.append(call()), daemon=True)
    thread.start()
    time.sleep(BLOCKED_FOR_S)
    assert thread.is_alive(), waiting
    holder.commit()
    thread.join(timeout=30)
    return outcome[0]


def test_an_attachment_to_a_missing_issue_or_result_is_refused(
    api: TestClient, db_session: Session
) -> None:
    issue = put_issue(api, GITHUB)
    _, results = execution_with_results(api, ("a", "FAILED"))
    for row, message in (
        ({"issue_id": issue["id"] + 1, "test_result_id": results["a"]}, "an issue that"),
        ({"issue_id": issue["id"], "test_result_id": results["a"] + 1}, "a test result that"),
    ):
        with pytest.raises(IntegrityError, match=f"refers to {message} does not exist"):
            db_session.execute(insert(IssueTestResultAttachment).values(**row))
        db_session.rollback()
    db_session.execute(
        insert(IssueTestResultAttachment).values(issue_id=issue["id"], test_result_id=results["a"])
    )
    db_session.commit()


def test_an_attachment_to_a_missing_rule_is_refused(api: TestClient, db_session: Session) -> None:
    issue = put_issue(api, GITHUB)
    rule = api.post(f"{ISSUES}/{issue['id']}/attachment-rules", json=NO_MATCH).json()
    _, results = execution_with_results(api, ("a", "FAILED"), ("b", "FAILED"))
    row = {"issue_id": issue["id"], "test_result_id": results["a"]}
    with pytest.raises(IntegrityError, match="refers to an attachment rule that does not exist"):
        db_session.execute(
            insert(IssueTestResultAttachment).values(**row, attachment_rule_id=rule["id"] + 1)
        )
    db_session.rollback()
    db_session.execute(
        insert(IssueTestResultAttachment).values(
            [row, {**row, "test_result_id": results["b"], "attachment_rule_id": rule["id"]}]
        )
    )
    db_session.commit()
    with pytest.raises(IntegrityError, match="refers to an attachment rule that does not exist"):
        db_session.execute(
            update(IssueTestResultAttachment).values(attachment_rule_id=rule["id"] + 1)
        )
    db_session.rollback()
    db_session.execute(update(IssueTestResultAttachment).values(attachment_rule_id=rule["id"]))
    db_session.commit()


def test_deleting_an_issue_deletes_its_rules_and_their_attachments(
    api: TestClient, db_session: Session
) -> None:
    issue = put_issue(api, GITHUB)
    kept = put_issue(api, "https://github.com/acme/widgets/issues/2")
    owners = (issue, kept)
    rules = [
        api.post(f"{ISSUES}/{owner['id']}/attachment-rules", json=NO_MATCH).json()
        for owner in owners
    ]
    _, results = execution_with_results(api, ("a", "FAILED"))
    db_session.execute(
        insert(IssueTestResultAttachment).values(
            [
                {
                    "issue_id": owner["id"],
                    "test_result_id": results["a"],
                    "attachment_rule_id": rule["id"],
                }
                for owner, rule in zip(owners, rules, strict=True)
            ]
        )
    )
    db_session.commit()
    db_session.execute(delete(Issue).where(Issue.id == issue["id"]))
    db_session.commit()
    remaining = db_session.execute(
        select(IssueTestResultAttachment.issue_id, IssueTestResultAttachment.attachment_rule_id)
    ).all()
    assert [tuple(row) for row in remaining] == [(kept["id"], rules[1]["id"])]
    assert list(db_session.scalars(select(IssueTestResultAttachmentRule.id))) == [rules[1]["id"]]


def test_deleting_a_rule_waits_for_an_attachment_it_is_making(
    api: TestClient, engine: Engine, db_session: Session
) -> None:
    issue = put_issue(api, GITHUB)
    rule = api.post(f"{ISSUES}/{issue['id']}/attachment-rules", json=NO_MATCH).json()
    _, results = execution_with_results(api, ("a", "FAILED"))
    with Session(engine) as attaching:
        attaching.execute(
            insert(IssueTestResultAttachment).values(
                issue_id=issue["id"], test_result_id=results["a"], attachment_rule_id=rule["id"]
            )
        )
        response = waits_for(
            attaching,
            lambda: api.delete(f"{ISSUES}/{issue['id']}/attachment-rules/{rule['id']}"),
            "the rule was deleted under an attachment being made by it",
        )
    assert response.status_code == 204, response.text
    db_session.rollback()
    # The attachment stays, as if made by hand.
    assert list(db_session.scalars(select(IssueTestResultAttachment.attachment_rule_id))) == [None]


def test_an_attachment_cannot_be_moved(api: TestClient, db_session: Session) -> None:
    issue = put_issue(api, GITHUB)
    other = put_issue(api, "https://github.com/acme/widgets/issues/2")
    _, results = execution_with_results(api, ("a", "FAILED"))
    api.post(f"{ISSUES}/{issue['id']}/attach", json={"test_results": [results["a"]]})
    with pytest.raises(IntegrityError, match="cannot be moved"):
        db_session.execute(update(IssueTestResultAttachment).values(issue_id=other["id"]))
    db_session.rollback()


def test_deleting_an_execution_deletes_its_attachments(
    api: TestClient, db_session: Session
) -> None:
    issue = put_issue(api, GITHUB)
    gone, first = execution_with_results(api, ("a", "FAILED"))
    _, second = execution_with_results(api, ("a", "FAILED"), ci_link="https://ci/2")
    ids = [first["a"], second["a"]]
    api.post(f"{ISSUES}/{issue['id']}/attach", json={"test_results": ids})
    db_session.execute(delete(TestExecution).where(TestExecution.id == gone))
    db_session.commit()
    assert list(db_session.scalars(select(IssueTestResultAttachment.test_result_id))) == [
        second["a"]
    ]


def test_bulk_attach_waits_for_results_being_replaced(
    api: TestClient, engine: Engine, db_session: Session
) -> None:
    """End-test replaces an execution's results while a bulk attach selects them."""
    issue = put_issue(api, GITHUB)
    execution_id, _ = execution_with_results(
        api, ("a", "FAILED"), ("b", "FAILED"), ci_link="https://ci/1"
    )
    execution_with_results(api, ("c", "FAILED"), ci_link="https://ci/2")
    with Session(engine) as replacing:
        # What end-test does, held open: lock the execution, delete its results.
        replacing.scalar(
            select(TestExecution.id)
            .where(TestExecution.id == execution_id)
            .with_for_update(key_share=True)
        )
        replacing.execute(delete(TestResult).where(TestResult.test_execution_id == execution_id))
        response = waits_for(
            replacing,
            lambda: api.post(
                f"{ISSUES}/{issue['id']}/attach",
                json={"test_results_filters": {"test_result_statuses": ["FAILED"]}},
            ),
            "the attach did not wait for the results being deleted",
        )
    assert response.status_code == 200, response.text
    assert orphans(db_session) == 0
    assert db_session.scalar(select(func.count()).select_from(IssueTestResultAttachment)) == 1


def test_replacing_results_waits_for_a_bulk_attach(
    api: TestClient, engine: Engine, db_session: Session
) -> None:
    """A bulk attach holds its results while end-test comes to replace them."""
    issue = put_issue(api, GITHUB)
    execution_with_results(api, ("a", "FAILED"), ("b", "FAILED"), ci_link="https://ci/1")
    with Session(engine) as attaching:
        attach(
            attaching,
            issue["id"],
            IssueAttachmentRequest.model_validate(
                {"test_results_filters": {"test_result_statuses": ["FAILED"]}}
            ),
        )
        response = waits_for(
            attaching,
            lambda: api.put(
                END, json={"ci_link": "https://ci/1", "test_results": [c3_result("a", "fail")]}
            ),
            "end-test did not wait for the attachment being made",
        )
    assert response.status_code == 200, response.text
    assert orphans(db_session) == 0
    # The results were replaced, so the attachments made to the old ones went with them.
    assert db_session.scalar(select(func.count()).select_from(IssueTestResultAttachment)) == 0


def test_a_concurrent_attach_of_the_same_results_is_not_an_error(
    api: TestClient, engine: Engine, db_session: Session
) -> None:
    issue = put_issue(api, GITHUB)
    _, results = execution_with_results(api, ("a", "FAILED"), ("b", "FAILED"))
    with Session(engine) as first:
        first.execute(
            insert(IssueTestResultAttachment).values(
                issue_id=issue["id"], test_result_id=results["a"]
            )
        )
        response = waits_for(
            first,
            lambda: api.post(
                f"{ISSUES}/{issue['id']}/attach",
                json={"test_results": [results["a"], results["b"]]},
            ),
            "the second attach did not wait for the first",
        )
    assert response.status_code == 200, response.text
    db_session.rollback()
    rows = db_session.execute(
        text("SELECT test_result_id FROM issue_test_result_attachment ORDER BY 1")
    ).scalars()
    assert list(rows) == [results["a"], results["b"]]
