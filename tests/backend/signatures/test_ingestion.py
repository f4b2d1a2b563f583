"""Failed results are signed at ingestion, on every path, and rules can match a signature."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from test_observer.db.models import FailureSignature, IssueTestResultAttachment, TestResult
from tests.backend.executions.conftest import EVERY_PERMISSION, c3_result, result, snap, start
from tests.backend.executions.live import serve
from tests.backend.issues.conftest import ISSUES, put_issue, results_url
from tests.backend.signatures.spread import assert_kept_exactly

XML = {"Content-Type": "application/xml"}


def timeout_log(address: str, seconds: int) -> str:
    return (
        "Traceback (most recent call last):\n"
        f'  File "/home/ci/.venv/lib/python3.12/site-packages/lab/device.py", line {seconds},'
        " in wait\n"
        "    raise TimeoutError(...)\n"
        f"TimeoutError: device {address} not ready after {seconds}s\n"
    )


REFUSED_LOG = "E       ConnectionRefusedError: [Errno 111] Connection refused\n"


def results_of(api: TestClient, execution_id: int) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in api.get(results_url(execution_id)).json()}


def signatures(session: Session) -> dict[int, tuple[int, str]]:
    session.expire_all()
    return {
        row.id: (row.result_count, row.text)
        for row in session.scalars(select(FailureSignature).order_by(FailureSignature.id))
    }


def test_failures_sharing_a_cause_share_a_signature(api: TestClient, db_session: Session) -> None:
    execution_id = start(api, snap())
    response = api.post(
        results_url(execution_id),
        json=[
            result("a", "FAILED", io_log=timeout_log("10.0.0.1", 30)),
            result("b", "FAILED", io_log=timeout_log("10.9.8.7", 120)),
            result("c", "FAILED", io_log=REFUSED_LOG),
            result("d", "PASSED", io_log="all good"),
            result("e", "SKIPPED", io_log="Error: not applicable"),
        ],
    )
    assert response.status_code == 200, response.text
    stored = results_of(api, execution_id)
    assert stored["a"]["failure_signature_id"] == stored["b"]["failure_signature_id"] is not None
    assert stored["c"]["failure_signature_id"] not in (None, stored["a"]["failure_signature_id"])
    assert stored["d"]["failure_signature_id"] is None
    assert stored["e"]["failure_signature_id"] is None
    counts = signatures(db_session)
    assert counts[stored["a"]["failure_signature_id"]][0] == 2
    assert counts[stored["c"]["failure_signature_id"]][0] == 1


def test_counts_follow_replaced_and_removed_results(api: TestClient, db_session: Session) -> None:
    execution_id = start(api, snap(ci_link="https://ci.example/1"))
    api.post(
        results_url(execution_id),
        json=[
            result("a", "FAILED", io_log=timeout_log("10.0.0.1", 30)),
            result("b", "FAILED", io_log=timeout_log("10.0.0.2", 31)),
        ],
    )
    timeout_id = results_of(api, execution_id)["a"]["failure_signature_id"]
    # "a" now passes, "b" fails differently.
    api.post(
        results_url(execution_id),
        json=[result("a", "PASSED"), result("b", "FAILED", io_log=REFUSED_LOG)],
    )
    stored = results_of(api, execution_id)
    assert stored["a"]["failure_signature_id"] is None
    refused_id = stored["b"]["failure_signature_id"]
    assert signatures(db_session)[timeout_id][0] == 0
    assert signatures(db_session)[refused_id][0] == 1
    # End-test replaces every result of the execution.
    response = api.put(
        "/v1/test-executions/end-test",
        json={
            "ci_link": "https://ci.example/1",
            "test_results": [c3_result("c", "fail", io_log=timeout_log("10.1.1.1", 5))],
        },
    )
    assert response.status_code == 200, response.text
    assert signatures(db_session)[timeout_id][0] == 1
    assert signatures(db_session)[refused_id][0] == 0
    # Results deleted by any statement (a deleted artefact's cascade, say) leave their
    # signatures.
    db_session.execute(TestResult.__table__.delete())
    db_session.commit()
    assert signatures(db_session)[timeout_id][0] == 0


def test_a_signature_remembers_when_it_was_first_and_last_seen(
    api: TestClient, db_session: Session
) -> None:
    first = start(api, snap(ci_link="https://ci.example/1"))
    api.post(results_url(first), json=[result("a", "FAILED", io_log=REFUSED_LOG)])
    second = start(api, snap(ci_link="https://ci.example/2", environment="other"))
    api.post(results_url(second), json=[result("a", "FAILED", io_log=REFUSED_LOG)])
    db_session.expire_all()
    signature = db_session.scalars(select(FailureSignature)).one()
    created = sorted(db_session.scalars(select(TestResult.created_at)))
    assert signature.first_seen_at == created[0]
    assert signature.last_seen_at is not None
    assert signature.last_seen_at >= created[1]
    assert signature.result_count == 2
    assert signature.excerpt == "ConnectionRefusedError: [Errno 111] Connection refused"


def _junit(io_log_ip: str) -> bytes:
    return f"""<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="lab" tests="2">
<testcase classname="lab.test_net" name="test_up"/>
<testcase classname="lab.test_net" name="test_wait">
<failure message="device {io_log_ip} not ready after 40s">{timeout_log(io_log_ip, 40)}</failure>
</testcase>
<testcase classname="lab.test_net" name="test_refused">
<failure message="refused">{REFUSED_LOG}</failure>
</testcase>
</testsuite></testsuites>""".encode()


def _rule_on_the_timeout_signature(api: TestClient) -> tuple[int, int]:
    """An issue whose rule attaches it to the timeout's signature; (issue id, signature id)."""
    seen = start(api, snap(ci_link="https://ci.example/seen", environment="seen"))
    api.post(results_url(seen), json=[result("x", "FAILED", io_log=timeout_log("10.0.0.1", 9))])
    signature_id = results_of(api, seen)["x"]["failure_signature_id"]
    issue = put_issue(api, "https://github.com/acme/widgets/issues/7")
    response = api.post(
        f"{ISSUES}/{issue['id']}/attachment-rules", json={"failure_signatures": [signature_id]}
    )
    assert response.status_code == 200, response.text
    assert response.json()["failure_signatures"] == [signature_id]
    return issue["id"], signature_id


def _attached(session: Session, issue_id: int) -> set[int]:
    session.expire_all()
    return set(
        session.scalars(
            select(IssueTestResultAttachment.test_result_id).where(
                IssueTestResultAttachment.issue_id == issue_id,
                IssueTestResultAttachment.attachment_rule_id.is_not(None),
            )
        )
    )


def test_a_rule_on_a_signature_attaches_posted_results(
    api: TestClient, db_session: Session
) -> None:
    issue_id, _ = _rule_on_the_timeout_signature(api)
    execution_id = start(api, snap(ci_link="https://ci.example/new", environment="new"))
    api.post(
        results_url(execution_id),
        json=[
            result("wait", "FAILED", io_log=timeout_log("192.168.3.3", 77)),
            result("refused", "FAILED", io_log=REFUSED_LOG),
        ],
    )
    stored = results_of(api, execution_id)
    assert _attached(db_session, issue_id) >= {stored["wait"]["id"]}
    assert stored["refused"]["id"] not in _attached(db_session, issue_id)


def test_a_rule_on_a_signature_attaches_end_test_results(
    api: TestClient, db_session: Session
) -> None:
    issue_id, _ = _rule_on_the_timeout_signature(api)
    start(api, snap(ci_link="https://ci.example/new", environment="new"))
    response = api.put(
        "/v1/test-executions/end-test",
        json={
            "ci_link": "https://ci.example/new",
            "test_results": [
                c3_result("wait", "fail", io_log=timeout_log("172.16.0.9", 12)),
                c3_result("refused", "fail", io_log=REFUSED_LOG),
            ],
        },
    )
    assert response.status_code == 200, response.text
    execution_id = start(api, snap(ci_link="https://ci.example/new", environment="new"))
    stored = results_of(api, execution_id)
    assert stored["wait"]["id"] in _attached(db_session, issue_id)
    assert stored["refused"]["id"] not in _attached(db_session, issue_id)


def test_a_rule_on_a_signature_attaches_junit_results(api: TestClient, db_session: Session) -> None:
    issue_id, _ = _rule_on_the_timeout_signature(api)
    execution_id = start(api, snap(ci_link="https://ci.example/new", environment="new"))
    response = api.post(
        f"/v1/test-executions/{execution_id}/junit", content=_junit("10.20.30.40"), headers=XML
    )
    assert response.status_code == 200, response.text
    stored = results_of(api, execution_id)
    assert stored["lab.test_net::test_wait"]["id"] in _attached(db_session, issue_id)
    assert stored["lab.test_net::test_refused"]["id"] not in _attached(db_session, issue_id)
    assert stored["lab.test_net::test_up"]["failure_signature_id"] is None


def test_a_rule_on_an_unknown_signature_is_422(api: TestClient) -> None:
    issue = put_issue(api, "https://github.com/acme/widgets/issues/8")
    response = api.post(
        f"{ISSUES}/{issue['id']}/attachment-rules", json={"failure_signatures": [424242]}
    )
    assert response.status_code == 422
    assert "424242" in str(response.json()["detail"])


def test_results_search_filters_by_signature(api: TestClient) -> None:
    execution_id = start(api, snap())
    api.post(
        results_url(execution_id),
        json=[
            result("a", "FAILED", io_log=timeout_log("10.0.0.1", 30)),
            result("b", "FAILED", io_log=REFUSED_LOG),
            result("c", "PASSED"),
        ],
    )
    stored = results_of(api, execution_id)
    signature_id = stored["a"]["failure_signature_id"]

    def names(**params: Any) -> set[str]:
        response = api.get("/v1/test-results", params=params)
        assert response.status_code == 200, response.text
        return {item["test_result"]["name"] for item in response.json()["test_results"]}

    assert names(failure_signatures=signature_id) == {"a"}
    assert names(failure_signatures="any") == {"a", "b"}
    assert names(failure_signatures="none") == {"c"}
    assert api.get("/v1/test-results", params={"failure_signatures": "x"}).status_code == 422


def test_concurrent_uploads_of_one_new_cause_create_one_signature(
    make_client: Callable[..., TestClient], db_session: Session
) -> None:
    threads = 8
    api = make_client(ignore_permissions=EVERY_PERMISSION)
    executions = [
        start(api, snap(ci_link=f"https://ci.example/{i}", environment=f"e{i}"))
        for i in range(threads)
    ]
    barrier = threading.Barrier(threads)
    with serve(api.app) as base_url:  # type: ignore[arg-type]

        def post(execution_id: int) -> int:
            with httpx.Client(base_url=base_url, timeout=30) as client:
                barrier.wait()
                return client.post(
                    results_url(execution_id),
                    json=[
                        result(f"t{n}", "FAILED", io_log=timeout_log(f"10.0.{execution_id}.{n}", n))
                        for n in range(20)
                    ]
                    + [result("r", "FAILED", io_log=REFUSED_LOG)],
                ).status_code

        with ThreadPoolExecutor(threads) as pool:
            assert set(pool.map(post, executions)) == {200}
    counts = sorted(count for count, _ in signatures(db_session).values())
    assert counts == [threads, threads * 20]
    assert db_session.scalar(select(func.count()).select_from(FailureSignature)) == 2
    # Environments, test cases and artefacts per signature, as a recount finds them.
    assert_kept_exactly(db_session)
    spread = {
        (row.environment_count, row.test_case_count, row.artefact_count)
        for row in db_session.scalars(select(FailureSignature))
    }
    assert spread == {(threads, 20, 1), (threads, 1, 1)}


def test_a_result_cannot_refer_to_a_missing_signature(api: TestClient, db_session: Session) -> None:
    execution_id = start(api, snap())
    api.post(results_url(execution_id), json=[result("a", "FAILED", io_log=REFUSED_LOG)])
    with pytest.raises(IntegrityError, match="does not exist"):
        db_session.execute(update(TestResult).values(failure_signature_id=987654))
    db_session.rollback()
