"""HTTP layer of the test-execution endpoints: parse, check access, call the service, answer.

Static paths (start-test, end-test, reruns) are declared before `/{id}` ones so they win.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query, Request, Response, status
from starlette.formparsers import MultiPartException, MultiPartParser

from test_observer.auth import AppSettings, Principal, requires, requires_for_artefacts
from test_observer.db.engine import DbSession
from test_observer.db.models import FamilyName, Permission
from test_observer.errors import PayloadTooLargeError, UnprocessableError
from test_observer.input_safety import EdgeRoute
from test_observer.pagination import Page, paged
from test_observer.result_filters.parsing import parse_id_filter
from test_observer.result_filters.query import ExecutionFilters, ids_query

from . import junit, reruns, results, search, service, start
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

router = APIRouter(prefix="/v1/test-executions", tags=["test-executions"], route_class=EdgeRoute)

CHANGE_TEST = requires(Permission.change_test)
VIEW_TEST = requires(Permission.view_test)


@router.put("/start-test", dependencies=[CHANGE_TEST])
def start_test_execution(
    request: Annotated[StartTestRequest, Body()], session: DbSession, settings: AppSettings
) -> StartTestResponse:
    execution_id = start.start_test(session, request, settings)
    return StartTestResponse(id=execution_id)


@router.put("/end-test", dependencies=[CHANGE_TEST])
def end_test_execution(
    request: EndTestExecutionRequest, session: DbSession, settings: AppSettings
) -> None:
    results.end_test(session, request, sign=settings.sign_failures)


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


@router.get("", dependencies=[VIEW_TEST])
def search_test_executions(
    session: DbSession,
    filters: ExecutionFilters,
    test_result: Annotated[list[str] | None, ids_query()] = None,
    event_names: Annotated[list[str] | None, Query()] = None,
    page: Page = paged(default=50, maximum=1000, minimum=0),
) -> TestExecutionSearchResponse:
    return search.search_executions(
        session,
        filters,
        test_result=parse_id_filter("test_result", test_result),
        event_names=search.parse_event_names(event_names),
        limit=page.limit,
        offset=page.offset,
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
def post_results(
    id: int, request: list[TestResultRequest], session: DbSession, settings: AppSettings
) -> None:
    results.post_results(session, id, request, sign=settings.sign_failures)


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


async def _bounded_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it is known to exceed `limit` bytes.

    A declared Content-Length is checked before reading anything; a chunked body is read only
    up to the limit.
    """
    too_large = PayloadTooLargeError(
        f"The request body is larger than the limit of {limit} bytes (MAX_UPLOAD_BYTES)"
    )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise too_large
    return bytes(body)


async def _single_chunk(body: bytes) -> AsyncGenerator[bytes, None]:
    yield body


async def _junit_document(request: Request, settings: AppSettings) -> bytes:
    """The uploaded report: the raw body, or the `file` field of a multipart form."""
    body = await _bounded_body(request, settings.max_upload_bytes)
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        return body
    parser = MultiPartParser(request.headers, _single_chunk(body), max_files=1, max_fields=10)
    try:
        form = await parser.parse()
    except MultiPartException as error:
        raise UnprocessableError(f"Invalid multipart body: {error.message}") from None
    try:
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise UnprocessableError("The multipart body needs the report in a file field 'file'")
        return await upload.read()
    finally:
        await form.close()


_JUNIT_BODY = {
    "required": True,
    "content": {
        "application/xml": {"schema": {"type": "string", "format": "binary"}},
        "text/xml": {"schema": {"type": "string", "format": "binary"}},
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {"file": {"type": "string", "format": "binary"}},
                "required": ["file"],
            }
        },
    },
}


@router.post(
    "/{id}/junit",
    dependencies=[CHANGE_TEST],
    openapi_extra={"requestBody": _JUNIT_BODY},
    responses={
        413: {"description": "The body is larger than MAX_UPLOAD_BYTES"},
        422: {"description": "Not a well-formed, safe JUnit XML report; nothing is stored"},
    },
)
def upload_junit(
    id: int,
    session: DbSession,
    document: Annotated[bytes, Depends(_junit_document)],
    settings: AppSettings,
    complete: Annotated[
        bool, Query(description="Also end the execution, with the status end-test would set")
    ] = False,
) -> junit.JUnitUploadResponse:
    """Store the results of a JUnit XML report, as POST test-results stores results."""
    return junit.upload_junit(session, id, document, complete=complete, sign=settings.sign_failures)
