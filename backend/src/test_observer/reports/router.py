"""CSV reports of test executions and test results over a date range."""

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from test_observer.auth import requires
from test_observer.db.models import Permission
from test_observer.input_safety import EdgeRoute

from . import service

router = APIRouter(prefix="/v1/reports", tags=["reports"], route_class=EdgeRoute)

CSV = "text/csv; charset=utf-8"
START = Annotated[datetime, Query(description="Inclusive start (default: the beginning)")]
END = Annotated[datetime | None, Query(description="Inclusive end (default: now)")]
TEST_PLANS = Annotated[
    list[str] | None, Query(description="Only executions of these test plans (default: all)")
]


def _end(end_date: datetime | None) -> datetime:
    return end_date or datetime.now(UTC).replace(tzinfo=None)


def _csv_response(content: object, filename: str) -> StreamingResponse:
    return StreamingResponse(
        content,  # type: ignore[arg-type]
        media_type=CSV,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get(
    "/test-executions",
    dependencies=[requires(Permission.view_report)],
    response_class=StreamingResponse,
    responses={200: {"content": {CSV: {}}}},
)
def get_test_executions_report(
    request: Request,
    start_date: START = datetime.min,
    end_date: END = None,
    test_plans: TEST_PLANS = None,
) -> StreamingResponse:
    """One row per execution created in the range that has an environment review."""
    query = service.executions_query(start_date, _end(end_date), test_plans)
    return _csv_response(
        service.stream_csv(
            request.app.state.engine,
            service.EXECUTIONS_HEADER,
            query,
            service.format_execution_row,
        ),
        "test_executions_report.csv",
    )


@router.get(
    "/test-results",
    dependencies=[requires(Permission.view_report)],
    response_class=StreamingResponse,
    responses={200: {"content": {CSV: {}}}},
)
def get_testresults_report(
    request: Request,
    start_date: START = datetime.min,
    end_date: END = None,
    test_plans: TEST_PLANS = None,
) -> StreamingResponse:
    """One row per result of the artefacts created in the range."""
    query = service.results_query(start_date, _end(end_date), test_plans)
    return _csv_response(
        service.stream_csv(
            request.app.state.engine, service.RESULTS_HEADER, query, service.format_result_row
        ),
        "testresults_report.csv",
    )
