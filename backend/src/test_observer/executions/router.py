"""HTTP layer of the test-execution endpoints: parse, check access, call the service, answer.

Static paths (start-test, end-test, reruns) are declared before `/{id}` ones so they win.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Request, Response, status

from test_observer.auth import requires
from test_observer.auth.access import DbSession
from test_observer.db.models import Permission

from . import results, service, start_test
from .requests import (
    EndTestRequest,
    RelevantLinkCreate,
    StartTestRequest,
    StatusUpdateRequest,
    TestExecutionPatch,
    TestResultRequest,
)
from .schemas import (
    RelevantLinkResponse,
    StartTestResponse,
    TestEventResponse,
    TestExecutionResponse,
    TestResultResponse,
)

router = APIRouter(prefix="/v1/test-executions", tags=["test-executions"])

CHANGE_TEST = requires(Permission.change_test)
VIEW_TEST = requires(Permission.view_test)


@router.put("/start-test", dependencies=[CHANGE_TEST])
def start_test_execution(
    request: Annotated[StartTestRequest, Body()], session: DbSession, http: Request
) -> StartTestResponse:
    execution_id = start_test.start_test(session, request, http.app.state.settings)
    return StartTestResponse(id=execution_id)


@router.put("/end-test", dependencies=[CHANGE_TEST])
def end_test_execution(request: EndTestRequest, session: DbSession) -> None:
    results.end_test(session, request)


@router.get("/{id}", dependencies=[VIEW_TEST])
def get_test_execution(id: int, session: DbSession) -> TestExecutionResponse:
    return service.get_execution(session, id)


@router.patch("/{id}", dependencies=[CHANGE_TEST])
def patch_test_execution(
    id: int, request: TestExecutionPatch, session: DbSession
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
def post_link(id: int, request: RelevantLinkCreate, session: DbSession) -> RelevantLinkResponse:
    return service.add_link(session, id, request)


@router.delete(
    "/{id}/links/{link_id}", dependencies=[CHANGE_TEST], status_code=status.HTTP_204_NO_CONTENT
)
def delete_link(id: int, link_id: int, session: DbSession) -> Response:
    service.delete_link(session, id, link_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
