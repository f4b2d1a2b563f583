"""HTTP layer of the test-execution endpoints: parse, check access, call the service, answer.

Static paths (start-test, end-test, reruns) are declared before `/{id}` ones so they win.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Query, Response, status

from test_observer.auth import AppSettings, Principal, requires, requires_for_artefacts
from test_observer.auth.access import DbSession
from test_observer.db.models import FamilyName, Permission, TestExecutionStatus

from . import reruns, results, search, service, start_test
from .filters import IdsFilter, TestExecutionRerunFilters, parse_execution_metadata
from .requests import (
    EndTestExecutionRequest,
    StartTestRequest,
    StatusUpdateRequest,
    TestExecutionRelevantLinkCreate,
    TestExecutionsPatchRequest,
    TestResultRequest,
)
from .reruns import DeleteReruns, RerunRequest
from .schemas import (
    PendingRerun,
    RelevantLinkResponse,
    StartTestResponse,
    TestEventResponse,
    TestExecutionResponse,
    TestExecutionSearchResponse,
    TestResultResponse,
)

router = APIRouter(prefix="/v1/test-executions", tags=["test-executions"])

CHANGE_TEST = requires(Permission.change_test)
VIEW_TEST = requires(Permission.view_test)


@router.put("/start-test", dependencies=[CHANGE_TEST])
def start_test_execution(
    request: Annotated[StartTestRequest, Body()], session: DbSession, settings: AppSettings
) -> StartTestResponse:
    execution_id = start_test.start_test(session, request, settings)
    return StartTestResponse(id=execution_id)


@router.put("/end-test", dependencies=[CHANGE_TEST])
def end_test_execution(request: EndTestExecutionRequest, session: DbSession) -> None:
    results.end_test(session, request)


@router.post("/reruns")
def create_rerun_requests(
    request: RerunRequest,
    session: DbSession,
    settings: AppSettings,
    response: Response,
    principal: Principal = requires_for_artefacts(Permission.change_rerun),
    silent: bool = False,
) -> list[PendingRerun] | None:
    created, missing = reruns.create_reruns(session, principal, settings, request, silent=silent)
    if missing:
        response.status_code = status.HTTP_207_MULTI_STATUS
    return created


@router.get("/reruns", dependencies=[requires(Permission.view_rerun)])
def get_rerun_requests(
    session: DbSession,
    family: FamilyName | None = None,
    limit: Annotated[int | None, Query(ge=0)] = None,
    environment: str | None = None,
    environment_architecture: str | None = None,
    build_architecture: str | None = None,
) -> list[PendingRerun]:
    return reruns.list_reruns(
        session,
        family=family,
        limit=limit,
        environment=environment,
        environment_architecture=environment_architecture,
        build_architecture=build_architecture,
    )


@router.delete("/reruns")
def delete_rerun_requests(
    request: DeleteReruns,
    session: DbSession,
    settings: AppSettings,
    principal: Principal = requires_for_artefacts(Permission.change_rerun),
) -> None:
    reruns.delete_reruns(session, principal, settings, request)


IdsQuery = list[int] | list[Literal["any"]] | list[Literal["none"]] | None


def _single(values: IdsQuery) -> IdsFilter | None:
    """A repeated query parameter of ids, or the one keyword "any" / "none"."""
    if not values:
        return None
    first = values[0]
    if first == "any" or first == "none":
        return first
    return [int(value) for value in values]


@router.get("", dependencies=[VIEW_TEST])
def search_test_executions(
    session: DbSession,
    families: Annotated[list[FamilyName] | None, Query()] = None,
    artefacts: Annotated[list[str] | None, Query()] = None,
    artefact_versions: Annotated[list[str] | None, Query()] = None,
    artefact_stages: Annotated[list[str] | None, Query()] = None,
    artefact_tracks: Annotated[list[str] | None, Query()] = None,
    artefact_is_archived: bool | None = None,
    environments: Annotated[list[str] | None, Query()] = None,
    test_execution_statuses: Annotated[list[TestExecutionStatus] | None, Query()] = None,
    reviewer_ids: Annotated[IdsQuery, Query()] = None,
    assignee_ids: Annotated[IdsQuery, Query(deprecated=True)] = None,
    rerun_is_requested: bool | None = None,
    execution_is_latest: bool | None = None,
    test_result: Annotated[IdsQuery, Query()] = None,
    event_names: Annotated[list[str] | None, Query()] = None,
    from_date: datetime | None = None,
    until_date: datetime | None = None,
    limit: Annotated[int, Query(ge=0, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
    execution_metadata: Annotated[list[str] | None, Query()] = None,
) -> TestExecutionSearchResponse:
    filters = TestExecutionRerunFilters(
        families=families,
        artefacts=artefacts,
        artefact_versions=artefact_versions,
        artefact_stages=artefact_stages,
        artefact_tracks=artefact_tracks,
        artefact_is_archived=artefact_is_archived,
        environments=environments,
        test_execution_statuses=test_execution_statuses,
        execution_metadata=parse_execution_metadata(execution_metadata),
        reviewer_ids=_single(reviewer_ids),
        assignee_ids=_single(assignee_ids),
        rerun_is_requested=rerun_is_requested,
        execution_is_latest=execution_is_latest,
        from_date=from_date,
        until_date=until_date,
    )
    return search.search_executions(
        session,
        filters,
        test_result=_single(test_result),
        event_names=search.parse_event_names(event_names),
        limit=limit,
        offset=offset,
    )


@router.get("/{id:int}", dependencies=[VIEW_TEST])
def get_test_execution(id: int, session: DbSession) -> TestExecutionResponse:
    return service.get_execution(session, id)


@router.patch("/{id:int}", dependencies=[CHANGE_TEST])
def patch_test_execution(
    id: int, request: TestExecutionsPatchRequest, session: DbSession
) -> TestExecutionResponse:
    return service.patch_execution(session, id, request)


@router.get("/{id}/test-results", dependencies=[VIEW_TEST])
def get_test_results(id: int, session: DbSession) -> list[TestResultResponse]:
    return service.get_results(session, id)


@router.post("/{id}/test-results", dependencies=[CHANGE_TEST])
def post_results(id: int, request: list[TestResultRequest], session: DbSession) -> None:
    results.post_results(session, id, request)


@router.put("/{id}/status_update", dependencies=[CHANGE_TEST])
def put_status_update(id: int, request: StatusUpdateRequest, session: DbSession) -> None:
    service.replace_events(session, id, request.events)


@router.post("/{id}/status_update", dependencies=[CHANGE_TEST])
def post_status_update(id: int, request: StatusUpdateRequest, session: DbSession) -> None:
    service.append_events(session, id, request.events)


@router.get("/{id}/status_update", dependencies=[VIEW_TEST])
def get_status_update(id: int, session: DbSession) -> list[TestEventResponse]:
    return service.get_events(session, id)


@router.post("/{id}/links", dependencies=[CHANGE_TEST])
def post_link(
    id: int, request: TestExecutionRelevantLinkCreate, session: DbSession
) -> RelevantLinkResponse:
    return service.add_link(session, id, request)


@router.delete(
    "/{id}/links/{link_id}", dependencies=[CHANGE_TEST], status_code=status.HTTP_204_NO_CONTENT
)
def delete_link(id: int, link_id: int, session: DbSession) -> Response:
    service.delete_link(session, id, link_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
