"""Searching test results: the search page."""

from typing import Annotated

from fastapi import APIRouter

from test_observer.auth import requires
from test_observer.db.engine import DbSession
from test_observer.db.models import Permission
from test_observer.input_safety import EdgeRoute
from test_observer.pagination import Page, paged
from test_observer.result_filters.query import ResultFilters

from . import service
from .schemas import TestResultSearchResponse

router = APIRouter(prefix="/v1/test-results", tags=["test-results"], route_class=EdgeRoute)


@router.get("", dependencies=[requires(Permission.view_test)])
def search_test_results(
    session: DbSession,
    page: Annotated[Page, paged(default=50, maximum=1000, minimum=0)],
    filters: ResultFilters,
) -> TestResultSearchResponse:
    """Results matching every given filter, newest first."""
    return service.search_results(session, filters, page.limit, page.offset)
