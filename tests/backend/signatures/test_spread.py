"""How far each signature has spread (environments, test cases, artefacts, attached issues) is
kept exact by triggers through every change to results and attachments."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from test_observer.artefacts.service import delete_artefact
from test_observer.db.engine import make_session_factory
from test_observer.db.models import Artefact, FailureSignature
from test_observer.signatures.backfill import backfill
from tests.backend.executions.conftest import c3_result, result, snap, start
from tests.backend.issues.conftest import ISSUES, put_issue, results_url
from tests.backend.signatures.spread import assert_kept_exactly, kept


def failed(name: str, cause: str, n: int = 0) -> dict[str, Any]:
    return result(name, "FAILED", io_log=f"step {n}\nError: {cause} on 10.0.{n}.1\n")


def post(api: TestClient, execution_id: int, *results: dict[str, Any]) -> dict[str, int]:
    response = api.post(results_url(execution_id), json=list(results))
    assert response.status_code == 200, response.text
    return {item["name"]: item["id"] for item in api.get(results_url(execution_id)).json()}


def spread(session: Session, cause: str) -> tuple[int, int, int, int]:
    session.expire_all()
    signature = session.scalars(
        select(FailureSignature).where(FailureSignature.text.startswith(f"Error: {cause}"))
    ).one()
    return (
        signature.result_count,
        signature.environment_count,
        signature.test_case_count,
        signature.artefact_count,
    )


def attach(api: TestClient, issue_id: int, action: str, *result_ids: int) -> None:
    response = api.post(f"{ISSUES}/{issue_id}/{action}", json={"test_results": list(result_ids)})
    assert response.status_code == 200, response.text


def test_the_spread_follows_every_change(
    api: TestClient, db_session: Session, engine: Engine
) -> None:
    old_a = start(api, snap(version="1", environment="a", ci_link="https://ci/1a"))
    old_b = start(api, snap(version="1", environment="b", ci_link="https://ci/1b"))
    new_a = start(api, snap(version="2", environment="a", ci_link="https://ci/2a"))
    ids = post(api, old_a, failed("t1", "disk full", 1), failed("t2", "disk full", 2))
    ids |= {f"b/{k}": v for k, v in post(api, old_b, failed("t1", "disk full", 3)).items()}
    ids |= {f"new/{k}": v for k, v in post(api, new_a, failed("t1", "disk full", 4)).items()}
    assert spread(db_session, "disk full") == (4, 2, 2, 2)
    assert_kept_exactly(db_session)

    issue = put_issue(api, "https://github.com/acme/widgets/issues/1")["id"]
    other = put_issue(api, "https://github.com/acme/widgets/issues/2")["id"]
    attach(api, issue, "attach", ids["t1"], ids["t2"], ids["b/t1"])
    attach(api, other, "attach", ids["t2"])
    assert_kept_exactly(db_session)

    # Posted again: t1 fails differently (its attachment moves with it), t2 now passes.
    post(api, old_a, failed("t1", "timeout", 5), result("t2", "PASSED"))
    assert spread(db_session, "disk full") == (2, 2, 1, 2)
    assert spread(db_session, "timeout") == (1, 1, 1, 1)
    assert_kept_exactly(db_session)

    attach(api, issue, "detach", ids["b/t1"])
    assert_kept_exactly(db_session)

    # End-test replaces the execution's results, attached ones included.
    response = api.put(
        "/v1/test-executions/end-test",
        json={
            "ci_link": "https://ci/1a",
            "test_results": [
                c3_result("t3", "fail", io_log="Error: disk full on 10.9.9.9\n"),
                c3_result("t4", "fail", io_log="Error: oom on 10.9.9.9\n"),
            ],
        },
    )
    assert response.status_code == 200, response.text
    assert spread(db_session, "timeout") == (0, 0, 0, 0)
    assert_kept_exactly(db_session)

    # Re-signed by the backfill: results moved to a signature of older rules come back.
    db_session.execute(
        text(
            "INSERT INTO failure_signature (hash, signature_version, text, excerpt)"
            " VALUES ('old', 0, 'old', 'old');"
            "UPDATE test_result SET failure_signature_id ="
            " (SELECT id FROM failure_signature WHERE hash = 'old')"
            " WHERE failure_signature_id IS NOT NULL"
        )
    )
    db_session.commit()
    attach(api, other, "attach", ids["new/t1"])
    assert_kept_exactly(db_session)
    assert backfill(make_session_factory(engine)).signed == 4
    assert spread(db_session, "disk full") == (3, 2, 2, 2)
    assert_kept_exactly(db_session)

    # A deleted issue takes its attachments; a deleted artefact its results.
    db_session.execute(text("DELETE FROM issue WHERE id = :id"), {"id": other})
    db_session.commit()
    assert_kept_exactly(db_session)
    old = db_session.scalars(select(Artefact.id).where(Artefact.version == "1")).one()
    delete_artefact(db_session, old)
    db_session.commit()
    assert spread(db_session, "disk full") == (1, 1, 1, 1)
    assert_kept_exactly(db_session)

    db_session.execute(text("DELETE FROM test_result"))
    db_session.commit()
    assert_kept_exactly(db_session)
    tables = kept(db_session)
    assert all(not rows for table, rows in tables.items() if table != "failure_signature")
