"""The shared response builders: every field the frontend reads, in a fixed number of queries."""

from __future__ import annotations

from sqlalchemy import Engine, insert
from sqlalchemy.orm import Session

from test_observer.artefacts.response_queries import artefact_responses
from test_observer.db.models import (
    ArtefactBuildEnvironmentReviewDecision,
    Issue,
    IssueSource,
    IssueTestResultAttachment,
    TestExecutionMetadata,
    TestExecutionRelevantLink,
    TestExecutionRerunRequest,
    TestResultStatus,
    User,
    artefact_reviewers_association,
    test_execution_metadata_association_table,
)
from test_observer.executions.response_queries import execution_responses, result_responses
from tests.backend.factories import (
    make_artefact,
    make_build,
    make_environment,
    make_execution,
    make_result,
    make_review,
)
from tests.backend.statements import count_statements


def test_artefact_response_counts_reviews_on_latest_builds_only(db_session: Session) -> None:
    artefact = make_artefact(db_session)
    old = make_build(db_session, artefact, revision=1)
    new = make_build(db_session, artefact, revision=2)
    rpi = make_environment(db_session, "rpi4")
    xps = make_environment(db_session, "xps")
    make_review(db_session, old, rpi)
    make_review(
        db_session,
        new,
        rpi,
        review_decision=[ArtefactBuildEnvironmentReviewDecision.APPROVED_ALL_TESTS_PASS],
    )
    make_review(db_session, new, xps)
    reviewer = User(email="jane@example.com", name="Jane Doe", launchpad_handle="jane")
    db_session.add(reviewer)
    db_session.flush()
    db_session.execute(
        insert(artefact_reviewers_association).values(artefact_id=artefact.id, user_id=reviewer.id)
    )
    db_session.commit()

    response = artefact_responses(db_session, [artefact.id])[artefact.id]
    assert response.all_environment_reviews_count == 2
    assert response.completed_environment_reviews_count == 1
    body = response.model_dump(mode="json")
    assert body["reviewers"] == [
        {
            "id": reviewer.id,
            "name": "Jane Doe",
            "email": "jane@example.com",
            "launchpad_email": "jane@example.com",
            "launchpad_handle": "jane",
        }
    ]
    assert body["assignee"] == body["reviewers"][0]
    assert body["stage"] == "beta"
    assert body["bug_link"] == ""
    assert body["comment"] == ""
    assert body["status"] == "UNDECIDED"
    assert body["due_date"] is None
    assert isinstance(body["created_at"], str)
    assert body["bundled_builds"] == []


def test_execution_response_fields(db_session: Session) -> None:
    artefact = make_artefact(db_session)
    build = make_build(db_session, artefact)
    environment = make_environment(db_session, "rpi4", "arm64")
    execution = make_execution(db_session, build, environment, plan="iot-smoke", ci_link="ci/1")
    db_session.add(
        TestExecutionRelevantLink(
            test_execution_id=execution.id, label="Logs", url="https://logs.example/"
        )
    )
    metadata = TestExecutionMetadata(category="charm", value="mysql-k8s")
    db_session.add(metadata)
    db_session.flush()
    db_session.execute(
        insert(test_execution_metadata_association_table).values(
            test_execution_id=execution.id, test_execution_metadata_id=metadata.id
        )
    )
    db_session.add(
        TestExecutionRerunRequest(
            test_plan_id=execution.test_plan_id,
            artefact_build_id=build.id,
            environment_id=environment.id,
            priority=5,
        )
    )
    failed = make_result(db_session, execution, "wifi/connect", TestResultStatus.FAILED)
    db_session.commit()

    body = execution_responses(db_session, [execution.id])[execution.id].model_dump(mode="json")
    assert body["test_plan"] == "iot-smoke"
    assert body["environment"] == {"id": environment.id, "name": "rpi4", "architecture": "arm64"}
    assert body["relevant_links"][0]["label"] == "Logs"
    assert body["execution_metadata"] == {"charm": ["mysql-k8s"]}
    assert body["is_rerun_requested"] is True
    assert body["rerun_priority"] == 5
    assert body["is_triaged"] is False
    assert body["status"] == "IN_PROGRESS"

    issue = Issue(source=IssueSource.GITHUB, project="acme/widgets", key="12")
    db_session.add(issue)
    db_session.flush()
    db_session.add(IssueTestResultAttachment(issue_id=issue.id, test_result_id=failed.id))
    db_session.commit()
    assert execution_responses(db_session, [execution.id])[execution.id].is_triaged is True

    result = result_responses(db_session, [failed.id])[failed.id].model_dump(mode="json")
    assert result["name"] == "wifi/connect"
    assert result["status"] == "FAILED"
    assert result["issues"][0]["issue"]["url"] == "https://github.com/acme/widgets/issues/12"
    assert result["issues"][0]["issue"]["source"] == "github"
    assert result["issues"][0]["attachment_rule"] is None


def test_builders_send_the_same_number_of_statements_for_1_or_30_rows(
    db_session: Session, engine: Engine
) -> None:
    executions = []
    results = []
    artefacts = []
    for index in range(30):
        artefact = make_artefact(db_session, version=str(index))
        artefacts.append(artefact.id)
        build = make_build(db_session, artefact)
        environment = make_environment(db_session, f"env-{index}")
        make_review(db_session, build, environment)
        execution = make_execution(db_session, build, environment, ci_link=f"ci/{index}")
        executions.append(execution.id)
        results.append(make_result(db_session, execution, f"case-{index}").id)
    db_session.commit()

    def statements(build_responses: object, ids: list[int]) -> int:
        with Session(engine) as session, count_statements(engine) as counter:
            assert len(build_responses(session, ids)) == len(ids)  # type: ignore[operator]
        return counter.count

    for builder, ids in (
        (artefact_responses, artefacts),
        (execution_responses, executions),
        (result_responses, results),
    ):
        assert statements(builder, ids[:1]) == statements(builder, ids)
    # Built after every write to an execution: one round trip, whatever it holds.
    assert statements(execution_responses, executions) == 1
