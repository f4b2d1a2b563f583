"""Reading and changing one test execution: details, results, events, links and metadata."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from test_observer.db.models import (
    Artefact,
    ArtefactBuild,
    TestEvent,
    TestExecution,
    TestExecutionMetadata,
    TestExecutionRelevantLink,
    TestExecutionStatus,
    TestResult,
    test_execution_metadata_association_table,
)
from test_observer.errors import ConflictError, NotFoundError

from .announcements import ENDED, announce_ended
from .requests import TestEventRequest, TestExecutionRelevantLinkCreate, TestExecutionsPatchRequest
from .response_queries import execution_responses, result_responses
from .results import completed_status, execution_not_found, lock_execution
from .schemas import (
    PreviousTestResult,
    RelevantLinkResponse,
    TestEventResponse,
    TestExecutionResponse,
    TestResultResponse,
)

PREVIOUS_TEST_RESULT_COUNT = 10


def get_execution(session: Session, execution_id: int) -> TestExecutionResponse:
    response = execution_responses(session, [execution_id]).get(execution_id)
    if response is None:
        raise execution_not_found()
    return response


def _require_execution(session: Session, execution_id: int) -> TestExecution:
    execution = session.get(TestExecution, execution_id)
    if execution is None:
        raise execution_not_found()
    return execution


def _add_metadata(session: Session, execution_id: int, metadata: dict[str, list[str]]) -> None:
    pairs = sorted({(category, value) for category, values in metadata.items() for value in values})
    if not pairs:
        return
    rows = [{"category": category, "value": value} for category, value in pairs]
    session.execute(
        insert(TestExecutionMetadata)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["category", "value"])
    )
    ids = session.scalars(
        select(TestExecutionMetadata.id).where(
            func.row(TestExecutionMetadata.category, TestExecutionMetadata.value).in_(
                [func.row(category, value) for category, value in pairs]
            )
        )
    ).all()
    session.execute(
        insert(test_execution_metadata_association_table)
        .values(
            [
                {"test_execution_id": execution_id, "test_execution_metadata_id": metadata_id}
                for metadata_id in ids
            ]
        )
        .on_conflict_do_nothing()
    )


def patch_execution(
    session: Session, execution_id: int, patch: TestExecutionsPatchRequest
) -> TestExecutionResponse:
    previous_status = lock_execution(session, execution_id)
    changes: dict[str, object] = {}
    if patch.c3_link is not None:
        changes["c3_link"] = str(patch.c3_link)
    if patch.ci_link is not None:
        ci_link = str(patch.ci_link)
        owner = session.scalar(select(TestExecution.id).where(TestExecution.ci_link == ci_link))
        if owner is not None and owner != execution_id:
            raise ConflictError(
                f"ci_link {ci_link!r} already belongs to test execution {owner}",
            )
        changes["ci_link"] = ci_link
    if patch.status == "COMPLETED":
        changes["status"] = completed_status(session, execution_id)
    elif patch.status is not None:
        changes["status"] = patch.status
    if changes:
        session.execute(
            update(TestExecution).where(TestExecution.id == execution_id).values(changes)
        )
    if changes.get("status", previous_status) != previous_status and changes["status"] in ENDED:
        announce_ended(session, [execution_id])
    if patch.execution_metadata:
        _add_metadata(session, execution_id, patch.execution_metadata)
    return get_execution(session, execution_id)


def _previous_results(
    session: Session, execution: TestExecution
) -> dict[int, list[PreviousTestResult]]:
    """Per test case of the execution, up to ten earlier results of the same test on the same
    environment and architecture for the same artefact line, newest artefact first."""
    target = session.execute(
        select(Artefact, ArtefactBuild.architecture)
        .join(ArtefactBuild, ArtefactBuild.artefact_id == Artefact.id)
        .where(ArtefactBuild.id == execution.artefact_build_id)
    ).one()
    artefact, architecture = target
    earlier = TestResult.__table__.alias("earlier")
    own_cases = select(TestResult.test_case_id).where(TestResult.test_execution_id == execution.id)
    ranked = (
        select(
            earlier.c.test_case_id,
            earlier.c.status,
            earlier.c.id.label("result_id"),
            TestExecution.id.label("execution_id"),
            Artefact.id.label("artefact_id"),
            Artefact.version,
            func.row_number()
            .over(
                partition_by=earlier.c.test_case_id,
                order_by=(Artefact.id.desc(), earlier.c.id.desc()),
            )
            .label("rank"),
        )
        .join(TestExecution, TestExecution.id == earlier.c.test_execution_id)
        .join(ArtefactBuild, ArtefactBuild.id == TestExecution.artefact_build_id)
        .join(Artefact, Artefact.id == ArtefactBuild.artefact_id)
        .where(
            earlier.c.test_case_id.in_(own_cases),
            TestExecution.environment_id == execution.environment_id,
            ArtefactBuild.architecture == architecture,
            Artefact.name == artefact.name,
            Artefact.series == artefact.series,
            Artefact.repo == artefact.repo,
            Artefact.track == artefact.track,
            Artefact.os == artefact.os,
            Artefact.id <= artefact.id,
            or_(TestExecution.id < execution.id, Artefact.id < artefact.id),
        )
        .subquery()
    )
    previous: dict[int, list[PreviousTestResult]] = defaultdict(list)
    for row in session.execute(
        select(ranked)
        .where(ranked.c.rank <= PREVIOUS_TEST_RESULT_COUNT)
        .order_by(ranked.c.test_case_id, ranked.c.rank)
    ):
        previous[row.test_case_id].append(
            PreviousTestResult(
                status=row.status,
                version=row.version,
                artefact_id=row.artefact_id,
                test_execution_id=row.execution_id,
                test_result_id=row.result_id,
            )
        )
    return previous


def get_results(session: Session, execution_id: int) -> list[TestResultResponse]:
    execution = _require_execution(session, execution_id)
    rows = session.execute(
        select(TestResult.id, TestResult.test_case_id)
        .where(TestResult.test_execution_id == execution_id)
        .order_by(TestResult.id)
    ).all()
    responses = result_responses(session, [result_id for result_id, _ in rows])
    previous = _previous_results(session, execution)
    return [
        responses[result_id].model_copy(update={"previous_results": previous[case_id]})
        for result_id, case_id in rows
    ]


def _insert_events(session: Session, execution_id: int, events: Sequence[TestEventRequest]) -> None:
    if events:
        session.execute(
            insert(TestEvent),
            [
                {
                    "test_execution_id": execution_id,
                    "event_name": event.event_name,
                    "timestamp": event.timestamp,
                    "detail": event.detail,
                }
                for event in events
            ],
        )


def replace_events(session: Session, execution_id: int, events: Sequence[TestEventRequest]) -> None:
    """Replace the execution's events and read Testflinger's progress from them.

    The first and last events are taken in the order they were sent. An empty list clears the
    events and changes nothing else.
    """
    previous_status = lock_execution(session, execution_id)
    session.execute(delete(TestEvent).where(TestEvent.test_execution_id == execution_id))
    _insert_events(session, execution_id, events)
    if not events:
        return
    changes: dict[str, object] = {}
    if events[0].event_name == "job_start":
        changes["resource_url"] = events[0].detail
    if events[-1].event_name == "job_end" and previous_status not in (
        TestExecutionStatus.PASSED,
        TestExecutionStatus.FAILED,
    ):
        changes["status"] = TestExecutionStatus.ENDED_PREMATURELY
    if changes:
        session.execute(
            update(TestExecution).where(TestExecution.id == execution_id).values(changes)
        )
    if changes.get("status", previous_status) != previous_status:
        announce_ended(session, [execution_id])


def append_events(session: Session, execution_id: int, events: Sequence[TestEventRequest]) -> None:
    lock_execution(session, execution_id)
    _insert_events(session, execution_id, events)


def get_events(session: Session, execution_id: int) -> list[TestEventResponse]:
    _require_execution(session, execution_id)
    return [
        TestEventResponse.model_validate(event)
        for event in session.scalars(
            select(TestEvent)
            .where(TestEvent.test_execution_id == execution_id)
            .order_by(TestEvent.timestamp, TestEvent.id)
        )
    ]


def add_link(
    session: Session, execution_id: int, link: TestExecutionRelevantLinkCreate
) -> RelevantLinkResponse:
    _require_execution(session, execution_id)
    row = session.execute(
        insert(TestExecutionRelevantLink)
        .values(test_execution_id=execution_id, label=link.label, url=str(link.url))
        .returning(TestExecutionRelevantLink)
    ).scalar_one()
    return RelevantLinkResponse.model_validate(row)


def delete_link(session: Session, execution_id: int, link_id: int) -> None:
    _require_execution(session, execution_id)
    deleted = session.scalar(
        delete(TestExecutionRelevantLink)
        .where(
            and_(
                TestExecutionRelevantLink.id == link_id,
                TestExecutionRelevantLink.test_execution_id == execution_id,
            )
        )
        .returning(TestExecutionRelevantLink.id)
    )
    if deleted is None:
        raise NotFoundError("Relevant link not found")
