"""The review and browsing endpoints send as many SQL statements for many rows as for few."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, insert
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from test_observer.db.models import (
    ArtefactBuildEnvironmentReviewDecision,
    Base,
    EnvironmentIssue,
    FamilyName,
    Issue,
    IssueSource,
    IssueTestResultAttachment,
    TestCaseIssue,
    TestEvent,
    TestExecutionMetadata,
    TestExecutionRelevantLink,
    TestExecutionRerunRequest,
    TestResultStatus,
    User,
    artefact_reviewers_association,
    environment_review_reviewers_association,
    test_execution_metadata_association_table,
)
from tests.backend.factories import (
    make_artefact,
    make_build,
    make_environment,
    make_execution,
    make_result,
    make_review,
)
from tests.backend.review_helpers import everyone_client
from tests.backend.statements import count_statements
from tests.database import empty_tables


def populate(session: Session, n: int) -> dict[str, Any]:
    """An artefact page with n architectures by n environments, n results per execution, and n
    artefacts per family on the dashboards; every optional part of a response present."""
    issue = Issue(source=IssueSource.GITHUB, project="canonical/x", key="1")
    session.add(issue)
    users = [User(email=f"u{i}@example.com", name=f"User {i}") for i in range(n)]
    session.add_all(users)
    session.flush()
    artefact = make_artefact(session, track="latest")
    for i in range(n):
        make_artefact(session, name=f"snap{i}", version="1", track="latest")
        make_artefact(session, family=FamilyName.deb, name=f"deb{i}", version="1", series="noble")
        make_artefact(session, family=FamilyName.charm, name=f"charm{i}", version="1")
        make_artefact(session, version=f"old{i}", track="latest", archived=True)
    for user in users:
        session.execute(
            insert(artefact_reviewers_association).values(artefact_id=artefact.id, user_id=user.id)
        )
    metadata = [TestExecutionMetadata(category=f"c{i}", value=f"v{i}") for i in range(n)]
    session.add_all(metadata)
    session.flush()
    review_ids = []
    for a in range(n):
        make_build(session, artefact, architecture=f"arch{a}", revision=1)
        build = make_build(session, artefact, architecture=f"arch{a}", revision=2)
        for e in range(n):
            environment = make_environment(session, f"env{e}", f"arch{a}")
            execution = make_execution(session, build, environment, plan=f"plan{e}")
            review = make_review(
                session,
                build,
                environment,
                review_decision=[ArtefactBuildEnvironmentReviewDecision.APPROVED_ALL_TESTS_PASS],
            )
            review_ids.append(review.id)
            session.execute(
                insert(environment_review_reviewers_association).values(
                    environment_review_id=review.id, user_id=users[e].id
                )
            )
            session.add_all(
                [
                    TestExecutionRelevantLink(
                        test_execution_id=execution.id, label="log", url="https://x/"
                    ),
                    TestEvent(
                        test_execution_id=execution.id,
                        event_name="job_start",
                        timestamp=execution.created_at,
                        detail="",
                    ),
                    TestExecutionRerunRequest(
                        test_plan_id=execution.test_plan_id,
                        artefact_build_id=build.id,
                        environment_id=environment.id,
                    ),
                ]
            )
            session.execute(
                insert(test_execution_metadata_association_table),
                [
                    {"test_execution_id": execution.id, "test_execution_metadata_id": m.id}
                    for m in metadata
                ],
            )
            for r in range(n):
                result = make_result(session, execution, f"case{r}", TestResultStatus.FAILED)
                session.add(IssueTestResultAttachment(issue_id=issue.id, test_result_id=result.id))
    session.add_all(
        [
            TestCaseIssue(case_name=f"case{i}", template_id="", description="", url="https://x/")
            for i in range(n)
        ]
        + [
            EnvironmentIssue(environment_name=f"env{i}", description="", is_confirmed=False)
            for i in range(n)
        ]
    )
    session.commit()
    return {"artefact": artefact.id, "reviews": review_ids, "users": [u.id for u in users]}


def requests(ids: dict[str, Any]) -> dict[str, Callable[[TestClient], Any]]:
    artefact = ids["artefact"]
    metadata = f"{base64.b64encode(b'c0').decode()}:{base64.b64encode(b'v0').decode()}"
    calls: dict[str, Callable[[TestClient], Any]] = {}
    for path in (
        "/v1/artefacts?family=snap",
        "/v1/artefacts?family=deb",
        "/v1/artefacts?family=charm",
        "/v1/artefacts",
        "/v1/artefacts/search?q=a",
        "/v1/artefacts/history?name=core22&family=snap",
        f"/v1/artefacts/{artefact}",
        f"/v1/artefacts/{artefact}/versions",
        f"/v1/artefacts/{artefact}/builds",
        f"/v1/artefacts/{artefact}/environment-reviews",
        "/v1/test-results?limit=1000",
        "/v1/test-results?test_cases=case0&limit=1000",
        f"/v1/test-results?execution_metadata={metadata}&issues=any&execution_is_latest=true",
        "/v1/environments",
        "/v1/test-cases",
        "/v1/environments/reported-issues",
        "/v1/test-cases/reported-issues",
        "/v1/execution-metadata",
        "/v1/reports/test-results",
        "/v1/reports/test-executions",
    ):
        calls[f"GET {path}"] = lambda client, path=path: client.get(path)
    calls["PATCH reviews"] = lambda client: client.patch(
        f"/v1/artefacts/{artefact}/environment-reviews",
        json=[{"id": r, "review_comment": "seen"} for r in ids["reviews"]],
    )
    calls["PATCH artefact"] = lambda client: client.patch(
        f"/v1/artefacts/{artefact}",
        json={"status": "APPROVED", "reviewer_ids": list(reversed(ids["users"])), "comment": "x"},
    )
    return calls


def measure(client: TestClient, engine: Engine, ids: dict[str, Any]) -> dict[str, int]:
    counts = {}
    for name, call in requests(ids).items():
        call(client)  # warm up: connection set-up is not the endpoint's doing
        with count_statements(engine) as counter:
            response = call(client)
        assert response.status_code == 200, (name, response.text)
        counts[name] = counter.count
    return counts


def empty(engine: Engine) -> None:
    empty_tables(engine, Base.metadata.sorted_tables)


def test_statement_counts_do_not_grow_with_rows(
    make_client: Callable[..., TestClient], db_session: Session, engine: Engine
) -> None:
    client = everyone_client(make_client)
    small = measure(client, engine, populate(db_session, 1))
    empty(engine)
    large = measure(client, engine, populate(db_session, 4))
    assert large == small
    # A sanity bound: nothing needs more than a dozen statements.
    assert max(small.values()) <= 15, small
