"""Concurrent uploads matching an auto-rerun rule, through a real server: one rerun request."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from test_observer.db.models import IssueTestResultAttachment, TestExecutionRerunRequest
from tests.backend.executions.conftest import EVERY_PERMISSION, result, snap, start
from tests.backend.executions.live import serve
from tests.backend.issues.conftest import ISSUES, put_issue, results_url

UPLOADS = 8


def test_concurrent_uploads_create_one_rerun_request(
    make_client: Callable[..., TestClient], db_session: Session
) -> None:
    api = make_client(ignore_permissions=EVERY_PERMISSION)
    issue = put_issue(api, "https://github.com/acme/widgets/issues/1", auto_rerun_enabled=True)
    api.post(f"{ISSUES}/{issue['id']}/attachment-rules", json={"test_result_statuses": ["FAILED"]})
    # Eight CI jobs of one (test plan, build, environment) group, e.g. retries.
    executions = [start(api, snap(ci_link=f"https://ci/{i}")) for i in range(UPLOADS)]
    barrier = threading.Barrier(UPLOADS)

    with serve(api.app) as base_url:  # type: ignore[arg-type]

        def upload(execution_id: int) -> httpx.Response:
            body = [result(f"t{i}", "FAILED") for i in range(20)]
            with httpx.Client(base_url=base_url, timeout=30) as client:
                barrier.wait()
                return client.post(results_url(execution_id), json=body)

        with ThreadPoolExecutor(UPLOADS) as pool:
            responses = list(pool.map(upload, executions))

    assert [r.status_code for r in responses] == [200] * UPLOADS, [r.text for r in responses]
    assert db_session.scalar(select(func.count()).select_from(TestExecutionRerunRequest)) == 1
    assert (
        db_session.scalar(select(func.count()).select_from(IssueTestResultAttachment))
        == UPLOADS * 20
    )
